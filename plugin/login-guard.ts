import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import { lruPerf, systemClock, type Clock } from '../clock';
import { splitRealm } from './roaming-directory';

/** Most (user, address) pairs whose refusal is remembered, so it is recorded once per wait. */
const MAX_NOTED_REFUSALS = 10_000;

export interface ThrottleOptions {
  perUser: { failures: number; windowSeconds: number };
  perAddress: { failures: number; windowSeconds: number };
}

/** The name a user's failures are counted under at a gateway of `realm`: `alice` and `alice@<realm>` are one user, so one count of failures, wherever they log in. */
export function userKeyIn(realm: string | undefined): (username: string) => string {
  return (username) => {
    const { name, realm: named } = splitRealm(username);
    return (named !== undefined && named === realm ? name : username).toLowerCase();
  };
}

/**
 * Throttles failed logins per user name and per source address, wherever the
 * login happens (the login page, the JSON API, or a client's own protocol).
 * The failure windows are rate-limiter-flexible's, timed on the system clock;
 * the clock given here times how long a refusal stays noted.
 */
export class LoginGuard {
  private readonly perUser: RateLimiterMemory;
  private readonly perAddress: RateLimiterMemory;
  private readonly noted: LRUCache<string, true>;

  /**
   * @param userKey The name a user's failures are counted under: every spelling
   * of one user must give the same key (by default the name lower-cased).
   * @param clock What time it is, for the wait during which a refusal is noted.
   */
  constructor(
    options: ThrottleOptions,
    private readonly userKey: (username: string) => string = (username) => username.toLowerCase(),
    clock: Clock = systemClock,
  ) {
    // ttlResolution 0: each look-up reads the clock (lru-cache would otherwise reuse a reading for 1 ms).
    this.noted = new LRUCache<string, true>({ max: MAX_NOTED_REFUSALS, ttlResolution: 0, perf: lruPerf(clock) });
    this.perUser = new RateLimiterMemory({
      keyPrefix: 'login-user',
      points: options.perUser.failures,
      duration: options.perUser.windowSeconds,
    });
    this.perAddress = new RateLimiterMemory({
      keyPrefix: 'login-address',
      points: options.perAddress.failures,
      duration: options.perAddress.windowSeconds,
    });
  }

  /**
   * Takes one attempt from the user name's allowance (and the address's, when
   * given) before the password is checked, so that attempts made at once
   * cannot overrun it. Resolves to the seconds to wait when none is left
   * (nothing is then taken), else null: go on, then call succeeded() or
   * undo(), or nothing when the password was wrong (the attempt stays counted).
   */
  async attempt(username: string, address?: string): Promise<number | null> {
    const user = this.userKey(username);
    const userWait = await take(this.perUser, user);
    if (userWait !== null) return userWait;
    if (address === undefined) return null;
    const placeWait = await take(this.perAddress, address);
    if (placeWait === null) return null;
    await this.perUser.reward(user, 1);
    return placeWait;
  }

  /**
   * Whether a refusal of this user name from this address is the first in
   * its wait: refusals are recorded once per wait, not once per attempt, so
   * a client hammering a throttled login cannot flood the audit trail.
   */
  firstRefusal(username: string, address: string | undefined, waitSeconds: number): boolean {
    const key = `${this.userKey(username)}\u0000${address ?? ''}`;
    if (this.noted.has(key)) return false;
    this.noted.set(key, true, { ttl: waitSeconds * 1000 });
    return true;
  }

  /** The password was right: the user name's count starts over, and the address gets its attempt back. */
  async succeeded(username: string, address?: string): Promise<void> {
    await Promise.all([
      this.perUser.delete(this.userKey(username)),
      address === undefined ? undefined : this.perAddress.reward(address, 1),
    ]);
  }

  /** The attempt could not be judged (a home out of reach, a broken directory): it is given back. */
  async undo(username: string, address?: string): Promise<void> {
    await Promise.all([
      this.perUser.reward(this.userKey(username), 1),
      address === undefined ? undefined : this.perAddress.reward(address, 1),
    ]);
  }
}

/** Consumes one point for `key`; the seconds to wait when there was none left, else null. */
async function take(limiter: RateLimiterMemory, key: string): Promise<number | null> {
  try {
    await limiter.consume(key, 1);
    return null;
  } catch (rejection) {
    if (rejection instanceof Error) throw rejection;
    return Math.max(1, Math.ceil((rejection as RateLimiterRes).msBeforeNext / 1000));
  }
}
