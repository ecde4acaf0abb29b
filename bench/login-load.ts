/**
 * The login bench's load: POP3 sessions that log in and leave (greeting,
 * USER, PASS, STAT, QUIT), run against several paths in interleaved runs,
 * with the CPU time of each path's proxy processes over the runs.
 */
import { performance } from 'node:perf_hooks';
import { scriptedSession } from './load-client';
import { log } from './bench-output';
import type { CpuSource } from './proc-sampler';

/** Concurrent sessions. */
export const LOGIN_WORKERS = 8;
/** An untimed run per path before measuring (ms). */
export const LOGIN_WARMUP_MS = 1_000;
/** Measured runs per path, and how long each lasts (ms). */
export const LOGIN_RUNS = 3;
export const LOGIN_RUN_MS = 3_000;
/** A session that makes no progress for this long fails (ms). */
const SESSION_TIMEOUT_MS = 10_000;

/** One path to dovecot: its port, and the processes whose CPU is the proxy's (none for direct). */
export interface LoginPath {
  label: string;
  port: number;
  cpu: Array<{ name: string; source: CpuSource }>;
}

export interface LoginSummary {
  label: string;
  perSecond: number;
  completed: number;
  failed: number;
  firstError?: string;
  p50: number;
  p99: number;
  /** CPU time of each of the path's proxy processes over the measured runs (µs). */
  cpuMicros: Array<{ name: string; micros: number }>;
  elapsedMs: number;
}

/** One POP3 session: greeting, USER, PASS, STAT, QUIT. Resolves with its duration (ms). */
function session(port: number, user: string, password: string): Promise<number> {
  const script = [`USER ${user}\r\n`, `PASS ${password}\r\n`, 'STAT\r\n', 'QUIT\r\n'];
  let step = -1;
  return scriptedSession(
    port,
    SESSION_TIMEOUT_MS,
    (line, socket) => {
      if (!line.startsWith('+OK')) return void socket.destroy(new Error(`unexpected: ${line}`));
      step++;
      if (step < script.length) socket.write(script[step]!);
    },
    () => step >= script.length,
  );
}

interface RunResult {
  latencies: number[];
  failed: number;
  firstError?: string;
  elapsedMs: number;
}

/** LOGIN_WORKERS loops of sessions back to back for `durationMs`. */
async function runLogins(port: number, durationMs: number, user: string, password: string): Promise<RunResult> {
  const result: RunResult = { latencies: [], failed: 0, elapsedMs: 0 };
  const until = performance.now() + durationMs;
  const worker = async () => {
    while (performance.now() < until) {
      try {
        result.latencies.push(await session(port, user, password));
      } catch (error) {
        result.failed++;
        result.firstError ??= (error as Error).message;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: LOGIN_WORKERS }, worker));
  result.elapsedMs = performance.now() - started;
  return result;
}

const cpuNow = (path: LoginPath) => Promise.all(path.cpu.map(async ({ source }) => (await source.sample(false)).cpuMicros));

/**
 * A warm-up per path, then LOGIN_RUNS runs per path, interleaved (forward
 * order on odd runs, backward on even ones) so that drift hits every path
 * alike. The figures of each path are over all of its runs.
 */
export async function measureLogins(paths: LoginPath[], user: string, password: string): Promise<LoginSummary[]> {
  log(
    `POP3 logins via ${paths.map((path) => path.label).join(', ')}: ${LOGIN_WORKERS} sessions at once, warm-up ${LOGIN_WARMUP_MS} ms, then ${LOGIN_RUNS} x ${LOGIN_RUN_MS} ms per path`,
  );
  for (const path of paths) await runLogins(path.port, LOGIN_WARMUP_MS, user, password);
  const runs: RunResult[][] = paths.map(() => []);
  const cpu: number[][] = paths.map((path) => path.cpu.map(() => 0));
  for (let run = 1; run <= LOGIN_RUNS; run++) {
    const order = paths.map((_, index) => index);
    if (run % 2 === 0) order.reverse();
    for (const index of order) {
      const path = paths[index];
      const before = await cpuNow(path);
      const result = await runLogins(path.port, LOGIN_RUN_MS, user, password);
      const after = await cpuNow(path);
      runs[index].push(result);
      for (const [part, value] of after.entries()) cpu[index][part] += value - before[part];
      log(
        `  run ${run} ${path.label}: ${((1000 * result.latencies.length) / result.elapsedMs).toFixed(0)} logins/s${result.failed ? `, ${result.failed} failed (${result.firstError})` : ''}`,
      );
    }
  }
  return paths.map((path, index) => summarize(path, runs[index], cpu[index]));
}

function summarize(path: LoginPath, runs: RunResult[], cpu: number[]): LoginSummary {
  const latencies = runs.flatMap((run) => run.latencies).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const elapsedMs = runs.reduce((sum, run) => sum + run.elapsedMs, 0);
  return {
    label: path.label,
    perSecond: (1000 * latencies.length) / elapsedMs,
    completed: latencies.length,
    failed: runs.reduce((sum, run) => sum + run.failed, 0),
    firstError: runs.find((run) => run.firstError)?.firstError,
    p50: at(0.5),
    p99: at(0.99),
    cpuMicros: path.cpu.map(({ name }, part) => ({ name, micros: cpu[part] })),
    elapsedMs,
  };
}

/** The path's proxy CPU per login (ms): all its processes' CPU over the runs, per completed login. */
export function cpuPerLoginMs(summary: LoginSummary): number {
  if (summary.cpuMicros.length === 0) return Number.NaN;
  return summary.cpuMicros.reduce((sum, part) => sum + part.micros, 0) / 1000 / summary.completed;
}
