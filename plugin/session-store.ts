import session, { type SessionData } from 'express-session';
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

/**
 * Keeps login page sessions in roamgate's store rather than in the process,
 * so a restart (with a fixed `session.secret`) does not log everybody out and
 * sessions do not pile up in memory. Rows are keyed by a hash of the session
 * id: the store never holds what the cookie carries. A session expires with
 * its cookie; the gateway's housekeeping deletes expired rows. Sessions
 * nobody has logged in with are kept for an hour at most, and at most
 * `maxAnonymous` of them at once.
 */
export class StoredSessions extends session.Store {
  /** Hashed ids of the sessions set here that nobody has logged in with, oldest first. */
  private readonly anonymous = new Set<string>();

  constructor(
    private readonly store: Store,
    /** Lifetime of a session whose cookie names no expiry (ms). */
    private readonly defaultMaxAgeMs: number,
    /** What time it is, for the sessions' expiry. */
    private readonly clock: Clock = systemClock,
    private readonly maxAnonymous: number = MAX_ANONYMOUS_SESSIONS,
  ) {
    super();
  }

  override get(sid: string, callback: (error: unknown, session?: SessionData | null) => void): void {
    // Parsed inside the chain: a row that is not JSON reaches the callback as an error, not as an unhandled rejection.
    const stored = this.store.sessions.get(hashToken(sid), this.clock.now());
    const read = stored.then((data) => (data === undefined ? null : (JSON.parse(data) as SessionData)));
    read.then(
      (found) => callback(null, found),
      (error: unknown) => callback(error),
    );
  }

  override set(sid: string, data: SessionData, callback?: (error?: unknown) => void): void {
    const id = hashToken(sid);
    if (loggedIn(data)) this.anonymous.delete(id);
    else if (!this.anonymous.has(id)) {
      this.anonymous.add(id);
      if (this.anonymous.size > this.maxAnonymous) this.dropOldestAnonymous();
    }
    reportTo(callback, this.store.sessions.put(id, JSON.stringify(data), this.expiryOf(data)));
  }

  override touch(sid: string, data: SessionData, callback?: (error?: unknown) => void): void {
    reportTo(callback, this.store.sessions.touch(hashToken(sid), this.expiryOf(data), this.clock.now()));
  }

  override destroy(sid: string, callback?: (error?: unknown) => void): void {
    const id = hashToken(sid);
    this.anonymous.delete(id);
    reportTo(callback, this.store.sessions.remove(id));
  }

  private dropOldestAnonymous(): void {
    const oldest = this.anonymous.values().next().value as string;
    this.anonymous.delete(oldest);
    // Nobody waits on it: a failure leaves the row to expire within the hour.
    this.store.sessions.remove(oldest).catch(() => undefined);
  }

  /**
   * When the session's cookie expires (ms), or the default lifetime from now
   * when it names none. A session nobody logged in with is kept for at most
   * ANONYMOUS_SESSION_MAX_AGE_MS: opening the login page costs the store little.
   */
  private expiryOf(data: SessionData): number {
    const expires = data.cookie?.expires;
    const at = expires ? new Date(expires).getTime() : NaN;
    const cookieExpiry = Number.isFinite(at) ? at : this.clock.now() + this.defaultMaxAgeMs;
    return loggedIn(data) ? cookieExpiry : Math.min(cookieExpiry, this.clock.now() + ANONYMOUS_SESSION_MAX_AGE_MS);
  }
}

/** Whether someone has logged in with this session (passport keeps the user in it). */
function loggedIn(data: SessionData): boolean {
  return (data as { passport?: { user?: unknown } }).passport?.user !== undefined;
}

/** Tells express-session's optional callback how a store operation went. */
function reportTo(callback: ((error?: unknown) => void) | undefined, operation: Promise<unknown>): void {
  operation.then(
    () => callback?.(),
    (error: unknown) => callback?.(error),
  );
}
