import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { lruPerf, systemClock, type Clock } from '../clock';
import type { Directory, User } from './directory';

/** Most verified logins remembered at once. */
export const LOGIN_CACHE_MAX_ENTRIES = 10_000;

/**
 * Remembers successful password checks for a while, as dovecot's auth cache
 * does: mail clients log in again every few minutes with the same password,
 * and each scrypt check costs tens of milliseconds and 16 MiB. Only successes
 * are kept (a corrected password works at once), keyed by an HMAC of user
 * name and password under a per-process random key (nothing reversible is
 * held). A password changed elsewhere keeps working until its entry expires;
 * a user disabled or removed does not (each hit checks the user still exists
 * and is enabled, which costs a store look-up, not a password hash).
 */
export class CachingDirectory implements Directory {
  private readonly key = randomBytes(32);
  private readonly verified: LRUCache<string, User>;

  /** @param clock What time it is: entries age on its elapsed time. */
  constructor(
    private readonly inner: Directory,
    cacheSeconds: number,
    clock: Clock = systemClock,
  ) {
    const ttl = Math.max(1, cacheSeconds) * 1000;
    this.verified = new LRUCache<string, User>({ max: LOGIN_CACHE_MAX_ENTRIES, ttl, ttlResolution: 0, perf: lruPerf(clock) });
  }

  async verify(username: string, password: string): Promise<User | false> {
    const id = createHmac('sha256', this.key).update(username).update('\u0000').update(password).digest('base64');
    const known = this.verified.get(id);
    // A cheap look-up (no scrypt) keeps a disabled or removed user from logging in on a remembered password.
    if (known) {
      if (this.inner.canLookUp === false || (await this.inner.get(known.id))) return known;
      this.verified.delete(id);
      return false;
    }
    const user = await this.inner.verify(username, password);
    if (user) this.verified.set(id, user);
    return user;
  }

  get(id: string): Promise<User | undefined> {
    return this.inner.get(id);
  }

  /** Forgets the remembered logins of these users (changed in the config file by a reload): their next login is checked in full. */
  forget(userIds: readonly string[]): void {
    const ids = new Set(userIds);
    for (const [key, user] of this.verified.entries()) if (ids.has(user.id)) this.verified.delete(key);
  }

  get canLookUp(): boolean | undefined {
    return this.inner.canLookUp;
  }
}

/** `directory` behind the login cache when `login.cacheSeconds` asks for one; as it is for 0 (every login checked). */
export function withLoginCache(directory: Directory, cacheSeconds: number, clock: Clock = systemClock): Directory {
  return cacheSeconds > 0 ? new CachingDirectory(directory, cacheSeconds, clock) : directory;
}
