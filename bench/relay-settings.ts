/** The relay bench's parameters and targets, shared by its phases and its report. */

export const MiB = 1024 * 1024;

/** What the bench does. Durations in ms, sizes in bytes. */
export const SETTINGS = {
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
export const TARGETS = {
  connectionRateRatio: 0.7,
  throughputRatio: 0.45,
  idleKiBPerConnection: 8,
} as const;

export type Target = 'direct' | 'gateway';
export const TARGET_ORDER: readonly Target[] = ['direct', 'gateway'];
