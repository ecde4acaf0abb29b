/** The relay bench's memory phase: what each idle connection held open through a fresh gateway costs. */
import { startChild } from './bench-children';
import type { SampleMessage } from './bench-messages';
import { log } from './bench-output';
import { mean } from './cpu-accounting';
import { openIdleConnection, openIdleConnections, runShortConnections } from './load-client';
import { SETTINGS } from './relay-settings';

export interface IdleSummary {
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
export async function measureIdleMemory(upstreamPort: number, count: number, crash: (error: Error) => void): Promise<IdleSummary> {
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
    rssSlopeKiB:
      slope(
        counts.slice(1),
        samples.slice(1).map((sample) => sample.rss),
      ) / 1024,
    rssEndpointsKiB: (last.rss - first.rss) / 1024 / count,
    heapSlopeKiB:
      slope(
        counts.slice(1),
        samples.slice(1).map((sample) => sample.heapUsed),
      ) / 1024,
    first,
    last,
  };
}
