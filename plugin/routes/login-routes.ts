import { csrfSync } from 'csrf-sync';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type {} from 'express-session';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { isRoamgateError, type RoamgateErrorCode } from '../../errors';
import type { LeaseRecord } from '../../store/store';
import type { AuditLog } from '../audit-log';
import { LOGIN_UNCHECKED_REASON, type Directory, type User } from '../directory';
import { reconfirmVisitor } from '../roaming-directory';
import { normalizeAddress, type LeaseManager } from '../lease-manager';
import type { LoginGuard, LoginTicket } from '../login-guard';
import { leasePage, loginPage } from '../login-page';
import { callerOf } from '../request-auth';
import { secretMatches } from '../secret-compare';

/** Longest user name and password accepted at login (characters). */
export const MAX_USERNAME_LENGTH = 128;
export const MAX_PASSWORD_LENGTH = 1024;

declare module 'express-session' {
  interface SessionData {
    leaseId?: string;
  }
}

export interface LoginDeps {
  directory: Directory;
  leases: LeaseManager;
  audit: AuditLog;
  guard: LoginGuard;
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

type Csrf = ReturnType<typeof csrfSync>;
type LoginPassport = InstanceType<typeof Passport>;

/**
 * Login and logout, for people (an HTML form with CSRF protection and a
 * session) and for programs (JSON: `POST /login { username, password }` ->
 * `201 { token, lease }`). Each success issues a lease bound to the address
 * the login came from. Failures are throttled per address and per (user, address), and slowed per user name.
 */
export function loginRoutes(deps: LoginDeps): { router: Router; passport: LoginPassport; csrf: Csrf } {
  const router = Router();
  const passport = loginPassport(deps.directory);
  const csrf = timingSafeCsrf();

  router.get('/login', (req, res) => {
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(loginPage(actionOf(req), csrf.generateToken(req, true)));
  });
  // Form bodies are parsed by the plugin's router, before its CSRF check.
  router.post('/login', logIn(deps, passport, csrf));
  router.post('/logout', logOut(deps, csrf));
  /** A CSRF token for JSON clients that use the login session (send it as X-CSRF-Token). */
  router.get('/csrf', (req, res) => {
    res.set('Cache-Control', 'no-store').json({ csrfToken: csrf.generateToken(req) });
  });

  return { router, passport, csrf };
}

/** roamgate's own passport instance: the directory's users, by id in the session. */
function loginPassport(directory: Directory): LoginPassport {
  const passport = new Passport();
  // A refusal with a reason (unknown realm, a home that said no or cannot be reached) is a failed login that says why.
  passport.use(
    new LocalStrategy(
      (username, password, done) =>
        void directory.verify(username, password).then(
          (user) => done(null, user),
          (error: unknown) =>
            isRoamgateError(error) && error.code !== 'ROAMGATE_SOURCE_FAILED'
              ? done(null, false, { message: error.message, code: error.code } as { message: string })
              : done(error),
        ),
    ),
  );
  passport.serializeUser((user, done) => done(null, (user as User).id));
  passport.deserializeUser((id: string, done) => void directory.get(id).then((user) => done(null, user ?? false), done));
  return passport;
}

/** csrf-sync, with its check made in constant time. */
function timingSafeCsrf(): Csrf {
  const tokenFromRequest = (req: Request) =>
    (req.get('x-csrf-token') ?? (req.body as { _csrf?: string } | undefined)?._csrf) as string | undefined;
  const synced = csrfSync({ getTokenFromRequest: tokenFromRequest });
  // csrf-sync's own check compares with ===, which can leak how much of a guess is right through its timing.
  return { ...synced, isRequestValid: (req) => secretMatches(tokenFromRequest(req), synced.getTokenFromState(req) ?? undefined) };
}

function actionOf(req: Request): string {
  return `${req.baseUrl}/login`;
}

/** One login being answered, in the form's language (HTML) or in JSON. */
interface LoginAttempt {
  req: Request;
  res: Response;
  next: NextFunction;
  json: boolean;
  username: string;
  password: string;
  address: string;
  /** The attempt's place in the login throttle, settled with what the check found. */
  ticket: LoginTicket;
}

/** POST /login: checks the fields and the throttle, then the password (passport-local), then issues the lease. */
function logIn(deps: LoginDeps, passport: LoginPassport, csrf: Csrf): RequestHandler {
  return async (req, res, next) => {
    const form = Boolean(req.is('application/x-www-form-urlencoded'));
    const json = !form && Boolean(req.is('application/json'));
    if (!form && !json) return void res.status(415).json({ error: 'send application/json { username, password } or the login form' });
    if (form && !csrf.isRequestValid(req))
      return void res
        .status(403)
        .type('html')
        .send(loginPage(actionOf(req), csrf.generateToken(req, true), 'The form expired; please try again.'));
    const body = (req.body ?? {}) as Record<string, unknown>;
    for (const [field, max] of [
      ['username', MAX_USERNAME_LENGTH],
      ['password', MAX_PASSWORD_LENGTH],
    ] as const) {
      const value = body[field];
      if (typeof value !== 'string' || value.length === 0 || value.length > max) {
        const error = `${field}: must be a non-empty string of at most ${max} characters`;
        if (json) return void res.status(400).json({ error, field });
        return void res
          .status(400)
          .type('html')
          .send(loginPage(actionOf(req), csrf.generateToken(req, true), error));
      }
    }
    const username = body.username as string;
    const address = normalizeAddress(req.ip);
    // The attempt takes its place before the password is checked: logins sent at once cannot overrun the limit.
    const admission = await deps.guard.attempt(username, { address });
    if (!admission.admitted) {
      const blocked = admission.waitSeconds;
      if (deps.guard.firstRefusal(username, address, blocked))
        deps.audit.record('login.throttled', { actor: username, address, detail: { retryAfterSeconds: blocked } });
      res.set('Retry-After', String(blocked));
      if (json) return void res.status(429).json({ error: `too many failed logins; try again in ${blocked} s` });
      return void res
        .status(429)
        .type('html')
        .send(
          loginPage(actionOf(req), csrf.generateToken(req, true), `Too many failed logins; try again in ${blocked} seconds.`, username),
        );
    }
    const { ticket } = admission;
    const attempt: LoginAttempt = { req, res, next, json, username, password: body.password as string, address, ticket };
    try {
      passport.authenticate(
        'local',
        { session: false },
        (error: unknown, user: User | false, info?: { message?: string; code?: RoamgateErrorCode }) =>
          void settleLogin(deps, csrf, attempt, error, user, info),
      )(req, res, next);
    } catch (error) {
      ticket.undo();
      next(error);
    }
  };
}

/** What passport-local found: a failure answered (and given back when it was not the user's), or a lease issued. */
async function settleLogin(
  deps: LoginDeps,
  csrf: Csrf,
  attempt: LoginAttempt,
  error: unknown,
  user: User | false,
  info?: { message?: string; code?: RoamgateErrorCode },
): Promise<void> {
  const { req, res, next, json, username, address, ticket } = attempt;
  try {
    if (error) {
      ticket.undo();
      return next(error);
    }
    if (!user) {
      // A home that could not be asked is not the user's fault: the attempt is given back, and 503 so programs retry.
      const unreachable = info?.code === 'ROAMGATE_UPSTREAM_REFUSED' || info?.code === 'ROAMGATE_UPSTREAM_TIMEOUT';
      const reason = info?.code ? info.message! : 'wrong user name or password';
      if (unreachable) ticket.undo();
      else ticket.failed();
      deps.audit.record('login.failure', { actor: username, address, ...(info?.code ? { detail: { reason } } : {}) });
      const status = unreachable ? 503 : 401;
      if (json) return void res.status(status).json({ error: reason });
      return void res
        .status(status)
        .type('html')
        .send(
          loginPage(
            actionOf(req),
            csrf.generateToken(req, true),
            info?.code ? `${reason[0].toUpperCase()}${reason.slice(1)}.` : 'Wrong user name or password.',
            username,
          ),
        );
    }
    ticket.succeeded();
    // The lease manager holds the lease from the moment issue() starts, which keeps a visitor's home lease.
    const confirmed = await reconfirmVisitor(deps.directory, user, username, attempt.password).catch(() => false as const);
    if (!confirmed) {
      if (json) return void res.status(503).json({ error: LOGIN_UNCHECKED_REASON });
      return void res
        .status(503)
        .type('html')
        .send(
          loginPage(
            actionOf(req),
            csrf.generateToken(req, true),
            `${LOGIN_UNCHECKED_REASON[0].toUpperCase()}${LOGIN_UNCHECKED_REASON.slice(1)}.`,
            username,
          ),
        );
    }
    const { token, lease } = await deps.leases.issue(confirmed, address);
    deps.audit.record('login.success', { actor: confirmed.id, address, detail: { via: json ? 'api' : 'form' } });
    deps.audit.record('lease.issued', { actor: confirmed.id, address, detail: { lease: lease.id, expiresAt: lease.expiresAt } });
    if (json)
      return void res
        .status(201)
        .set('Cache-Control', 'no-store')
        .json({ token, lease: leaseView(lease) });
    req.login(confirmed, (loginError) => {
      if (loginError) return next(loginError);
      req.session.leaseId = lease.id;
      res
        .set('Cache-Control', 'no-store')
        .type('html')
        .send(leasePage(confirmed.id, token, lease.expiresAt, `${req.baseUrl}/logout`, csrf.generateToken(req, true)));
    });
  } catch (failure) {
    next(failure);
  }
}

/** POST /logout: a lease token revokes its lease; a login session (with its CSRF token) its lease and the session. */
function logOut(deps: LoginDeps, csrf: Csrf): RequestHandler {
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
      if (!csrf.isRequestValid(req)) return void res.status(403).json({ error: 'missing or wrong CSRF token' });
      const leaseId = req.session.leaseId;
      if (leaseId && (await deps.leases.revoke(leaseId)))
        deps.audit.record('lease.revoked', {
          actor: caller.user?.id,
          address: normalizeAddress(req.ip),
          detail: { lease: leaseId, by: 'logout' },
        });
      req.logout((error) => {
        if (error) return next(error);
        req.session.destroy(() => {
          res.clearCookie(SESSION_COOKIE);
          if (req.is('application/x-www-form-urlencoded')) res.redirect(303, `${req.baseUrl}/login`);
          else res.status(204).end();
        });
      });
    } catch (error) {
      next(error);
    }
  };
}

/** The session cookie's name. */
export const SESSION_COOKIE = 'roamgate.sid';

/** Sends 403 unless a session-authenticated write carries a valid CSRF token. Bearer-token calls are not cookie-borne, so need none. */
export function csrfForSessions(csrf: Csrf) {
  return (req: Request, res: Response, next: () => void) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method) || callerOf(req).via !== 'session' || csrf.isRequestValid(req)) return next();
    res.status(403).json({ error: 'missing or wrong CSRF token (send X-CSRF-Token; get one from GET <mount>/csrf)' });
  };
}
