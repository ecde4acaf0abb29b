import session, { type SessionData } from 'express-session';
import type { Store } from '../store/store';
import { hashToken } from './lease-manager';

/** How long the store keeps a session nobody has logged in with (a login page opened, a CSRF token handed out) (ms). */
export const ANONYMOUS_SESSION_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Keeps login page sessions in roamgate's store rather than in the process,
 * so a restart (with a fixed `session.secret`) does not log everybody out and
 * sessions do not pile up in memory. Rows are keyed by a hash of the session
 * id: the store never holds what the cookie carries. A session expires with
 * its cookie; the gateway's housekeeping deletes expired rows.
 */
export class StoredSessions extends session.Store {
  constructor(
    private readonly store: Store,
    /** Lifetime of a session whose cookie names no expiry (ms). */
    private readonly defaultMaxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  override get(sid: string, callback: (error: unknown, session?: SessionData | null) => void): void {
    // Parsed inside the chain: a row that is not JSON reaches the callback as an error, not as an unhandled rejection.
    const read = this.store.sessions.get(hashToken(sid), this.now()).then((data) => (data === undefined ? null : (JSON.parse(data) as SessionData)));
    read.then(
      (found) => callback(null, found),
      (error: unknown) => callback(error),
    );
  }

  override set(sid: string, data: SessionData, callback?: (error?: unknown) => void): void {
    reportTo(callback, this.store.sessions.put(hashToken(sid), JSON.stringify(data), this.expiryOf(data)));
  }

  override touch(sid: string, data: SessionData, callback?: (error?: unknown) => void): void {
    reportTo(callback, this.store.sessions.touch(hashToken(sid), this.expiryOf(data), this.now()));
  }

  override destroy(sid: string, callback?: (error?: unknown) => void): void {
    reportTo(callback, this.store.sessions.remove(hashToken(sid)));
  }

  /**
   * When the session's cookie expires (ms), or the default lifetime from now
   * when it names none. A session nobody logged in with is kept for at most
   * ANONYMOUS_SESSION_MAX_AGE_MS: opening the login page costs the store little.
   */
  private expiryOf(data: SessionData): number {
    const expires = data.cookie?.expires;
    const at = expires ? new Date(expires).getTime() : NaN;
    const cookieExpiry = Number.isFinite(at) ? at : this.now() + this.defaultMaxAgeMs;
    const loggedIn = (data as { passport?: { user?: unknown } }).passport?.user !== undefined;
    return loggedIn ? cookieExpiry : Math.min(cookieExpiry, this.now() + ANONYMOUS_SESSION_MAX_AGE_MS);
  }
}

/** Tells express-session's optional callback how a store operation went. */
function reportTo(callback: ((error?: unknown) => void) | undefined, operation: Promise<unknown>): void {
  operation.then(
    () => callback?.(),
    (error: unknown) => callback?.(error),
  );
}
