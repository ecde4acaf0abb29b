import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import { lruPerf, systemClock, type Clock } from '../clock';

/** Most addresses whose refusal is remembered, so it is audited once per wait. */
const MAX_NOTED_REFUSALS = 10_000;

/**
 * Throttles wrong registration secrets per source address, with
 * rate-limiter-flexible's counter (its windows on the system clock; the
 * login guard keeps its own counts on the Clock, since it also holds places
 * for attempts in flight): each try is counted before the secret is compared, so
 * tries sent at once cannot overrun the allowance, and a right secret gets
 * its try back. Once an address has used its allowance every try from it,
 * the right secret included, waits for the window to end.
 */
export class RegistrationThrottle {
  private readonly failures: RateLimiterMemory;
  private readonly noted: LRUCache<string, true>;
  private shared: ((address: string) => void) | undefined;

  /** @param clock What time it is, for the wait during which a refusal is noted. */
  constructor(limit: { failures: number; windowSeconds: number }, clock: Clock = systemClock) {
    this.failures = new RateLimiterMemory({ keyPrefix: 'registration-address', points: limit.failures, duration: limit.windowSeconds });
    // ttlResolution 0: each look-up reads the clock (lru-cache would otherwise reuse a reading for 1 ms).
    this.noted = new LRUCache<string, true>({ max: MAX_NOTED_REFUSALS, ttlResolution: 0, perf: lruPerf(clock) });
  }

  /** Takes one try from the address's allowance; resolves to the seconds to wait when none is left (nothing is then taken), else null. */
  async attempt(address: string): Promise<number | null> {
    try {
      await this.failures.consume(address, 1);
      return null;
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      return Math.max(1, Math.ceil((rejection as RateLimiterRes).msBeforeNext / 1000));
    }
  }

  /**
   * Tells `share` of each wrong secret counted here, so that other gateway processes count it too
   * ({@link countElsewhere}).
   */
  shareFailures(share: (address: string) => void): void {
    this.shared = share;
  }

  /** The secret was wrong: the try stays taken, and the other gateway processes hear of it. */
  failed(address: string): void {
    this.shared?.(address);
  }

  /** A wrong secret another gateway process counted: it takes a try here as well. */
  async countElsewhere(address: string): Promise<void> {
    await this.failures.penalty(address, 1);
  }

  /** The secret was right: the try is given back. */
  async succeeded(address: string): Promise<void> {
    await this.failures.reward(address, 1);
  }

  /** Whether this refusal of the address is the first in its wait: audited once per wait, not once per try. */
  firstRefusal(address: string, waitSeconds: number): boolean {
    if (this.noted.has(address)) return false;
    this.noted.set(address, true, { ttl: waitSeconds * 1000 });
    return true;
  }
}
