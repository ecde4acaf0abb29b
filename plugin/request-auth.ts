import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { User } from './directory';
import { isAdmin } from './directory';
import type { LeaseManager } from './lease-manager';
import { secretMatches } from './secret-compare';

/** Who is calling the management API, and how they proved it. */
export interface Caller {
  via: 'admin-token' | 'session' | 'lease-token' | 'none';
  admin: boolean;
  user?: User;
  /** The lease presented as a bearer token, when that is how the caller came. */
  leaseId?: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    roamgateCaller?: Caller;
  }
}

/** The caller of a request (set by `identifyCaller`). */
export function callerOf(req: Request): Caller {
  return req.roamgateCaller ?? { via: 'none', admin: false };
}

/**
 * Works out who is calling: `Authorization: Bearer <admin token>` is the
 * admin; `Bearer <lease token>` is that lease's user; otherwise the user of
 * roamgate's own login session (an admin when their `role` attribute is
 * `admin`). The host app's `req.user` is never looked at: a host login is
 * not a roamgate login.
 */
export function identifyCaller(
  adminToken: string | undefined,
  leases: LeaseManager,
  sessionUser: (req: Request) => User | undefined,
): RequestHandler {
  return (req, _res, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (bearer !== undefined) {
      if (secretMatches(bearer, adminToken)) req.roamgateCaller = { via: 'admin-token', admin: true };
      else {
        const found = leases.findByToken(bearer);
        // A lease issued to a peer gateway opens its tunnels, never the management API.
        const lease = found?.peer === undefined ? found : undefined;
        req.roamgateCaller = lease
          ? { via: 'lease-token', admin: false, user: { id: lease.userId, attributes: lease.attributes }, leaseId: lease.id }
          : { via: 'none', admin: false };
      }
    } else {
      const user = sessionUser(req);
      req.roamgateCaller = user ? { via: 'session', admin: isAdmin(user), user } : { via: 'none', admin: false };
    }
    next();
  };
}

function challenge(res: Response, message: string): void {
  res.status(401).set('WWW-Authenticate', 'Bearer realm="roamgate"').json({ error: message });
}

/** Only an admin: the admin token, or the session of a user with `role: admin`. */
export const requireAdmin: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  const caller = callerOf(req);
  if (caller.admin) return next();
  if (caller.via === 'none') return challenge(res, 'admin login or admin token required (Authorization: Bearer <token>)');
  res.status(403).json({ error: 'admin role required' });
};

/** Any identified user (session or lease token) or the admin. */
export const requireCaller: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  if (callerOf(req).via !== 'none') return next();
  challenge(res, 'log in first (session) or present a lease token (Authorization: Bearer <token>)');
};
