import { systemClock, type Clock } from '../clock';
import type { Store } from '../store/store';
import { hashToken } from './lease-manager';

/** How long the store keeps a session nobody has logged in with (a login page opened, a CSRF token handed out) (ms). */
export const ANONYMOUS_SESSION_MAX_AGE_MS = 60 * 60 * 1000;
/**
 * Most sessions nobody has logged in with that one gateway process keeps at
 * once. Past it the oldest is dropped (its login form then says it expired and
 * offers a fresh one), so a flood of login-page requests cannot fill the store.
 */
export const MAX_ANONYMOUS_SESSIONS = 10_000;

/** What a login session holds: the user as they logged in, their lease, and the CSRF token of its forms. */
export interface SessionData {
  user?: { id: string; attributes: Record<string, string> };
  leaseId?: string;
  csrfToken?: string;
}

/**
 * Keeps login page sessions in roamgate's store rather than in the process,
 * so a restart does not log everybody out and sessions do not pile up in
 * memory. Rows are keyed by a hash of the session id: the store never holds
 * what the cookie carries. The gateway's housekeeping deletes expired rows.
 * Sessions nobody has logged in with are kept for an hour at most, and at
 * most `maxAnonymous` of them at once.
 */
export class StoredSessions {
  /** Hashed ids of the sessions set here that nobody has logged in with, oldest first. */
  private readonly anonymous = new Set<string>();

  constructor(
    private readonly store: Store,
    /** What time it is, for the sessions' expiry. */
    private readonly clock: Clock = systemClock,
    private readonly maxAnonymous: number = MAX_ANONYMOUS_SESSIONS,
  ) {}

  /** The session's data, or undefined when there is none (or it expired). A row that is not JSON rejects. */
  async get(sid: string): Promise<SessionData | undefined> {
    const stored = await this.store.sessions.get(hashToken(sid), this.clock.now());
    return stored === undefined ? undefined : (JSON.parse(stored) as SessionData);
  }

  /** Creates or replaces a session, to expire at `expiresAt` (ms) or within the hour when nobody has logged in with it. */
  async set(sid: string, data: SessionData, expiresAt: number): Promise<void> {
    const id = hashToken(sid);
    const loggedIn = data.user !== undefined;
    if (loggedIn) this.anonymous.delete(id);
    else if (!this.anonymous.has(id)) {
      this.anonymous.add(id);
      if (this.anonymous.size > this.maxAnonymous) this.dropOldestAnonymous();
    }
    const expiry = loggedIn ? expiresAt : Math.min(expiresAt, this.clock.now() + ANONYMOUS_SESSION_MAX_AGE_MS);
    await this.store.sessions.put(id, JSON.stringify(data), expiry);
  }

  async destroy(sid: string): Promise<void> {
    const id = hashToken(sid);
    this.anonymous.delete(id);
    await this.store.sessions.remove(id);
  }

  private dropOldestAnonymous(): void {
    const oldest = this.anonymous.values().next().value as string;
    this.anonymous.delete(oldest);
    // Nobody waits on it: a failure leaves the row to expire within the hour.
    this.store.sessions.remove(oldest).catch(() => undefined);
  }
}
