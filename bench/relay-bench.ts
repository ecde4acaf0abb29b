/**
 * Relay benchmark: the SMTP adapter against the same upstream reached
 * directly, with the same load generator and the same parameters.
 *
 *   npm run bench            (builds, then runs dist/bench/relay-bench.js)
 *   BENCH_CPU_PROF=/tmp/prof npm run bench
 *                            (also writes a .cpuprofile of the gateway child)
 *
 * Three processes, all on 127.0.0.1: this one is the load generator; the
 * upstream (bench-upstream) and the gateway (bench-gateway) are forked
 * children, so neither shares an event loop with the load. It is a
 * measurement, not a test: it exits 0 whatever the numbers, 1 only when
 * something crashed or the whole run overran its time limit.
 * See bench/README.md for what each figure means.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { killChildren, startChild, type Child } from './bench-children';
import type { SampleMessage } from './bench-messages';
import { combineShares, cpuMark, cpuShare, describeShare, machineBusyPercent, mean, median, type CpuShare } from './cpu-accounting';
import { openIdleConnection, openIdleConnections, quantile, runBulkUpload, runShortConnections } from './load-client';
import { startNginxReference } from './nginx-reference';

const MiB = 1024 * 1024;

/** What the bench does. Durations in ms, sizes in bytes. */
const SETTINGS = {
  /** Concurrent short-connection loops. */
  workers: 50,
  /** Untimed short-connection run per target before measuring, so both are JIT-warm. */
  warmupMs: 1_000,
  /** Measured short-connection rounds per target, alternating direct / gateway so drift hits both alike. */
  rounds: 3,
  roundMs: 2_000,
  /** Bulk upload size per run; runs alternate direct / gateway and the median of each is reported. */
  bulkBytes: 256 * MiB,
  bulkWarmupBytes: 32 * MiB,
  bulkChunkBytes: 256 * 1024,
  bulkRuns: 5,
  /** Rounds and bulk runs per target for the nginx reference (when nginx is installed): fewer, it is a yardstick. */
  referenceRounds: 2,
  referenceBulkRuns: 3,
  /** Idle connections held open through the adapter for the memory figure. */
  idleConnections: 2_000,
  /** The idle set is opened in this many equal steps, with a memory sample after each. */
  idleSteps: 10,
  /** Connections opened at once while building up the idle set (stays under the 511 accept backlog). */
  idleBurst: 100,
  /** Settle time after each idle step, before its memory sample. */
  idleSettleMs: 100,
  /** Short-connection churn on the fresh idle-phase gateway before its baseline: workers and duration. */
  idleWarmupWorkers: 10,
  idleWarmupMs: 1_000,
  /** The whole run is killed after this long. */
  globalTimeoutMs: 110_000,
} as const;

/** Targets: ratios of the direct figure, and an absolute figure for memory. */
const TARGETS = {
  connectionRateRatio: 0.7,
  throughputRatio: 0.45,
  idleKiBPerConnection: 8,
} as const;

/** How long the machine is watched before the start, and above what use of one core (%) it is called busy. */
const MACHINE_CHECK_MS = 500;
const BUSY_MACHINE_PERCENT = 20;

/** Descriptors each process needs beyond its sockets (libuv, IPC, stdio, listeners). */
const SPARE_DESCRIPTORS = 200;

type Target = 'direct' | 'gateway';
const TARGET_ORDER: readonly Target[] = ['direct', 'gateway'];

/** The proxied path being measured against direct: the gateway, or the nginx reference. */
interface Via {
  label: string;
  port: number;
  /** Sampled for the CPU figures when it is one of the bench's children. */
  child?: Child;
}

function crash(error: unknown): never {
  console.error('\nbench crashed:', error);
  killChildren();
  process.exit(1);
}

function log(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

const labelOf = (target: Target, via: Via) => (target === 'direct' ? 'direct' : via.label);

const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** The soft limit on open files of this process (children inherit it), or null when unknown. */
function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const value = Number(soft);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

// ---- 1. short connections ----------------------------------------------------

interface ShortSummary {
  rate: number;
  p50: number;
  p99: number;
  completed: number;
  failed: number;
  firstError?: string;
  cpu: CpuShare;
}

async function measureShortConnections(upstream: Child, via: Via, roundCount: number = SETTINGS.rounds): Promise<Record<Target, ShortSummary>> {
  const ports: Record<Target, number> = { direct: upstream.port, gateway: via.port };
  log(`short connections, direct and via ${via.label}: ${SETTINGS.workers} workers, warm-up ${SETTINGS.warmupMs} ms, then ${roundCount} x ${SETTINGS.roundMs} ms per target`);
  for (const target of TARGET_ORDER) await runShortConnections(ports[target], SETTINGS.workers, SETTINGS.warmupMs);
  const rounds: Record<Target, Array<{ completed: number; failed: number; firstError?: string; elapsedMs: number; latencies: Float64Array; cpu: CpuShare }>> = { direct: [], gateway: [] };
  for (let round = 1; round <= roundCount; round++) {
    for (const target of TARGET_ORDER) {
      const through = target === 'gateway' ? via.child : undefined;
      const before = await cpuMark(upstream, through);
      const result = await runShortConnections(ports[target], SETTINGS.workers, SETTINGS.roundMs);
      const after = await cpuMark(upstream, through);
      rounds[target].push({ ...result, latencies: result.latenciesMs, cpu: cpuShare(before, after) });
      log(`  round ${round} ${labelOf(target, via).padEnd(7)} ${fmt((1000 * result.completed) / result.elapsedMs)} conn/s${result.failed ? `, ${result.failed} failed (${result.firstError})` : ''}`);
    }
  }
  const summarize = (list: (typeof rounds)[Target]): ShortSummary => {
    const all = new Float64Array(list.reduce((n, round) => n + round.latencies.length, 0));
    let offset = 0;
    for (const round of list) {
      all.set(round.latencies, offset);
      offset += round.latencies.length;
    }
    all.sort();
    const completed = list.reduce((n, round) => n + round.completed, 0);
    return {
      rate: (1000 * completed) / list.reduce((n, round) => n + round.elapsedMs, 0),
      p50: quantile(all, 0.5),
      p99: quantile(all, 0.99),
      completed,
      failed: list.reduce((n, round) => n + round.failed, 0),
      firstError: list.find((round) => round.firstError)?.firstError,
      cpu: combineShares(
        list.map((round) => round.cpu),
        mean,
      ),
    };
  };
  return { direct: summarize(rounds.direct), gateway: summarize(rounds.gateway) };
}

// ---- 2. bulk upload --------------------------------------------------------------

interface BulkSummary {
  /** Median MiB/s. */
  rate: number;
  runs: number[];
  cpu: CpuShare;
}

async function measureBulk(upstream: Child, via: Via, runCount: number = SETTINGS.bulkRuns): Promise<Record<Target, BulkSummary>> {
  const ports: Record<Target, number> = { direct: upstream.port, gateway: via.port };
  log(`bulk upload, direct and via ${via.label}: ${SETTINGS.bulkBytes / MiB} MiB in ${SETTINGS.bulkChunkBytes / 1024} KiB writes, ${runCount} runs per target`);
  for (const target of TARGET_ORDER) await runBulkUpload(ports[target], SETTINGS.bulkWarmupBytes, SETTINGS.bulkChunkBytes);
  const runs: Record<Target, number[]> = { direct: [], gateway: [] };
  const shares: Record<Target, CpuShare[]> = { direct: [], gateway: [] };
  for (let run = 1; run <= runCount; run++) {
    for (const target of TARGET_ORDER) {
      const through = target === 'gateway' ? via.child : undefined;
      const before = await cpuMark(upstream, through);
      const result = await runBulkUpload(ports[target], SETTINGS.bulkBytes, SETTINGS.bulkChunkBytes);
      const after = await cpuMark(upstream, through);
      shares[target].push(cpuShare(before, after));
      const rate = result.bytes / MiB / (result.elapsedMs / 1000);
      runs[target].push(rate);
      log(`  run ${run} ${labelOf(target, via).padEnd(7)} ${fmt(rate)} MiB/s`);
    }
  }
  const summarize = (target: Target): BulkSummary => ({ rate: median(runs[target]), runs: runs[target], cpu: combineShares(shares[target], median) });
  return { direct: summarize('direct'), gateway: summarize('gateway') };
}

// ---- 3. reference: nginx's stream proxy on the same machine ------------------------

type Reference = { unavailable: string } | { short: Record<Target, ShortSummary>; bulk: Record<Target, BulkSummary> };

/**
 * The same short-connection and bulk measurements with nginx's stream proxy
 * in the gateway's place, when nginx is installed: what a proxy in C gets on
 * this machine, beside the targets (which were set from nginx's figures).
 */
async function measureReference(upstream: Child): Promise<Reference> {
  const nginx = await startNginxReference(upstream.port);
  if ('unavailable' in nginx) {
    log(`reference: skipped (${nginx.unavailable})`);
    return nginx;
  }
  try {
    const via: Via = { label: 'nginx', port: nginx.port };
    return { short: await measureShortConnections(upstream, via, SETTINGS.referenceRounds), bulk: await measureBulk(upstream, via, SETTINGS.referenceBulkRuns) };
  } finally {
    await nginx.stop();
  }
}

// ---- 4. memory per idle connection -------------------------------------------------

interface IdleSummary {
  connections: number;
  /** Least-squares slope of RSS over the number of open connections, from the first step on (KiB per connection). */
  rssSlopeKiB: number;
  /** (RSS with all open - RSS with none) / connections (KiB per connection). */
  rssEndpointsKiB: number;
  heapSlopeKiB: number;
  first: SampleMessage;
  last: SampleMessage;
}

/** Least-squares slope of ys over xs. */
function slope(xs: number[], ys: number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < xs.length; i++) {
    covariance += (xs[i] - mx) * (ys[i] - my);
    variance += (xs[i] - mx) ** 2;
  }
  return covariance / variance;
}

/**
 * In a fresh gateway (so that the load phases' heap does not hide the growth):
 * warm the connection path, take a baseline after GC, then open the idle set in
 * steps with a GC'd sample after each. The figure is the slope of RSS over the
 * open-connection count, which a one-off jump (allocator arenas, V8 young
 * generation resizing) moves far less than it moves a single before/after
 * difference. The fit starts at the first step, not at the baseline: the
 * first connections land on pages the warm-up left resident and freed, which
 * makes the baseline-to-first-step rise too small and would bias the slope low.
 */
async function measureIdleMemory(upstreamPort: number, count: number): Promise<IdleSummary> {
  log(`idle connections: fresh gateway, ${count} connections in ${SETTINGS.idleSteps} steps, ${SETTINGS.idleBurst} at a time`);
  const gateway = await startChild('idle-phase gateway', 'bench-gateway.js', [String(upstreamPort)], ['--expose-gc'], crash);
  await runShortConnections(gateway.port, SETTINGS.idleWarmupWorkers, SETTINGS.idleWarmupMs);
  for (const socket of await openIdleConnections(gateway.port, SETTINGS.idleBurst, SETTINGS.idleBurst)) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 200));

  const open: Awaited<ReturnType<typeof openIdleConnections>> = [];
  const samples: SampleMessage[] = [await gateway.sample(true)];
  const counts = [0];
  for (let step = 1; step <= SETTINGS.idleSteps; step++) {
    const target = Math.round((count * step) / SETTINGS.idleSteps);
    open.push(...(await openIdleConnections(gateway.port, target - open.length, SETTINGS.idleBurst)));
    await new Promise((resolve) => setTimeout(resolve, SETTINGS.idleSettleMs));
    samples.push(await gateway.sample(true));
    counts.push(open.length);
  }
  // The relay still works with the idle set open.
  (await openIdleConnection(gateway.port)).destroy();
  for (const socket of open) socket.destroy();
  await gateway.stop();

  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    connections: count,
    rssSlopeKiB: slope(counts.slice(1), samples.slice(1).map((sample) => sample.rss)) / 1024,
    rssEndpointsKiB: (last.rss - first.rss) / 1024 / count,
    heapSlopeKiB: slope(counts.slice(1), samples.slice(1).map((sample) => sample.heapUsed)) / 1024,
    first,
    last,
  };
}

// ---- report ----------------------------------------------------------------------

function printReport(short: Record<Target, ShortSummary>, bulk: Record<Target, BulkSummary>, idle: IdleSummary, reference: Reference): void {
  const connRatio = short.gateway.rate / short.direct.rate;
  const bulkRatio = bulk.gateway.rate / bulk.direct.rate;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const rows: string[][] = [
    ['', 'direct', 'via gateway', 'ratio', 'target', ''],
    ['short connections (conn/s)', fmt(short.direct.rate), fmt(short.gateway.rate), `${fmt(connRatio, 2)}x`, `>= ${TARGETS.connectionRateRatio}x`, verdict(connRatio >= TARGETS.connectionRateRatio)],
    ['  connection p50 (ms)', fmt(short.direct.p50, 2), fmt(short.gateway.p50, 2), '', '', ''],
    ['  connection p99 (ms)', fmt(short.direct.p99, 2), fmt(short.gateway.p99, 2), '', '', ''],
    ['  failed connections', String(short.direct.failed), String(short.gateway.failed), '', '', ''],
    ['bulk upload (MiB/s)', fmt(bulk.direct.rate), fmt(bulk.gateway.rate), `${fmt(bulkRatio, 2)}x`, `>= ${TARGETS.throughputRatio}x`, verdict(bulkRatio >= TARGETS.throughputRatio)],
    ['idle connection RSS (KiB/conn)', '', fmt(idle.rssSlopeKiB, 2), '', `<= ${TARGETS.idleKiBPerConnection}`, verdict(idle.rssSlopeKiB <= TARGETS.idleKiBPerConnection)],
    ['  RSS, first to last sample', '', fmt(idle.rssEndpointsKiB, 2), '', '', ''],
    ['  of which live JS heap', '', fmt(idle.heapSlopeKiB, 2), '', '', ''],
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  console.log('');
  for (const row of rows) console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ').trimEnd());
  console.log('');
  console.log(`short connections: ${SETTINGS.workers} workers, ${SETTINGS.rounds} x ${SETTINGS.roundMs / 1000} s per target; ${short.direct.completed} direct, ${short.gateway.completed} via gateway`);
  const firstError = short.direct.firstError ?? short.gateway.firstError;
  if (firstError) console.log(`  first failure: ${firstError}`);
  for (const target of TARGET_ORDER) console.log(`  CPU, ${target.padEnd(7)} (% of one core): ${describeShare(short[target].cpu)}`);
  console.log(`bulk upload: ${SETTINGS.bulkBytes / MiB} MiB client -> upstream (discarded there), median of ${SETTINGS.bulkRuns}; runs: direct ${bulk.direct.runs.map((r) => fmt(r)).join('/')}, gateway ${bulk.gateway.runs.map((r) => fmt(r)).join('/')} MiB/s`);
  for (const target of TARGET_ORDER) console.log(`  CPU, ${target.padEnd(7)} (% of one core): ${describeShare(bulk[target].cpu)}`);
  if ('unavailable' in reference) console.log(`reference, nginx stream proxy: not measured (${reference.unavailable})`);
  else {
    const ratio = (figures: Record<Target, { rate: number }>) => `${fmt(figures.gateway.rate / figures.direct.rate, 2)}x`;
    console.log(
      `reference, nginx stream proxy (1 worker) in the gateway's place, same load: short connections ${fmt(reference.short.gateway.rate)} conn/s against ${fmt(reference.short.direct.rate)} direct (${ratio(reference.short)}); ` +
        `bulk ${fmt(reference.bulk.gateway.rate)} MiB/s against ${fmt(reference.bulk.direct.rate)} direct (${ratio(reference.bulk)})`,
    );
  }
  const mib = (bytes: number) => fmt(bytes / MiB, 1);
  console.log(
    `idle: ${idle.connections} connections, slope over the ${SETTINGS.idleSteps} samples after the baseline, each after GC (${idle.last.collected ? 'forced' : 'NOT forced, no --expose-gc'}); ` +
      `gateway RSS ${mib(idle.first.rss)} -> ${mib(idle.last.rss)} MiB, JS heap used ${mib(idle.first.heapUsed)} -> ${mib(idle.last.heapUsed)} MiB`,
  );
}

async function main(): Promise<void> {
  const began = performance.now();
  const profileDir = process.env.BENCH_CPU_PROF;
  const gatewayExecArgv = ['--expose-gc', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];

  const limit = openFileLimit();
  // The gateway holds two descriptors per relayed connection; the others one each.
  const affordable = limit === null ? 1000 : Math.floor((limit - SPARE_DESCRIPTORS) / 2);
  const idleCount = Math.max(SETTINGS.idleSteps * 10, Math.min(SETTINGS.idleConnections, affordable));

  console.log(`roamgate relay bench: node ${process.version}, ${availableParallelism()} CPUs, open-file limit ${limit ?? 'unknown'}, all on 127.0.0.1`);
  const busy = await machineBusyPercent(MACHINE_CHECK_MS);
  if (busy !== undefined && busy > BUSY_MACHINE_PERCENT) {
    console.log(`  note: other work used ${busy.toFixed(0)}% of one core just before the start; the figures will be noisier (see "other processes" below)`);
  }
  if (idleCount < SETTINGS.idleConnections) {
    console.log(`  note: open-file limit ${limit ?? 'unknown'} is below ${2 * SETTINGS.idleConnections + SPARE_DESCRIPTORS}; idle phase scaled down to ${idleCount} connections (raise with \`ulimit -n 8192\` before npm run bench)`);
  }

  const upstream = await startChild('upstream', 'bench-upstream.js', [], [], crash);
  const gateway = await startChild('gateway', 'bench-gateway.js', [String(upstream.port)], gatewayExecArgv, crash);
  log(`upstream on port ${upstream.port}, gateway SMTP adapter on port ${gateway.port}`);

  const viaGateway: Via = { label: 'gateway', port: gateway.port, child: gateway };
  const short = await measureShortConnections(upstream, viaGateway);
  const bulk = await measureBulk(upstream, viaGateway);
  await gateway.stop();
  const reference = await measureReference(upstream);
  const idle = await measureIdleMemory(upstream.port, idleCount);
  await upstream.stop();

  printReport(short, bulk, idle, reference);
  if (profileDir) console.log(`gateway CPU profile (short-connection and bulk phases) written to ${profileDir}`);
  console.log(`total ${fmt((performance.now() - began) / 1000, 1)} s`);
}

const watchdog = setTimeout(() => crash(new Error(`bench did not finish within ${SETTINGS.globalTimeoutMs / 1000} s`)), SETTINGS.globalTimeoutMs);
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
