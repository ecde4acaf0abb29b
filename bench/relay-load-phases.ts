/**
 * The relay bench's load phases: short connections and bulk upload, each
 * measured directly and through every proxy (Node's floor, nginx, the
 * gateway) in the same rounds.
 */
import type { Child } from './bench-children';
import { fmt, log } from './bench-output';
import { combineShares, cpuMark, cpuShare, mean, median, type CpuShare } from './cpu-accounting';
import { quantile, runBulkUpload, runShortConnections } from './load-client';
import type { CpuSource } from './proc-sampler';
import { MiB, SETTINGS } from './relay-settings';

/** A proxied path measured against direct: the floor, nginx, or the gateway. */
export interface Via {
  label: string;
  port: number;
  /** The proxy's processes, sampled for its CPU figures (a forked child over IPC, nginx from /proc). */
  cpu?: CpuSource;
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

/**
 * Short connections direct and through each of `vias`, interleaved: each round runs direct, then every via in
 * turn (the next round the other way round), so that drift on the machine hits all of them alike. Returns
 * direct's figures and each via's, in order.
 */
export async function measureShortConnectionsInterleaved(
  upstream: Child,
  vias: readonly Via[],
  roundCount: number = SETTINGS.rounds,
): Promise<{ direct: ShortSummary; through: ShortSummary[] }> {
  const targets: Via[] = [{ label: 'direct', port: upstream.port }, ...vias];
  log(
    `short connections, direct and via ${vias.map((via) => via.label).join(', ')}: ${SETTINGS.workers} workers, warm-up ${SETTINGS.warmupMs} ms, then ${roundCount} x ${SETTINGS.roundMs} ms per target`,
  );
  for (const target of targets) await runShortConnections(target.port, SETTINGS.workers, SETTINGS.warmupMs);
  const rounds: ShortRound[][] = targets.map(() => []);
  for (let round = 1; round <= roundCount; round++) {
    // Every other round runs the targets in reverse: whichever runs last in a round meets the TIME_WAIT sockets the others
    // just left on the upstream's port, and no target should always be that one.
    const order = round % 2 === 1 ? [...targets.keys()] : [...targets.keys()].reverse();
    for (const index of order) {
      const target = targets[index]!;
      const before = await cpuMark(upstream, target.cpu);
      const result = await runShortConnections(target.port, SETTINGS.workers, SETTINGS.roundMs);
      const after = await cpuMark(upstream, target.cpu);
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
  /**
   * The proxy's CPU seconds per GiB: each run's own (its CPU over its bytes), then the median of the runs. Not the
   * median share over the median rate, which may come from different runs when rates spread 2x within one invocation.
   */
  cpuPerGiB?: number;
}

/** Bulk uploads direct and through each of `vias`, interleaved run by run; the median of each. */
export async function measureBulkInterleaved(
  upstream: Child,
  vias: readonly Via[],
  runCount: number = SETTINGS.bulkRuns,
): Promise<{ direct: BulkSummary; through: BulkSummary[] }> {
  const targets: Via[] = [{ label: 'direct', port: upstream.port }, ...vias];
  log(
    `bulk upload, direct and via ${vias.map((via) => via.label).join(', ')}: ${SETTINGS.bulkBytes / MiB} MiB in ${SETTINGS.bulkChunkBytes / 1024} KiB writes, ${runCount} runs per target`,
  );
  for (const target of targets) await runBulkUpload(target.port, SETTINGS.bulkWarmupBytes, SETTINGS.bulkChunkBytes);
  const runs: number[][] = targets.map(() => []);
  const shares: CpuShare[][] = targets.map(() => []);
  for (let run = 1; run <= runCount; run++) {
    for (const [index, target] of targets.entries()) {
      const before = await cpuMark(upstream, target.cpu);
      const result = await runBulkUpload(target.port, SETTINGS.bulkBytes, SETTINGS.bulkChunkBytes);
      const after = await cpuMark(upstream, target.cpu);
      shares[index]!.push(cpuShare(before, after));
      const rate = result.bytes / MiB / (result.elapsedMs / 1000);
      runs[index]!.push(rate);
      log(`  run ${run} ${target.label.padEnd(7)} ${fmt(rate)} MiB/s`);
    }
  }
  const [direct, ...through] = targets.map((_, index) => {
    const perGiB = shares[index]!.flatMap((share, run) =>
      share.gateway === undefined ? [] : [(share.gateway / 100) * (1024 / runs[index]![run]!)],
    );
    return {
      rate: median(runs[index]!),
      runs: runs[index]!,
      cpu: combineShares(shares[index]!, median),
      ...(perGiB.length > 0 ? { cpuPerGiB: median(perGiB) } : {}),
    };
  });
  return { direct: direct!, through };
}
