/**
 * The relay bench's load phases: short connections and bulk upload, each
 * measured directly and through a proxy (the gateway, or the nginx reference).
 */
import type { Child } from './bench-children';
import { fmt, log } from './bench-output';
import { combineShares, cpuMark, cpuShare, mean, median, type CpuShare } from './cpu-accounting';
import { quantile, runBulkUpload, runShortConnections } from './load-client';
import { startNginxReference } from './nginx-reference';
import { MiB, SETTINGS, type Target } from './relay-settings';

/** The proxied path being measured against direct: the gateway, or the nginx reference. */
export interface Via {
  label: string;
  port: number;
  /** Sampled for the CPU figures when it is one of the bench's children. */
  child?: Child;
}

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

/** One round's figures of one target. */
type ShortRound = { completed: number; failed: number; firstError?: string; elapsedMs: number; latencies: Float64Array; cpu: CpuShare };

/** Direct and through `via`: the figures of each, as `{ direct, gateway }` (the gateway side is `via`). */
export async function measureShortConnections(
  upstream: Child,
  via: Via,
  roundCount: number = SETTINGS.rounds,
): Promise<Record<Target, ShortSummary>> {
  const { direct, through } = await measureShortConnectionsInterleaved(upstream, [via], roundCount);
  return { direct, gateway: through[0]! };
}

/**
 * Short connections direct and through each of `vias`, interleaved: each round runs direct, then every via in
 * turn, so that drift on the machine hits all of them alike. Returns direct's figures and each via's, in order.
 */
export async function measureShortConnectionsInterleaved(
  upstream: Child,
  vias: readonly Via[],
  roundCount: number = SETTINGS.rounds,
): Promise<{ direct: ShortSummary; through: ShortSummary[] }> {
  const targets: Array<{ label: string; port: number; child?: Child }> = [{ label: 'direct', port: upstream.port }, ...vias];
  log(
    `short connections, direct and via ${vias.map((via) => via.label).join(', ')}: ${SETTINGS.workers} workers, warm-up ${SETTINGS.warmupMs} ms, then ${roundCount} x ${SETTINGS.roundMs} ms per target`,
  );
  for (const target of targets) await runShortConnections(target.port, SETTINGS.workers, SETTINGS.warmupMs);
  const rounds: ShortRound[][] = targets.map(() => []);
  for (let round = 1; round <= roundCount; round++) {
    for (const [index, target] of targets.entries()) {
      const before = await cpuMark(upstream, target.child);
      const result = await runShortConnections(target.port, SETTINGS.workers, SETTINGS.roundMs);
      const after = await cpuMark(upstream, target.child);
      rounds[index]!.push({ ...result, latencies: result.latenciesMs, cpu: cpuShare(before, after) });
      log(
        `  round ${round} ${target.label.padEnd(7)} ${fmt((1000 * result.completed) / result.elapsedMs)} conn/s${result.failed ? `, ${result.failed} failed (${result.firstError})` : ''}`,
      );
    }
  }
  const [direct, ...through] = rounds.map(summarizeShort);
  return { direct: direct!, through };
}

function summarizeShort(list: ShortRound[]): ShortSummary {
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
}

// ---- 2. bulk upload --------------------------------------------------------------

export interface BulkSummary {
  /** Median MiB/s. */
  rate: number;
  runs: number[];
  cpu: CpuShare;
}

/** Direct and through `via`: the figures of each, as `{ direct, gateway }` (the gateway side is `via`). */
export async function measureBulk(upstream: Child, via: Via, runCount: number = SETTINGS.bulkRuns): Promise<Record<Target, BulkSummary>> {
  const { direct, through } = await measureBulkInterleaved(upstream, [via], runCount);
  return { direct, gateway: through[0]! };
}

/** Bulk uploads direct and through each of `vias`, interleaved run by run; the median of each. */
export async function measureBulkInterleaved(
  upstream: Child,
  vias: readonly Via[],
  runCount: number = SETTINGS.bulkRuns,
): Promise<{ direct: BulkSummary; through: BulkSummary[] }> {
  const targets: Array<{ label: string; port: number; child?: Child }> = [{ label: 'direct', port: upstream.port }, ...vias];
  log(
    `bulk upload, direct and via ${vias.map((via) => via.label).join(', ')}: ${SETTINGS.bulkBytes / MiB} MiB in ${SETTINGS.bulkChunkBytes / 1024} KiB writes, ${runCount} runs per target`,
  );
  for (const target of targets) await runBulkUpload(target.port, SETTINGS.bulkWarmupBytes, SETTINGS.bulkChunkBytes);
  const runs: number[][] = targets.map(() => []);
  const shares: CpuShare[][] = targets.map(() => []);
  for (let run = 1; run <= runCount; run++) {
    for (const [index, target] of targets.entries()) {
      const before = await cpuMark(upstream, target.child);
      const result = await runBulkUpload(target.port, SETTINGS.bulkBytes, SETTINGS.bulkChunkBytes);
      const after = await cpuMark(upstream, target.child);
      shares[index]!.push(cpuShare(before, after));
      const rate = result.bytes / MiB / (result.elapsedMs / 1000);
      runs[index]!.push(rate);
      log(`  run ${run} ${target.label.padEnd(7)} ${fmt(rate)} MiB/s`);
    }
  }
  const [direct, ...through] = targets.map((_, index) => ({
    rate: median(runs[index]!),
    runs: runs[index]!,
    cpu: combineShares(shares[index]!, median),
  }));
  return { direct: direct!, through };
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
