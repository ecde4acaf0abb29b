/**
 * The tests' one way to wait. A condition that other processes or the event
 * loop settle in their own time is polled with `until` (or `untilValue`),
 * never waited for with a fixed sleep, which is flaky when slow and wasteful
 * when fast. Time-driven logic (TTLs, rate windows) is driven with a
 * ManualClock (./clock.ts) rather than waited for. Only a test asserting
 * that something does NOT happen within a time has nothing to wait for: it
 * uses `idle`, saying why.
 */

/** What is being waited for: a text, or one made when the wait fails (to tell what was seen so far). */
export type Awaited = string | (() => string);

/**
 * Waits until `read()` gives a value `ok` accepts, polling every `intervalMs`;
 * returns that value. Throws naming `what` when `timeoutMs` passes first.
 */
export async function untilValue<T>(
  read: () => T | Promise<T>,
  ok: (value: T) => boolean,
  what: Awaited,
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Waits until `check` holds, polling every `intervalMs`; throws naming `what`
 * when `timeoutMs` passes first.
 */
export async function until(check: () => boolean | Promise<boolean>, what: Awaited, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  await untilValue(check, (held) => held, what, timeoutMs, intervalMs);
}

/** The longest `idle`: anything longer is a TTL or a window to drive with a ManualClock. */
export const MAX_IDLE_MS = 3000;

/**
 * Lets `ms` pass with nothing awaited. Only for what no condition can end
 * early: asserting that something does NOT happen within a time (no answer
 * beyond a limit, no reconnect), or counting what a fixed span holds.
 * `why` names which, at the call; it is also the message when `ms` is too long.
 */
export function idle(ms: number, why: string): Promise<void> {
  if (ms > MAX_IDLE_MS) throw new Error(`idle for ${ms} ms (${why}): at most ${MAX_IDLE_MS} ms; drive the time with a ManualClock instead`);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
