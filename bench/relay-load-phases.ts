/**
 * The relay bench's load phases: short connections and bulk upload, each
 * measured directly and through a proxy (the gateway, or the nginx reference).
 */
import type { Child } from './bench-children';
import { fmt, log } from './bench-output';
import { combineShares, cpuMark, cpuShare, mean, median, type CpuShare } from './cpu-accounting';
import { quantile, runBulkUpload, runShortConnections } from './load-client';
import { startNginxReference } from './nginx-reference';
import { MiB, SETTINGS, TARGET_ORDER, type Target } from './relay-settings';

/** The proxied path being measured against direct: the gateway, or the nginx reference. */
export interface Via {
  label: string;
  port: number;
  /** Sampled for the CPU figures when it is one of the bench's children. */
  child?: Child;
}

const labelOf = (target: Target, via: Via) => (target === 'direct' ? 'direct' : via.label);

// ---- 1. short connections ----------------------------------------------------

export interface ShortSummary {
  rate: number;
  p50: number;
  p99: number;
  completed: number;
  failed: number;
  firstError?: string;
  cpu: CpuShare;
}

export async function measureShortConnections(
  upstream: Child,
  via: Via,
  roundCount: number = SETTINGS.rounds,
): Promise<Record<Target, ShortSummary>> {
  const ports: Record<Target, number> = { direct: upstream.port, gateway: via.port };
  log(
    `short connections, direct and via ${via.label}: ${SETTINGS.workers} workers, warm-up ${SETTINGS.warmupMs} ms, then ${roundCount} x ${SETTINGS.roundMs} ms per target`,
  );
  for (const target of TARGET_ORDER) await runShortConnections(ports[target], SETTINGS.workers, SETTINGS.warmupMs);
  const rounds: Record<
    Target,
    Array<{ completed: number; failed: number; firstError?: string; elapsedMs: number; latencies: Float64Array; cpu: CpuShare }>
  > = { direct: [], gateway: [] };
  for (let round = 1; round <= roundCount; round++) {
    for (const target of TARGET_ORDER) {
      const through = target === 'gateway' ? via.child : undefined;
      const before = await cpuMark(upstream, through);
      const result = await runShortConnections(ports[target], SETTINGS.workers, SETTINGS.roundMs);
      const after = await cpuMark(upstream, through);
      rounds[target].push({ ...result, latencies: result.latenciesMs, cpu: cpuShare(before, after) });
      log(
        `  round ${round} ${labelOf(target, via).padEnd(7)} ${fmt((1000 * result.completed) / result.elapsedMs)} conn/s${result.failed ? `, ${result.failed} failed (${result.firstError})` : ''}`,
      );
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

export interface BulkSummary {
  /** Median MiB/s. */
  rate: number;
  runs: number[];
  cpu: CpuShare;
}

export async function measureBulk(upstream: Child, via: Via, runCount: number = SETTINGS.bulkRuns): Promise<Record<Target, BulkSummary>> {
  const ports: Record<Target, number> = { direct: upstream.port, gateway: via.port };
  log(
    `bulk upload, direct and via ${via.label}: ${SETTINGS.bulkBytes / MiB} MiB in ${SETTINGS.bulkChunkBytes / 1024} KiB writes, ${runCount} runs per target`,
  );
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
  const summarize = (target: Target): BulkSummary => ({
    rate: median(runs[target]),
    runs: runs[target],
    cpu: combineShares(shares[target], median),
  });
  return { direct: summarize('direct'), gateway: summarize('gateway') };
}

// ---- 3. reference: nginx's stream proxy on the same machine ------------------------

export type Reference = { unavailable: string } | { short: Record<Target, ShortSummary>; bulk: Record<Target, BulkSummary> };

/**
 * The same short-connection and bulk measurements with nginx's stream proxy
 * in the gateway's place, when nginx is installed: what a proxy in C gets on
 * this machine, beside the targets (which were set from nginx's figures).
 */
export async function measureReference(upstream: Child): Promise<Reference> {
  const nginx = await startNginxReference(upstream.port);
  if ('unavailable' in nginx) {
    log(`reference: skipped (${nginx.unavailable})`);
    return nginx;
  }
  try {
    const via: Via = { label: 'nginx', port: nginx.port };
    return {
      short: await measureShortConnections(upstream, via, SETTINGS.referenceRounds),
      bulk: await measureBulk(upstream, via, SETTINGS.referenceBulkRuns),
    };
  } finally {
    await nginx.stop();
  }
}
