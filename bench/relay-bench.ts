/**
 * Relay benchmark: the SMTP adapter against the same upstream reached
 * directly, with the same load generator and the same parameters.
 *
 *   npm run bench            (builds, then runs dist/bench/relay-bench.js)
 *   BENCH_CPU_PROF=/tmp/prof npm run bench
 *                            (also writes a .cpuprofile of the gateway child)
 *
 * All on 127.0.0.1: this process is the load generator; the upstream
 * (bench-upstream), Node's floor (bench-floor) and the gateway (bench-gateway)
 * are forked children, and nginx's stream proxy is spawned when installed, so
 * none shares an event loop with the load. Direct and the three proxies are
 * measured in the same interleaved rounds. It is a measurement, not a test: it
 * exits 0 whatever the numbers, 1 only when something crashed or the whole run
 * overran its time limit.
 * See bench/README.md for what each figure means.
 */
import { OLD_SPACE_FLOOR_MB, withOldSpaceFloor } from '../bin/heap-tuning';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { killChildren, startChild } from './bench-children';
import { fmt, log } from './bench-output';
import { machineBusyPercent } from './cpu-accounting';
import { measureIdleMemory } from './idle-memory-phase';
import { measureBulkInterleaved, measureShortConnectionsInterleaved } from './relay-load-phases';
import { idleSubjects, startProxies } from './relay-proxies';
import type { PathResult } from './floor-report';
import { printReport } from './relay-report';
import { SETTINGS } from './relay-settings';

/** How long the machine is watched before the start, and above what use of one core (%) it is called busy. */
const MACHINE_CHECK_MS = 500;
const BUSY_MACHINE_PERCENT = 20;

/** Descriptors each process needs beyond its sockets (libuv, IPC, stdio, listeners). */
const SPARE_DESCRIPTORS = 200;

function crash(error: unknown): never {
  console.error('\nbench crashed:', error);
  killChildren();
  process.exit(1);
}

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

async function main(): Promise<void> {
  const began = performance.now();
  const profileDir = process.env.BENCH_CPU_PROF;
  // The gateway runs as the systemd unit and `serve --workers` run it: with V8's old-space floor (bin/heap-tuning.ts).
  const gatewayExecArgv = withOldSpaceFloor(['--expose-gc', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]);

  const limit = openFileLimit();
  // A proxy holds two descriptors per relayed connection; the others one each.
  const affordable = limit === null ? 1000 : Math.floor((limit - SPARE_DESCRIPTORS) / 2);
  const idleCount = Math.max(SETTINGS.idleSteps * 10, Math.min(SETTINGS.idleConnections, affordable));

  console.log(
    `roamgate relay bench: node ${process.version}, ${availableParallelism()} CPUs, open-file limit ${limit ?? 'unknown'}, all on 127.0.0.1`,
  );
  // Every process of the bench inherits it: the bulk figures of Node relays depend on it (bench/README.md).
  console.log(`  GLIBC_TUNABLES: ${process.env.GLIBC_TUNABLES ? process.env.GLIBC_TUNABLES : "unset (glibc's default heap trimming)"}`);
  console.log(
    `  the gateway raises glibc's trim threshold itself at start, as \`roamgate serve\` does, and runs with --initial-old-space-size=${OLD_SPACE_FLOOR_MB} as the systemd unit and \`serve --workers\` run it (bin/heap-tuning.ts); the floor does neither`,
  );
  const busy = await machineBusyPercent(MACHINE_CHECK_MS);
  if (busy !== undefined && busy > BUSY_MACHINE_PERCENT) {
    console.log(
      `  note: other work used ${busy.toFixed(0)}% of one core just before the start; the figures will be noisier (see "other processes" below)`,
    );
  }
  if (idleCount < SETTINGS.idleConnections) {
    console.log(
      `  note: open-file limit ${limit ?? 'unknown'} is below ${2 * SETTINGS.idleConnections + SPARE_DESCRIPTORS}; idle phase scaled down to ${idleCount} connections (raise with \`ulimit -n 16384\` before npm run bench)`,
    );
  }

  const upstream = await startChild('upstream', 'bench-upstream.js', [], [], crash);
  const { proxies, nginxUnavailable } = await startProxies(upstream.port, gatewayExecArgv, crash);
  log(`upstream on port ${upstream.port}; ${proxies.map((proxy) => `${proxy.label} on port ${proxy.port}`).join(', ')}`);
  if (nginxUnavailable) log(`nginx: skipped (${nginxUnavailable})`);

  const short = await measureShortConnectionsInterleaved(upstream, proxies);
  const bulk = await measureBulkInterleaved(upstream, proxies);
  for (const proxy of proxies) await proxy.stop();
  const results: PathResult[] = proxies.map((proxy, index) => ({
    label: proxy.label,
    short: short.through[index]!,
    bulk: bulk.through[index]!,
  }));
  for (const subject of idleSubjects(upstream.port, nginxUnavailable === undefined, crash)) {
    const result = results.find((path) => path.label === subject.label);
    if (result) result.idle = await measureIdleMemory(subject.label, subject.start, idleCount);
  }
  await upstream.stop();

  printReport({ direct: { label: 'direct', short: short.direct, bulk: bulk.direct }, proxies: results, nginxUnavailable });
  if (profileDir) console.log(`gateway CPU profile (short-connection and bulk phases) written to ${profileDir}`);
  console.log(`total ${fmt((performance.now() - began) / 1000, 1)} s`);
}

const watchdog = setTimeout(
  () => crash(new Error(`bench did not finish within ${SETTINGS.globalTimeoutMs / 1000} s`)),
  SETTINGS.globalTimeoutMs,
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
