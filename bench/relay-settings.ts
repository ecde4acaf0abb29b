/** The relay bench's parameters and targets, shared by its phases and its report. */

export const MiB = 1024 * 1024;

/** What the bench does. Durations in ms, sizes in bytes. */
export const SETTINGS = {
  /** Concurrent short-connection loops. */
  workers: 50,
  /** Untimed short-connection run per target before measuring, so both are JIT-warm. */
  warmupMs: 1_000,
  /**
   * Measured short-connection rounds per target, each round running direct, floor, floor+duties, nginx, gateway in
   * turn so drift hits all alike, in reverse every other round (an even count puts each target first and last alike).
   */
  rounds: 6,
  roundMs: 2_000,
  /** Bulk upload size per run; runs go round the targets like the rounds and the median of each is reported. */
  bulkBytes: 256 * MiB,
  bulkWarmupBytes: 32 * MiB,
  bulkChunkBytes: 256 * 1024,
  bulkRuns: 5,
  /** Idle connections held open through each proxy for the memory figure (scaled down when the open-file limit is lower). */
  idleConnections: 5_000,
  /** The idle set is opened in this many equal steps, with a memory sample after each. */
  idleSteps: 10,
  /** Connections opened at once while building up the idle set (stays under the 511 accept backlog). */
  idleBurst: 100,
  /** Settle time after each idle step, before its memory sample. */
  idleSettleMs: 100,
  /** Short-connection churn on each fresh idle-phase proxy before its baseline: workers and duration. */
  idleWarmupWorkers: 10,
  idleWarmupMs: 1_000,
  /** The whole run is killed after this long (it takes about 90-100 s with nginx on 2 cores). */
  globalTimeoutMs: 240_000,
} as const;

/** Earlier targets: ratios of the direct figure, and an absolute figure for memory (the floor's targets are in floor-report). */
export const TARGETS = {
  connectionRateRatio: 0.7,
  throughputRatio: 0.45,
  idleKiBPerConnection: 8,
} as const;
