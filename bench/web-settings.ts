/** The web bench's parameters, target and upstream body, shared by its processes. */

/** The body every request gets (100 bytes). */
export const WEB_BENCH_BODY = `${'roamgate web bench '.repeat(5)}ok\n`.padEnd(100, '.');

/** What the bench does (durations in ms). */
export const WEB_SETTINGS = {
  /** Requests in flight at once, each worker on its own keep-alive connection. */
  concurrency: 32,
  /** Untimed run per route before measuring, so both are JIT-warm. */
  warmupMs: 1_500,
  /** Measured rounds per route, alternating; short, so that both routes see the machine in the same state. */
  rounds: 8,
  roundMs: 1_000,
  /** A round also ends after this many requests (so a very fast machine does not run unbounded). */
  roundMaxRequests: 200_000,
  /** A request that has no answer by then counts as failed. */
  requestTimeoutMs: 10_000,
  /** The whole run is killed after this long. */
  globalTimeoutMs: 60_000,
} as const;

/** gw.web's rate as a share of the plain route's. */
export const WEB_TARGET_RATIO = 0.9;
