/**
 * Web bench: requests per second and the gateway's CPU per request through `gw.web` against a plain
 * http-proxy-middleware route to the same upstream, in the same gateway process, with the same keep-alive load.
 *
 *   npm run build && node dist/bench/web-bench.js
 *   BENCH_CPU_PROF=/tmp/prof node dist/bench/web-bench.js   (also writes a .cpuprofile of the gateway)
 *
 * Three processes on 127.0.0.1: this one is the load generator; the upstream (web-upstream) and the gateway
 * (web-gateway) are forked children. Rounds alternate the two routes so drift hits both alike. A measurement, not a
 * test: it exits 0 whatever the numbers, 1 only when something crashed or the run overran its time limit.
 */
import { withOldSpaceFloor } from '../bin/heap-tuning';
import { Agent, request } from 'node:http';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { killChildren, startChild, type Child } from './bench-children';
import { fmt, log } from './bench-output';
import { combineShares, cpuMark, cpuShare, describeShare, machineBusyPercent, mean, median, type CpuShare } from './cpu-accounting';
import { WEB_BENCH_BODY, WEB_SETTINGS, WEB_TARGET_RATIO } from './web-settings';

const HOST = '127.0.0.1';
const ROUTES = { plain: '/plain/item', gw: '/gw/item' } as const;
type Route = keyof typeof ROUTES;
const LABELS: Record<Route, string> = { plain: 'plain http-proxy-middleware', gw: 'gw.web' };

interface Round {
  completed: number;
  failed: number;
  firstError?: string;
  elapsedMs: number;
  /** Gateway CPU time over the round (µs). */
  gatewayCpuMicros: number;
  latenciesMs: number[];
  cpu: CpuShare;
}

/** Runs `concurrency` keep-alive request loops against `path` for `ms` (or `maxRequests`); callbacks only, to keep the load cheap. */
function load(port: number, path: string, ms: number, maxRequests: number): Promise<Omit<Round, 'gatewayCpuMicros' | 'cpu'>> {
  const agent = new Agent({ keepAlive: true, maxSockets: WEB_SETTINGS.concurrency });
  const started = performance.now();
  const deadline = started + ms;
  const latenciesMs: number[] = [];
  let completed = 0;
  let failed = 0;
  let issued = 0;
  let firstError: string | undefined;
  return new Promise((resolve) => {
    let running = WEB_SETTINGS.concurrency;
    const next = () => {
      if (performance.now() >= deadline || issued >= maxRequests) {
        if (--running === 0) {
          agent.destroy();
          resolve({ completed, failed, firstError, elapsedMs: performance.now() - started, latenciesMs });
        }
        return;
      }
      issued++;
      const begun = performance.now();
      const fail = (why: string) => {
        failed++;
        firstError ??= why;
        next();
      };
      const req = request({ host: HOST, port, path, agent, timeout: WEB_SETTINGS.requestTimeoutMs }, (res) => {
        let length = 0;
        res.on('data', (chunk: Buffer) => (length += chunk.length));
        res.on('end', () => {
          if (res.statusCode !== 200 || length !== WEB_BENCH_BODY.length) return fail(`status ${res.statusCode}, ${length} bytes`);
          completed++;
          latenciesMs.push(performance.now() - begun);
          next();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => fail(error.message));
      req.end();
    };
    for (let i = 0; i < WEB_SETTINGS.concurrency; i++) next();
  });
}

async function measure(route: Route, upstream: Child, gateway: Child): Promise<Round> {
  const before = await cpuMark(upstream, gateway);
  const result = await load(gateway.port, ROUTES[route], WEB_SETTINGS.roundMs, WEB_SETTINGS.roundMaxRequests);
  const after = await cpuMark(upstream, gateway);
  return { ...result, gatewayCpuMicros: after.gateway! - before.gateway!, cpu: cpuShare(before, after) };
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Summary {
  perSecond: number;
  cpuMicrosPerRequest: number;
  p50: number;
  p99: number;
  failed: number;
  firstError?: string;
  rates: number[];
  cpu: CpuShare;
}

function summarize(rounds: Round[]): Summary {
  const completed = rounds.reduce((sum, round) => sum + round.completed, 0);
  const seconds = rounds.reduce((sum, round) => sum + round.elapsedMs, 0) / 1000;
  const latencies = rounds.flatMap((round) => round.latenciesMs).sort((a, b) => a - b);
  return {
    perSecond: completed / seconds,
    cpuMicrosPerRequest: rounds.reduce((sum, round) => sum + round.gatewayCpuMicros, 0) / Math.max(1, completed),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    failed: rounds.reduce((sum, round) => sum + round.failed, 0),
    firstError: rounds.find((round) => round.firstError)?.firstError,
    rates: rounds.map((round) => (1000 * round.completed) / round.elapsedMs),
    cpu: combineShares(
      rounds.map((round) => round.cpu),
      mean,
    ),
  };
}

function printReport(results: Record<Route, Summary>): void {
  const { plain, gw } = results;
  const ratio = gw.perSecond / plain.perSecond;
  const row = (label: string, r: Summary) =>
    `${label.padEnd(30)}${fmt(r.perSecond).padStart(12)}${fmt(r.cpuMicrosPerRequest).padStart(14)}${fmt(r.p50, 2).padStart(10)}${fmt(r.p99, 2).padStart(10)}${String(r.failed).padStart(8)}`;
  console.log(
    `\nweb bench: GET of a ${WEB_BENCH_BODY.length}-byte body, ${WEB_SETTINGS.concurrency} keep-alive clients, ${WEB_SETTINGS.rounds} rounds of ${WEB_SETTINGS.roundMs / 1000} s per route, alternating`,
  );
  console.log(
    `${''.padEnd(30)}${'requests/s'.padStart(12)}${'gw µs/req'.padStart(14)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'failed'.padStart(8)}`,
  );
  console.log(row(LABELS.plain, plain));
  console.log(row(LABELS.gw, gw));
  const met = ratio >= WEB_TARGET_RATIO ? 'met' : '**missed**';
  // Round i of one route ran next to round i of the other: their ratios, one per pair, are less moved by drift.
  const paired = median(gw.rates.map((rate, i) => rate / plain.rates[i]));
  console.log(
    `${'gw.web / plain'.padEnd(30)}${`${fmt(ratio, 2)}x`.padStart(12)}   target >= ${WEB_TARGET_RATIO}x: ${met} (median of the round-by-round ratios ${fmt(paired, 2)}x)`,
  );
  for (const route of ['plain', 'gw'] as const) {
    const r = results[route];
    console.log(`  ${LABELS[route]}: rounds ${r.rates.map((rate) => fmt(rate)).join(' / ')} req/s; CPU ${describeShare(r.cpu)}`);
    if (r.firstError) console.log(`  ${LABELS[route]}: first failure: ${r.firstError}`);
  }
}

function crash(error: unknown): never {
  console.error('\nweb bench crashed:', error);
  killChildren();
  process.exit(1);
}

async function main(): Promise<void> {
  const began = performance.now();
  const profileDir = process.env.BENCH_CPU_PROF;
  console.log(`roamgate web bench: node ${process.version}, ${availableParallelism()} CPUs, all on 127.0.0.1`);
  const busy = await machineBusyPercent(500);
  if (busy !== undefined && busy > 20) console.log(`  note: other work used ${busy.toFixed(0)}% of one core just before the start`);
  const upstream = await startChild('upstream', 'web-upstream.js', [], [], crash);
  // The gateway process runs as the systemd unit runs it (bin/heap-tuning.ts); both routes are served by it.
  const execArgv = withOldSpaceFloor(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
  const gateway = await startChild('gateway', 'web-gateway.js', [String(upstream.port)], execArgv, crash);
  log(`upstream on port ${upstream.port}, gateway on port ${gateway.port}`);
  for (const route of ['plain', 'gw'] as const) {
    const warm = await load(gateway.port, ROUTES[route], WEB_SETTINGS.warmupMs, WEB_SETTINGS.roundMaxRequests);
    log(`warm-up ${LABELS[route]}: ${warm.completed} requests, ${warm.failed} failed${warm.firstError ? ` (${warm.firstError})` : ''}`);
  }
  const rounds: Record<Route, Round[]> = { plain: [], gw: [] };
  for (let i = 0; i < WEB_SETTINGS.rounds; i++) {
    // Alternate which route goes first, so neither always follows the other.
    for (const route of i % 2 === 0 ? (['plain', 'gw'] as const) : (['gw', 'plain'] as const)) {
      const round = await measure(route, upstream, gateway);
      rounds[route].push(round);
      log(`round ${i + 1} ${LABELS[route]}: ${fmt((1000 * round.completed) / round.elapsedMs)} req/s`);
    }
  }
  await gateway.stop();
  await upstream.stop();
  printReport({ plain: summarize(rounds.plain), gw: summarize(rounds.gw) });
  if (profileDir) console.log(`gateway CPU profile written to ${profileDir}`);
  console.log(`total ${fmt((performance.now() - began) / 1000, 1)} s`);
}

const watchdog = setTimeout(
  () => crash(new Error(`web bench did not finish within ${WEB_SETTINGS.globalTimeoutMs / 1000} s`)),
  WEB_SETTINGS.globalTimeoutMs,
);
watchdog.unref();
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}
process.on('unhandledRejection', crash);
main().then(() => {
  killChildren();
  process.exit(0);
}, crash);
