import { LRUCache } from 'lru-cache';
import { addressKey } from '../adapters/client-limits';
import { lruPerf, systemClock, type Clock } from '../clock';
import { splitRealm } from './roaming-directory';

/** Most (user, address) pairs whose refusal is remembered, so it is recorded once per wait. */
const MAX_NOTED_REFUSALS = 10_000;
/** Most keys one count remembers (addresses, user names, pairs); past it the least recently used is forgotten. */
export const MAX_TALLIES = 100_000;

/** How many failed logins a window allows; the window starts at its first failure and lasts `windowSeconds`. */
export interface FailureLimit {
  failures: number;
  windowSeconds: number;
}

export interface ThrottleOptions {
  /** Failures for one user name from all addresses before its attempts are slowed (never refused: nobody can lock another out). */
  perUser: FailureLimit;
  /** Failures for one user name from one address (or through one peer) before that pair is refused until the window ends. */
  perUserAddress: FailureLimit;
  /** Failures from one address, whatever the user name, before the address is refused until the window ends. */
  perAddress: FailureLimit;
  /** The pause each attempt for a user pays per failure past `perUser.failures` (ms). */
  perUserDelayMs: number;
  /** The longest that pause gets (ms): a right password always goes through within it. */
  perUserMaxDelayMs: number;
}

/** The counts a failure is charged to (see {@link ThrottleOptions}). */
export type LoginCountName = 'perUser' | 'perUserAddress' | 'perAddress';

/** Where a login comes from: a client's address, or a peer gateway asking for one of its visitors (a peer stands for many addresses). */
export type LoginOrigin = { address: string } | { peer: string };

/** An attempt let through to the password check. Settle it once with what the check found; later calls do nothing. */
export interface LoginTicket {
  /** The password was right: nothing is charged, and the user's count at this address starts over. */
  succeeded(): void;
  /** The password was wrong (or the login was refused for a reason of the user's): charged to every count. */
  failed(): void;
  /** The attempt could not be judged (a home out of reach, a broken directory): given back. */
  undo(): void;
}

/** An attempt let through (settle its ticket), or refused for `waitSeconds`. */
export type LoginAdmission = { admitted: true; ticket: LoginTicket } | { admitted: false; waitSeconds: number };

/** The name a user's failures are counted under at a gateway of `realm`: `alice` and `alice@<realm>` are one user, so one count of failures, wherever they log in. */
export function userKeyIn(realm: string | undefined): (username: string) => string {
  return (username) => {
    const { name, realm: named } = splitRealm(username);
    return (named !== undefined && named === realm ? name : username).toLowerCase();
  };
}

/** One key's failures in its current window, and the attempts on it still being checked (with whoever waits for them). */
class Tally {
  failures = 0;
  /** When the window ends, on the clock's elapsed time; 0 before the first failure. */
  windowEnds = 0;
  pending = 0;
  private waiters: Array<() => void> = [];

  /** Resolves at the next change of this tally's attempts in flight (or when it is forgotten). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Failed logins per key in fixed windows on the clock's elapsed time, with a place held for each attempt being checked. */
class FailureCount {
  /**
   * The tallies, least recently used first (a key used is moved to the end); past MAX_TALLIES the first is
   * forgotten, which wakes its waiters, who then look again (at a new one). A Map rather than lru-cache: every
   * settled login deletes its tallies, and lru-cache empties its whole preallocated store (MAX_TALLIES slots) when
   * its last entry goes, which cost more than the rest of a cached login together.
   */
  private readonly tallies = new Map<string, Tally>();

  constructor(
    /** What the count is called when it is shared with other gateway processes. */
    readonly name: LoginCountName,
    public limit: FailureLimit,
    private readonly clock: Clock,
  ) {}

  /** The key's tally, made when missing; a window that has ended is emptied first. */
  tally(key: string): Tally {
    let tally = this.tallies.get(key);
    if (tally === undefined) {
      if (this.tallies.size >= MAX_TALLIES) this.forgetLeastRecent();
      tally = new Tally();
    } else this.tallies.delete(key);
    this.tallies.set(key, tally);
    return this.current(tally);
  }

  /** How many failures the key has in its current window (none when it has no tally). */
  failures(key: string): number {
    const tally = this.tallies.get(key);
    return tally === undefined ? 0 : this.current(tally).failures;
  }

  /** Seconds until the window ends when its failures are used up, else null. */
  refusal(tally: Tally): number | null {
    if (tally.failures < this.limit.failures) return null;
    return Math.max(1, Math.ceil((tally.windowEnds - this.clock.monotonic()) / 1000));
  }

  /** Whether another attempt may be checked now: failures and attempts in flight together stay within the limit. */
  hasRoom(tally: Tally): boolean {
    return tally.failures + tally.pending < this.limit.failures;
  }

  charge(tally: Tally): void {
    this.current(tally);
    if (tally.failures === 0) tally.windowEnds = this.clock.monotonic() + this.limit.windowSeconds * 1000;
    tally.failures++;
  }

  /** An attempt in flight on `key` was settled: whoever waits for room looks again, and an empty tally is forgotten. */
  release(key: string, tally: Tally): void {
    tally.pending--;
    tally.wake();
    if (tally.pending === 0 && tally.failures === 0 && this.tallies.get(key) === tally) this.tallies.delete(key);
  }

  private forgetLeastRecent(): void {
    for (const [key, tally] of this.tallies) {
      this.tallies.delete(key);
      tally.wake();
      return;
    }
  }

  private current(tally: Tally): Tally {
    if (tally.failures > 0 && tally.windowEnds <= this.clock.monotonic()) tally.failures = 0;
    return tally;
  }
}

/** A place an admitted attempt holds in one count until it is settled. */
interface Held {
  count: FailureCount;
  key: string;
  tally: Tally;
}

/**
 * Throttles failed logins wherever they happen (the login page, the JSON
 * API, a client's own protocol, a peer's verification) so that nobody can
 * aim a lockout at someone else: failures refuse per address and per
 * (user, address), where the attacker stands; per user name across all
 * addresses they only slow, by a bounded pause. A right password is never
 * charged. Windows are timed on the clock's elapsed time.
 */
export class LoginGuard {
  private readonly perUser: FailureCount;
  private readonly perUserAddress: FailureCount;
  private readonly perAddress: FailureCount;
  private readonly noted: LRUCache<string, true>;
  private shared: ((scope: LoginCountName, key: string) => void) | undefined;

  /**
   * @param userKey The name a user's failures are counted under: every spelling
   * of one user must give the same key (by default the name lower-cased).
   * @param clock What time it is, for the failure windows and the wait during which a refusal is noted.
   */
  constructor(
    private options: ThrottleOptions,
    private readonly userKey: (username: string) => string = (username) => username.toLowerCase(),
    clock: Clock = systemClock,
  ) {
    // ttlResolution 0: each look-up reads the clock (lru-cache would otherwise reuse a reading for 1 ms).
    this.noted = new LRUCache<string, true>({ max: MAX_NOTED_REFUSALS, ttlResolution: 0, perf: lruPerf(clock) });
    this.perUser = new FailureCount('perUser', options.perUser, clock);
    this.perUserAddress = new FailureCount('perUserAddress', options.perUserAddress, clock);
    this.perAddress = new FailureCount('perAddress', options.perAddress, clock);
  }

  /**
   * Tells `share` of each failure counted here (a scope naming the count and the key it is counted under), so
   * that other gateway processes count it too ({@link countElsewhere}).
   */
  shareFailures(share: (scope: LoginCountName, key: string) => void): void {
    this.shared = share;
  }

  /** A failure another gateway process counted: it counts here as well (in this count's current window). */
  countElsewhere(scope: string, key: string): void {
    const count = [this.perUser, this.perUserAddress, this.perAddress].find((each) => each.name === scope);
    count?.charge(count.tally(key));
  }

  /** New limits (a reload), from the next attempt on; failures already counted stay counted, in windows already started. */
  setLimits(options: ThrottleOptions): void {
    this.options = options;
    this.perUser.limit = options.perUser;
    this.perUserAddress.limit = options.perUserAddress;
    this.perAddress.limit = options.perAddress;
  }

  /**
   * Lets an attempt through to the password check, or refuses it with the
   * seconds to wait. A refusal comes at once; an attempt let through first
   * pays the user's pause (after `perUser.failures` failures from anywhere),
   * then takes a place in its address's and its (user, address) counts
   * before the password is checked, so attempts sent at once cannot overrun
   * them. When their room is held by attempts still in flight it waits for
   * those to settle rather than being refused: a right password in flight is
   * never charged to another.
   */
  async attempt(username: string, origin: LoginOrigin): Promise<LoginAdmission> {
    const user = this.userKey(username);
    const counts = this.countsFor(user, origin);
    const refused = this.refusal(counts);
    if (refused !== null) return { admitted: false, waitSeconds: refused };
    const pause = this.pauseFor(user);
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    for (;;) {
      const waitSeconds = this.refusal(counts);
      if (waitSeconds !== null) return { admitted: false, waitSeconds };
      const held = counts.map(({ count, key }) => ({ count, key, tally: count.tally(key) }));
      const busy = held.find(({ count, tally }) => !count.hasRoom(tally));
      if (busy === undefined) {
        for (const { tally } of held) tally.pending++;
        return { admitted: true, ticket: this.ticket(user, held) };
      }
      await busy.tally.changed();
    }
  }

  /** The pause an attempt for `user` pays now (ms): one step per failure from the allowance on, up to the cap. */
  private pauseFor(user: string): number {
    const over = this.perUser.failures(user) - this.options.perUser.failures;
    return over < 0 ? 0 : Math.min(this.options.perUserMaxDelayMs, (over + 1) * this.options.perUserDelayMs);
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

  /** The counts that can refuse an attempt: a client's address and (user, address); through a peer, only (user, peer). */
  private countsFor(user: string, origin: LoginOrigin): Array<{ count: FailureCount; key: string }> {
    if ('peer' in origin) return [{ count: this.perUserAddress, key: `${user}\u0000peer ${origin.peer}` }];
    const place = addressKey(origin.address);
    return [
      { count: this.perAddress, key: place },
      { count: this.perUserAddress, key: `${user}\u0000${place}` },
    ];
  }

  /** The longest wait among the counts whose failures are used up, or null. */
  private refusal(counts: Array<{ count: FailureCount; key: string }>): number | null {
    let longest: number | null = null;
    for (const { count, key } of counts) {
      if (count.failures(key) < count.limit.failures) continue;
      const wait = count.refusal(count.tally(key));
      if (wait !== null && (longest === null || wait > longest)) longest = wait;
    }
    return longest;
  }

  private ticket(user: string, held: Held[]): LoginTicket {
    let open = true;
    const settle = (charge: (place: Held) => void) => {
      if (!open) return;
      open = false;
      for (const place of held) {
        charge(place);
        place.count.release(place.key, place.tally);
      }
    };
    return {
      succeeded: () =>
        settle(({ count, tally }) => {
          if (count === this.perUserAddress) tally.failures = 0;
        }),
      failed: () => {
        if (!open) return;
        this.perUser.charge(this.perUser.tally(user));
        this.shared?.(this.perUser.name, user);
        settle(({ count, key, tally }) => {
          count.charge(tally);
          this.shared?.(count.name, key);
        });
      },
      undo: () => settle(() => undefined),
    };
  }
}
