import { Router, type Request, type RequestHandler, type Response } from 'express';
import { isRoamgateError } from '../../errors';
import { isStoreUnavailable, type LeaseRecord } from '../../store/store';
import type { AuditLog } from '../audit-log';
import { LOGIN_UNCHECKED_REASON, type Directory, type User } from '../directory';
import { reconfirmVisitor } from '../roaming-directory';
import { normalizeAddress, type LeaseManager } from '../lease-manager';
import type { LoginGuard, LoginTicket } from '../login-guard';
import type { LeaseRefusal } from '../lease-grant';
import { leasePage, loginPage } from '../login-page';
import { LEASE_COOKIE, secureFor, type LoginSessions } from '../login-sessions';
import type { GatewayMetrics } from '../gateway-metrics';
import type { Logger } from '../options';
import { callerOf } from '../request-auth';
import { safeReturnPath } from '../return-path';

/** Longest user name and password accepted at login (characters). */
export const MAX_USERNAME_LENGTH = 128;
export const MAX_PASSWORD_LENGTH = 1024;

export interface LoginDeps {
  directory: Directory;
  leases: LeaseManager;
  audit: AuditLog;
  guard: LoginGuard;
  sessions: LoginSessions;
  logger: Logger;
  /** Whether cookies are Secure: `auto` follows the request's protocol. */
  secureCookie: boolean | 'auto';
  /** Why a user whose password was right gets no lease here (another user's address, no rights), if they do not. */
  leaseRefusal(user: User, address: string, tokenOnly: boolean): Promise<LeaseRefusal | undefined>;
  /** Times each password check (see gateway-metrics). */
  metrics: Pick<GatewayMetrics, 'timeLogin'>;
}

/** A lease as the API shows it: never the token or its hash. */
export function leaseView(lease: LeaseRecord) {
  return {
    id: lease.id,
    userId: lease.userId,
    attributes: lease.attributes,
    address: lease.address,
    issuedAt: new Date(lease.issuedAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
}

/** A lease as the API shows it. */
export type LeaseView = ReturnType<typeof leaseView>;

/**
 * Login and logout, for people (an HTML form with CSRF protection and a
 * session of roamgate's own) and for programs (JSON: `POST /login { username,
 * password }` -> `201 { token, lease }`). Each success issues a lease bound to
 * the address the login came from. Failures are throttled per address and per
 * (user, address), and slowed per user name. A form login that came with a
 * `return` path (from a guarded route) goes back there.
 */
export function loginRoutes(deps: LoginDeps): Router {
  const router = Router();
  router.get('/login', async (req, res, next) => {
    try {
      const token = await deps.sessions.csrfToken(req, res);
      res.set('Cache-Control', 'no-store').type('html');
      // Already logged in (back from a guarded page, say): the lease and a way to log out; its token is not shown again.
      const user = deps.sessions.userOf(req);
      const leaseId = deps.sessions.leaseIdOf(req);
      const lease = leaseId === undefined ? undefined : deps.leases.get(leaseId);
      if (user && lease) return void res.send(leasePage(user.id, undefined, lease.expiresAt, `${req.baseUrl}/logout`, token));
      res.send(loginPage(actionOf(req), token, undefined, '', safeReturnPath(req.query.return)));
    } catch (error) {
      next(error);
    }
  });
  // Form bodies are parsed by the plugin's router, before its CSRF check.
  router.post('/login', logIn(deps));
  router.post('/logout', logOut(deps));
  /** A CSRF token for JSON clients that use the login session (send it as X-CSRF-Token). */
  router.get('/csrf', async (req, res, next) => {
    try {
      res.set('Cache-Control', 'no-store').json({ csrfToken: await deps.sessions.csrfToken(req, res) });
    } catch (error) {
      next(error);
    }
  });
  return router;
}

function actionOf(req: Request): string {
  return `${req.baseUrl}/login`;
}

/** One login being answered, in the form's language (HTML) or in JSON. */
interface LoginAttempt {
  req: Request;
  res: Response;
  json: boolean;
  username: string;
  password: string;
  address: string;
  returnTo: string | undefined;
  /** JSON `"bindAddress": false` (a local proxy's login): the lease identifies by its token only. */
  tokenOnly: boolean;
}

/** How a login came, for the audit trail and the metrics: a program (JSON) or the form. */
const viaOf = (attempt: Pick<LoginAttempt, 'json'>): 'api' | 'form' => (attempt.json ? 'api' : 'form');

/** Answers a refused login: JSON `{ error }`, or the form again with the message and the name typed. */
async function refuse(
  deps: LoginDeps,
  attempt: Pick<LoginAttempt, 'req' | 'res' | 'json' | 'returnTo'>,
  status: number,
  message: string,
  username = '',
) {
  const { req, res } = attempt;
  if (attempt.json) return void res.status(status).json({ error: message });
  const token = await deps.sessions.csrfToken(req, res);
  const sentence = `${message[0].toUpperCase()}${message.slice(1)}${message.endsWith('.') ? '' : '.'}`;
  res
    .status(status)
    .type('html')
    .send(loginPage(actionOf(req), token, sentence, username, attempt.returnTo));
}

/** Reads and checks the form or JSON fields; undefined when a refusal was sent. */
async function readAttempt(deps: LoginDeps, req: Request, res: Response): Promise<LoginAttempt | undefined> {
  const form = Boolean(req.is('application/x-www-form-urlencoded'));
  const json = !form && Boolean(req.is('application/json'));
  if (!form && !json) return void res.status(415).json({ error: 'send application/json { username, password } or the login form' });
  const body = (req.body ?? {}) as Record<string, unknown>;
  const returnTo = form ? safeReturnPath(body.return) : undefined;
  if (form && !deps.sessions.csrfMatches(req, body._csrf as string | undefined))
    return void (await refuse(deps, { req, res, json, returnTo }, 403, 'the form expired; please try again'));
  for (const [field, max] of [
    ['username', MAX_USERNAME_LENGTH],
    ['password', MAX_PASSWORD_LENGTH],
  ] as const) {
    const value = body[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > max) {
      const error = `${field}: must be a non-empty string of at most ${max} characters`;
      if (json) return void res.status(400).json({ error, field });
      return void (await refuse(deps, { req, res, json, returnTo }, 400, error));
    }
  }
  const address = normalizeAddress(req.ip);
  const tokenOnly = json && body.bindAddress === false;
  return { req, res, json, username: body.username as string, password: body.password as string, address, returnTo, tokenOnly };
}

/** POST /login: checks the fields and the throttle, then the password, then issues the lease. */
function logIn(deps: LoginDeps): RequestHandler {
  return async (req, res, next) => {
    try {
      const attempt = await readAttempt(deps, req, res);
      if (!attempt) return;
      const { username, address } = attempt;
      // The attempt takes its place before the password is checked: logins sent at once cannot overrun the limit.
      const admission = await deps.guard.attempt(username, { address });
      if (!admission.admitted) {
        const blocked = admission.waitSeconds;
        if (deps.guard.firstRefusal(username, address, blocked))
          deps.audit.record('login.throttled', { actor: username, address, detail: { via: viaOf(attempt), retryAfterSeconds: blocked } });
        res.set('Retry-After', String(blocked));
        return void (await refuse(deps, attempt, 429, `too many failed logins; try again in ${blocked} seconds`, username));
      }
      const user = await check(deps, attempt, admission.ticket);
      if (user) await succeed(deps, attempt, user);
    } catch (error) {
      next(error);
    }
  };
}

/**
 * The password check and what it means: the user, or false with the refusal
 * sent. A directory that fails (the host's login threw, a home out of reach)
 * is not the user's fault: the attempt is given back, and 503 so programs retry.
 */
async function check(deps: LoginDeps, attempt: LoginAttempt, ticket: LoginTicket): Promise<User | false> {
  const { username, address } = attempt;
  let user: User | false;
  try {
    user = await deps.metrics.timeLogin(viaOf(attempt), () => deps.directory.verify(username, attempt.password));
  } catch (error) {
    // The store out of use: answered by the router's store handler (503 with the problem and Retry-After).
    if (isStoreUnavailable(error)) {
      ticket.undo();
      throw error;
    }
    const refusal = isRoamgateError(error) && error.code !== 'ROAMGATE_SOURCE_FAILED';
    const temporary = !refusal || error.code === 'ROAMGATE_UPSTREAM_REFUSED' || error.code === 'ROAMGATE_UPSTREAM_TIMEOUT';
    if (temporary) ticket.undo();
    else ticket.failed();
    if (!refusal) {
      deps.logger.error({ event: 'directory-failed', via: 'login-page', err: error }, 'could not check a login');
      await refuse(deps, attempt, 503, LOGIN_UNCHECKED_REASON, username);
      return false;
    }
    deps.audit.record('login.failure', { actor: username, address, detail: { via: viaOf(attempt), reason: error.message } });
    await refuse(deps, attempt, temporary ? 503 : 401, error.message, username);
    return false;
  }
  if (!user) {
    ticket.failed();
    deps.audit.record('login.failure', { actor: username, address, detail: { via: viaOf(attempt) } });
    await refuse(deps, attempt, 401, 'wrong user name or password', username);
    return false;
  }
  ticket.succeeded();
  // The lease manager holds the lease from the moment issue() starts, which keeps a visitor's home lease.
  const confirmed = await reconfirmVisitor(deps.directory, user, username, attempt.password).catch(() => false as const);
  if (!confirmed) await refuse(deps, attempt, 503, LOGIN_UNCHECKED_REASON, username);
  return confirmed;
}

/** Issues the lease; a form login also gets roamgate's session, the lease cookie for guarded routes, and goes back where it came from. */
async function succeed(deps: LoginDeps, attempt: LoginAttempt, user: User): Promise<void> {
  const { req, res, json, address } = attempt;
  const refusal = await deps.leaseRefusal(user, address, attempt.tokenOnly);
  if (refusal) {
    deps.audit.record('lease.refused', { actor: user.id, address, detail: { reason: refusal.reason } });
    return refuse(deps, attempt, refusal.status, refusal.reason, attempt.username);
  }
  const { token, lease } = await deps.leases.issue(user, address, { tokenOnly: attempt.tokenOnly });
  deps.audit.record('login.success', { actor: user.id, address, detail: { via: viaOf(attempt) } });
  deps.audit.record('lease.issued', { actor: user.id, address, detail: { lease: lease.id, expiresAt: lease.expiresAt } });
  res.set('Cache-Control', 'no-store');
  if (json) return void res.status(201).json({ token, lease: leaseView(lease) });
  await deps.sessions.logIn(req, res, user, lease.id);
  res.cookie(LEASE_COOKIE, token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: secureFor(req, deps.secureCookie),
    path: '/',
    maxAge: lease.expiresAt - lease.issuedAt,
  });
  if (attempt.returnTo) return void res.redirect(303, attempt.returnTo);
  const csrf = await deps.sessions.csrfToken(req, res);
  res.type('html').send(leasePage(user.id, token, lease.expiresAt, `${req.baseUrl}/logout`, csrf));
}

/** POST /logout: a lease token revokes its lease; a login session (with its CSRF token) its lease and the session. */
function logOut(deps: LoginDeps): RequestHandler {
  return async (req, res, next) => {
    const caller = callerOf(req);
    try {
      if (caller.via === 'lease-token' && caller.leaseId) {
        if (await deps.leases.revoke(caller.leaseId))
          deps.audit.record('lease.revoked', {
            actor: caller.user?.id,
            address: normalizeAddress(req.ip),
            detail: { lease: caller.leaseId, by: 'logout' },
          });
        return void res.status(204).end();
      }
      if (caller.via !== 'session') return void res.status(401).json({ error: 'not logged in' });
      const presented = (req.get('x-csrf-token') ?? (req.body as { _csrf?: string } | undefined)?._csrf) as string | undefined;
      if (!deps.sessions.csrfMatches(req, presented)) return void res.status(403).json({ error: 'missing or wrong CSRF token' });
      const leaseId = deps.sessions.leaseIdOf(req);
      if (leaseId && (await deps.leases.revoke(leaseId)))
        deps.audit.record('lease.revoked', {
          actor: caller.user?.id,
          address: normalizeAddress(req.ip),
          detail: { lease: leaseId, by: 'logout' },
        });
      await deps.sessions.logOut(req, res);
      res.clearCookie(LEASE_COOKIE, { path: '/' });
      if (req.is('application/x-www-form-urlencoded')) res.redirect(303, `${req.baseUrl}/login`);
      else res.status(204).end();
    } catch (error) {
      next(error);
    }
  };
}

/** Sends 403 unless a session-authenticated write carries a valid CSRF token. Bearer-token calls are not cookie-borne, so need none. */
export function csrfForSessions(sessions: LoginSessions): RequestHandler {
  return (req, res, next) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method) || callerOf(req).via !== 'session') return next();
    const presented = (req.get('x-csrf-token') ?? (req.body as { _csrf?: string } | undefined)?._csrf) as string | undefined;
    if (sessions.csrfMatches(req, presented)) return next();
    res.status(403).json({ error: 'missing or wrong CSRF token (send X-CSRF-Token; get one from GET <mount>/csrf)' });
  };
}
