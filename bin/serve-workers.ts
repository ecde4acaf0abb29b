import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import pino from 'pino';
import type { Logger } from '../plugin/options';
import { readConfigFile } from '../plugin/standalone';
import { withOldSpaceFloor } from './heap-tuning';

/** The environment variable that tells a worker which slot it fills (1..N). */
const SLOT_VARIABLE = 'ROAMGATE_WORKER_SLOT';
/** A worker that lived at least this long before it died is restarted at once (ms). */
const STEADY_MS = 30_000;
/** The longest a worker that keeps dying waits before it is started again (ms). */
const MAX_RESTART_DELAY_MS = 10_000;

/** `--workers N|auto` as a count of worker processes: `auto` is the cores this process may use. */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return 1;
  if (value === 'auto') return availableParallelism();
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 256)
    throw new Error(`--workers must be an integer 1-256 or auto, not ${JSON.stringify(value)}`);
  return count;
}

/** In a worker of `serve --workers N`: the slot it fills (1 answers LAN discovery); undefined in a single process. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const slot = Number(process.env[SLOT_VARIABLE]);
  return Number.isInteger(slot) && slot > 0 ? slot : undefined;
}

/**
 * The primary of `serve --workers N`: starts N worker processes, each a whole
 * gateway on the same config, sharing the listening ports (each worker
 * accepts from the same sockets; the kernel picks which) and the store, whose change feed
 * keeps them in step. Worker 1 starts first (it makes the discovery key when
 * there is none), then the others. A worker that dies is logged and started
 * again, after a pause that grows while it keeps dying. SIGTERM and SIGINT
 * are passed on and the primary exits once every worker has drained; SIGHUP
 * is passed on (each worker reloads).
 */
export function runPrimary(count: number, logger: Logger): Promise<number> {
  // Each worker accepts from the shared socket itself: the primary handing every connection over (Node's round robin)
  // doubled the CPU per short connection in the workers bench. NODE_CLUSTER_SCHED_POLICY=rr asks for round robin.
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
  // The workers relay: they run with V8's old-space floor (bin/heap-tuning.ts), which only a command line can give.
  cluster.setupPrimary({ execArgv: withOldSpaceFloor(process.execArgv) });
  const slots = new Map<Worker, { slot: number; startedAt: number }>();
  const delays = new Map<number, number>();
  let stopping = false;
  const fork = (slot: number): Promise<void> => {
    const worker = cluster.fork({ [SLOT_VARIABLE]: String(slot) });
    slots.set(worker, { slot, startedAt: Date.now() });
    return new Promise((resolve) => {
      worker.once('listening', () => resolve());
      worker.once('exit', () => resolve());
    });
  };
  return new Promise((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      const held = slots.get(worker);
      slots.delete(worker);
      if (!held) return;
      if (stopping) {
        if (slots.size === 0) resolve(0);
        return;
      }
      const lived = Date.now() - held.startedAt;
      const delay = lived >= STEADY_MS ? 0 : Math.min(MAX_RESTART_DELAY_MS, Math.max(250, (delays.get(held.slot) ?? 0) * 2));
      delays.set(held.slot, delay);
      logger.error(
        { event: 'worker-exit', slot: held.slot, pid: worker.process.pid, code, signal, restartInMs: delay },
        `worker ${held.slot} exited (${signal ?? `code ${code}`}); starting it again in ${delay} ms`,
      );
      setTimeout(() => {
        if (!stopping) void fork(held.slot);
      }, delay).unref();
    });
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'stopping', signal, workers: slots.size }, `${signal}: every worker drains and stops`);
      if (slots.size === 0) resolve(0);
      for (const worker of slots.keys()) worker.process.kill(signal);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      for (const worker of slots.keys()) worker.process.kill('SIGHUP');
    });
    void (async () => {
      await fork(1);
      await Promise.all(Array.from({ length: count - 1 }, (_, index) => fork(index + 2)));
      logger.info({ event: 'workers', count }, `${count} workers serving`);
    })();
  });
}

/**
 * `serve --workers N`: in the primary of N > 1 workers, checks the config and
 * runs the workers (resolves to the exit status); in a single process or a
 * worker, undefined (serve on). Throws when the count or the config is wrong.
 */
export function serveWorkersIfAsked(args: string[], file: string): Promise<number> | undefined {
  const at = args.indexOf('--workers');
  const count = parseWorkers(at === -1 ? undefined : args[at + 1]);
  if (count === 1 || cluster.isWorker) return undefined;
  const config = readConfigFile(file);
  const store = config.options.store as { path?: string; url?: unknown } | undefined;
  if (!store || store.path === ':memory:')
    throw new Error('--workers needs a store every worker shares: set store.path (a SQLite file) or store.url (PostgreSQL)');
  return runPrimary(count, pino({ name: 'roamgate', level: config.logLevel }));
}

/** The config as a worker serves it: every worker but the first leaves LAN discovery to the first. */
export function asWorker(config: ReturnType<typeof readConfigFile>): ReturnType<typeof readConfigFile> {
  const slot = workerSlot();
  const discovery = config.options.discovery;
  if (slot === undefined || slot === 1 || !discovery) return config;
  return { ...config, options: { ...config.options, discovery: { ...discovery, answer: false } } };
}
