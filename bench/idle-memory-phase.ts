/** The relay bench's memory phase: what each idle connection held open through a fresh proxy (floor, nginx, gateway) costs. */
import { log } from './bench-output';
import { mean } from './cpu-accounting';
import { openIdleConnection, openIdleConnections, runShortConnections } from './load-client';
import { SETTINGS } from './relay-settings';

/** One memory sample of the proxy process that holds the connections. */
export interface MemorySample {
  rss: number;
  /** Live JS heap, for the Node proxies. */
  heapUsed?: number;
  /** Whether a GC ran before the sample (Node proxies started with --expose-gc). */
  collected?: boolean;
}

/** A fresh proxy in front of the upstream, for the idle phase only. */
export interface IdleSubject {
  port: number;
  /** Memory of the process that holds the connections (after a forced GC, for a Node proxy). */
  sample(): Promise<MemorySample>;
  stop(): Promise<void>;
}

export interface IdleSummary {
  label: string;
  connections: number;
  /** Least-squares slope of RSS over the number of open connections, from the first step on (KiB per connection). */
  rssSlopeKiB: number;
  /** (RSS with all open - RSS with none) / connections (KiB per connection). */
  rssEndpointsKiB: number;
  /** The same slope for the live JS heap, for the Node proxies. */
  heapSlopeKiB?: number;
  first: MemorySample;
  last: MemorySample;
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
 * In a fresh proxy (so that the load phases' heap does not hide the growth):
 * warm the connection path, take a baseline (after GC, for Node), then open
 * the idle set in steps with a sample after each. The figure is the slope of
 * RSS over the open-connection count, which a one-off jump (allocator arenas,
 * V8 young generation resizing) moves far less than it moves a single
 * before/after difference. The fit starts at the first step, not at the
 * baseline: the first connections land on pages the warm-up left resident and
 * freed, which makes the baseline-to-first-step rise too small and would bias
 * the slope low.
 */
export async function measureIdleMemory(label: string, start: () => Promise<IdleSubject>, count: number): Promise<IdleSummary> {
  log(`idle connections, ${label}: fresh process, ${count} connections in ${SETTINGS.idleSteps} steps, ${SETTINGS.idleBurst} at a time`);
  const subject = await start();
  try {
    await runShortConnections(subject.port, SETTINGS.idleWarmupWorkers, SETTINGS.idleWarmupMs);
    for (const socket of await openIdleConnections(subject.port, SETTINGS.idleBurst, SETTINGS.idleBurst)) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const open: Awaited<ReturnType<typeof openIdleConnections>> = [];
    const samples: MemorySample[] = [await subject.sample()];
    const counts = [0];
    try {
      for (let step = 1; step <= SETTINGS.idleSteps; step++) {
        const target = Math.round((count * step) / SETTINGS.idleSteps);
        open.push(...(await openIdleConnections(subject.port, target - open.length, SETTINGS.idleBurst)));
        await new Promise((resolve) => setTimeout(resolve, SETTINGS.idleSettleMs));
        samples.push(await subject.sample());
        counts.push(open.length);
      }
      // The relay still works with the idle set open.
      (await openIdleConnection(subject.port)).destroy();
    } finally {
      for (const socket of open) socket.destroy();
    }
    return summarize(label, count, counts, samples);
  } finally {
    await subject.stop();
  }
}

function summarize(label: string, count: number, counts: number[], samples: MemorySample[]): IdleSummary {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const heap = samples.slice(1).map((sample) => sample.heapUsed);
  return {
    label,
    connections: count,
    rssSlopeKiB:
      slope(
        counts.slice(1),
        samples.slice(1).map((sample) => sample.rss),
      ) / 1024,
    rssEndpointsKiB: (last.rss - first.rss) / 1024 / count,
    heapSlopeKiB: heap.every((value) => value !== undefined) ? slope(counts.slice(1), heap as number[]) / 1024 : undefined,
    first,
    last,
  };
}
