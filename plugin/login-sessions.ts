import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import type { Clock } from '../clock';
import type { Directory, User } from './directory';
import { secretMatches } from './secret-compare';
import type { SessionData, StoredSessions } from './session-store';

/** The login session's cookie: its `Path` is where the router is mounted, so the host's routes never see it. */
export const SESSION_COOKIE = 'roamgate.sid';
/**
 * The cookie a form login sets for the host's guarded routes (`gw.protect`, `gw.web`): the lease token, `Path=/`,
 * HttpOnly, SameSite=Lax. Logging out or revoking the lease makes it worthless.
 */
export const LEASE_COOKIE = 'roamgate.lease';

export interface LoginSessionsDeps {
  rows: StoredSessions;
  directory: Directory;
  /** Signs the session cookie; a random one per process when the options name none. */
  secret: string;
  maxAgeMs: number;
  /** `auto`: Secure when the request came over HTTPS (as Express's `req.secure` says, trust proxy included). */
  secureCookie: boolean | 'auto';
  clock: Clock;
}

interface Current {
  sid?: string;
  data: SessionData;
  user?: User;
}

/** The values of every cookie called `name` in the request (a browser may send several with different paths). */
export function cookieValues(req: IncomingMessage, name: string): string[] {
  const header = req.headers.cookie;
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0 || part.slice(0, at).trim() !== name) continue;
    try {
      values.push(decodeURIComponent(part.slice(at + 1).trim()));
    } catch {
      // A value that is not URI-encoded is not one of ours.
    }
  }
  return values;
}

/**
 * roamgate's own login sessions: its own cookie, its own rows in the store,
 * its own per-request state (never `req.session`, `req.user` or
 * `req.login`, which belong to the host app). The session id is rotated at
 * login, so a session fixed before cannot be ridden after.
 */
export class LoginSessions {
  private readonly current = new WeakMap<IncomingMessage, Current>();

  constructor(private readonly deps: LoginSessionsDeps) {}

  /** Middleware: reads roamgate's cookie and loads its session and user; a user no longer in the directory is logged out. */
  readonly load: RequestHandler = (req, _res, next) => {
    const state: Current = { data: {} };
    this.current.set(req, state);
    const sid = cookieValues(req, SESSION_COOKIE)
      .map((value) => this.unsign(value))
      .find((value) => value !== undefined);
    if (sid === undefined) return next();
    void this.restore(sid, state).then(() => next(), next);
  };

  /** The logged-in user of this request's session, if any. */
  userOf(req: IncomingMessage): User | undefined {
    return this.current.get(req)?.user;
  }

  leaseIdOf(req: IncomingMessage): string | undefined {
    return this.current.get(req)?.user ? this.current.get(req)?.data.leaseId : undefined;
  }

  /** Whether this request came with a session. */
  has(req: IncomingMessage): boolean {
    return this.current.get(req)?.sid !== undefined;
  }

  /** The session's CSRF token, made (and the session saved, its cookie set) when it has none. */
  async csrfToken(req: Request, res: Response): Promise<string> {
    const state = this.state(req);
    if (state.data.csrfToken && state.sid) return state.data.csrfToken;
    state.data.csrfToken = randomBytes(32).toString('base64url');
    await this.save(req, res, state);
    return state.data.csrfToken;
  }

  /** Whether `token` is this session's CSRF token (constant time). */
  csrfMatches(req: IncomingMessage, token: string | undefined): boolean {
    const state = this.current.get(req);
    return state?.sid !== undefined && secretMatches(token, state.data.csrfToken);
  }

  /** Logs `user` in under a new session id (the old one is dropped), holding `leaseId`. */
  async logIn(req: Request, res: Response, user: User, leaseId: string): Promise<void> {
    const state = this.state(req);
    if (state.sid) await this.deps.rows.destroy(state.sid);
    state.sid = undefined;
    state.user = user;
    state.data = { user: { id: user.id, attributes: { ...user.attributes } }, leaseId, csrfToken: randomBytes(32).toString('base64url') };
    await this.save(req, res, state);
  }

  /** Ends the session and clears its cookie. */
  async logOut(req: Request, res: Response): Promise<void> {
    const state = this.state(req);
    if (state.sid) await this.deps.rows.destroy(state.sid);
    this.current.set(req, { data: {} });
    res.clearCookie(SESSION_COOKIE, { path: cookiePath(req) });
  }

  private state(req: IncomingMessage): Current {
    let state = this.current.get(req);
    if (!state) {
      state = { data: {} };
      this.current.set(req, state);
    }
    return state;
  }

  private async restore(sid: string, state: Current): Promise<void> {
    const data = await this.deps.rows.get(sid);
    if (!data) return;
    state.sid = sid;
    state.data = data;
    if (!data.user) return;
    // The directory has the last word on who the user is now; one that cannot look users up keeps them as they logged in.
    const user = (await this.deps.directory.get(data.user.id)) ?? (this.deps.directory.canLookUp === false ? data.user : undefined);
    if (user) state.user = user;
    else state.data = {};
  }

  private async save(req: Request, res: Response, state: Current): Promise<void> {
    const fresh = state.sid === undefined;
    // A Secure cookie asked for over plain HTTP would not come back: as express-session, no session is started then.
    if (fresh && this.deps.secureCookie === true && !req.secure) return;
    state.sid ??= randomBytes(32).toString('base64url');
    await this.deps.rows.set(state.sid, state.data, this.deps.clock.now() + this.deps.maxAgeMs);
    if (!fresh) return;
    res.cookie(SESSION_COOKIE, this.sign(state.sid), {
      httpOnly: true,
      sameSite: 'strict',
      secure: secureFor(req, this.deps.secureCookie),
      path: cookiePath(req),
      maxAge: this.deps.maxAgeMs,
    });
  }

  private sign(sid: string): string {
    return `${sid}.${createHmac('sha256', this.deps.secret).update(sid).digest('base64url')}`;
  }

  private unsign(value: string): string | undefined {
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const sid = value.slice(0, dot);
    return secretMatches(value, this.sign(sid)) ? sid : undefined;
  }
}

/** Whether a cookie set in answer to `req` is Secure. */
export function secureFor(req: Request, setting: boolean | 'auto'): boolean {
  return setting === 'auto' ? req.secure : setting;
}

/** Where the router is mounted: its cookie goes there and nowhere else. */
export function cookiePath(req: Request): string {
  return req.baseUrl === '' ? '/' : req.baseUrl;
}
