import type { Clock } from '../../clock';

/**
 * Elapsed time where a manual clock's monotonic reading starts: not 0, which
 * lru-cache takes for "no start time" (an entry set at 0 would never age out).
 */
const MONOTONIC_ORIGIN = 1_000;

/**
 * Jest's fake timers for timers only, for a test that needs an interval or a
 * timeout to fire (`jest.useFakeTimers(TIMERS_ONLY)`): what time it is stays
 * real, or a ManualClock's, never faked.
 */
export const TIMERS_ONLY: Parameters<typeof jest.useFakeTimers>[0] = {
  doNotFake: ['Date', 'performance', 'nextTick', 'queueMicrotask', 'setImmediate'],
};

/**
 * A clock that moves only when the test moves it: the one way tests drive
 * TTLs and time windows (leases, registrations, sessions, caches, rate
 * limits) instead of waiting for them. Wall time and elapsed time move
 * together. Timers are not on it: a test that needs one to fire also uses
 * jest's fake timers, for timers only (TIMERS_ONLY).
 */
export class ManualClock implements Clock {
  private readonly origin: number;
  private at: number;

  /** Starts at `start` (ms since the epoch); by default the real time now, so what it signs stays current for peers. */
  constructor(start = Date.now()) {
    this.origin = start;
    this.at = start;
  }

  now(): number {
    return this.at;
  }

  monotonic(): number {
    return this.at - this.origin + MONOTONIC_ORIGIN;
  }

  /** Moves the clock on by `ms`. */
  advance(ms: number): void {
    if (ms < 0) throw new Error(`a clock is not set back (advance by ${ms} ms)`);
    this.at += ms;
  }

  /** Moves the clock on to `at` (ms since the epoch), which may not be earlier than now. */
  set(at: number): void {
    this.advance(at - this.at);
  }
}
