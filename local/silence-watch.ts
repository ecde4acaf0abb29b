import type { Clock } from '../clock';

/**
 * How long a gateway that never said how often it pings may stay silent on its event stream (ms): older gateways
 * sent a comment every 15 s, so three of those may go missing before it counts as gone.
 */
export const EVENTS_SILENCE_WITHOUT_PING_MS = 45_000;
/** However short the configured limit, a silence must span this many of the gateway's announced pings to count. */
export const PINGS_MISSED_AT_LEAST = 2;
/** Ping intervals a gateway may announce (ms); anything else is ignored, as if it had announced none. */
const PING_INTERVAL_RANGE = { min: 100, max: 600_000 } as const;

/**
 * The interval a `ping` event announces (`data: {"intervalMs":1000}`), or null when its data says none that
 * makes sense.
 */
export function pingInterval(data: string): number | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  const interval = (parsed as { intervalMs?: unknown } | null)?.intervalMs;
  if (typeof interval !== 'number' || !Number.isInteger(interval)) return null;
  return interval >= PING_INTERVAL_RANGE.min && interval <= PING_INTERVAL_RANGE.max ? interval : null;
}

/**
 * How long the event stream may be silent before the gateway counts as gone: the configured limit, but never less
 * than {@link PINGS_MISSED_AT_LEAST} of the pings the gateway announced; for a gateway that announced none, never
 * less than {@link EVENTS_SILENCE_WITHOUT_PING_MS}.
 */
export function silenceLimitMs(configuredMs: number, announcedIntervalMs: number | null): number {
  if (announcedIntervalMs === null) return Math.max(configuredMs, EVENTS_SILENCE_WITHOUT_PING_MS);
  return Math.max(configuredMs, PINGS_MISSED_AT_LEAST * announcedIntervalMs);
}

/**
 * Watches a stream that should never be quiet for long: call `heard()` whenever bytes arrive; `onSilent` is
 * called once, with how long it was quiet, when nothing was heard for the limit. One timer, re-armed only when it
 * fires early (as the relay's idle check), so a chunk costs one clock read. Time is read from `clock`; the timer
 * is Node's own (unref'ed).
 */
export class SilenceWatch {
  private lastHeard: number;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private limit: number,
    private readonly clock: Clock,
    private readonly onSilent: (quietMs: number) => void,
  ) {
    this.lastHeard = clock.monotonic();
    this.arm(limit);
  }

  /** The silence allowed now (ms). */
  get limitMs(): number {
    return this.limit;
  }

  /** Something arrived: the silence starts again from now. */
  heard(): void {
    this.lastHeard = this.clock.monotonic();
  }

  /** Allows another silence from now on, counted from the last thing heard. */
  setLimit(ms: number): void {
    if (this.done || ms === this.limit) return;
    this.limit = ms;
    clearTimeout(this.timer);
    this.check();
  }

  /** Stops watching; `onSilent` will not be called. */
  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  private readonly check = (): void => {
    if (this.done) return;
    const quiet = this.clock.monotonic() - this.lastHeard;
    if (quiet < this.limit) return this.arm(this.limit - quiet);
    this.done = true;
    this.onSilent(quiet);
  };

  private arm(ms: number): void {
    // Whole milliseconds: timers are grouped in one list per distinct duration.
    this.timer = setTimeout(this.check, Math.ceil(ms));
    this.timer.unref();
  }
}
