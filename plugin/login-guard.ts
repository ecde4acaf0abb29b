import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';

export interface ThrottleOptions {
  perUser: { failures: number; windowSeconds: number };
  perAddress: { failures: number; windowSeconds: number };
}

/**
 * Throttles failed logins per user name and per source address, wherever the
 * login happens (the login page, the JSON API, or a client's own protocol).
 */
export class LoginGuard {
  private readonly perUser: RateLimiterMemory;
  private readonly perAddress: RateLimiterMemory;

  /**
   * @param userKey The name a user's failures are counted under: every spelling
   * of one user must give the same key (by default the name lower-cased).
   */
  constructor(
    options: ThrottleOptions,
    private readonly userKey: (username: string) => string = (username) => username.toLowerCase(),
  ) {
    this.perUser = new RateLimiterMemory({ keyPrefix: 'login-user', points: options.perUser.failures, duration: options.perUser.windowSeconds });
    this.perAddress = new RateLimiterMemory({ keyPrefix: 'login-address', points: options.perAddress.failures, duration: options.perAddress.windowSeconds });
  }

  /** Seconds until this user name or address may try again, or null when neither limit is used up. */
  async retryAfter(username: string, address: string): Promise<number | null> {
    const [user, place] = await Promise.all([this.perUser.get(this.userKey(username)), this.perAddress.get(address)]);
    const waits = [user, place].filter((state): state is RateLimiterRes => state !== null && state.remainingPoints <= 0).map((state) => Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
    return waits.length ? Math.max(...waits) : null;
  }

  /** Seconds until this user name may try again, whatever the address (for logins relayed by a peer gateway). */
  async retryAfterUser(username: string): Promise<number | null> {
    const state = await this.perUser.get(this.userKey(username));
    return state !== null && state.remainingPoints <= 0 ? Math.max(1, Math.ceil(state.msBeforeNext / 1000)) : null;
  }

  /** A failure counted against the user name only: a peer gateway's address stands for many visitors. */
  async failedUser(username: string): Promise<void> {
    await this.perUser.penalty(this.userKey(username), 1);
  }

  async failed(username: string, address: string): Promise<void> {
    await Promise.all([this.perUser.penalty(this.userKey(username), 1), this.perAddress.penalty(address, 1)]);
  }

  async succeeded(username: string): Promise<void> {
    await this.perUser.delete(this.userKey(username));
  }
}
