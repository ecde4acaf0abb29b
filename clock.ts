/**
 * What time it is, asked of one object so that a test can set it: every
 * expiry decision (a lease, a registration, a login session, a remembered
 * login, a rate window) reads a Clock rather than Date.now() or
 * performance.now(). Timers stay Node's own; only the reading of the time
 * is injected. Code that merely stamps a record (a duration, an audit
 * time) may read Date.now() directly.
 */
export interface Clock {
  /** Wall-clock time, ms since the epoch: for instants that are stored, sent, or compared with stored ones (an `expiresAt`). */
  now(): number;
  /** Elapsed time, ms from an arbitrary origin, never set back: for windows kept only in memory (rate limits, cache TTLs). */
  monotonic(): number;
}

/** The process's clock. Reads the globals at each call, so jest's fake timers still move it. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
});

/** A clock as lru-cache's `perf` option takes it: the cache's TTLs measured on the clock's elapsed time. */
export function lruPerf(clock: Clock): { now(): number } {
  return { now: () => clock.monotonic() };
}

/** Whether `value` can serve as a Clock (for options validation). */
export function isClock(value: unknown): value is Clock {
  if (typeof value !== 'object' || value === null) return false;
  return typeof (value as Clock).now === 'function' && typeof (value as Clock).monotonic === 'function';
}
