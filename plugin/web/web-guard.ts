import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import type { Identity } from '../../identity';
import type { LeaseRecord } from '../../store/store';
import type { AccessTable } from '../access-table';
import { identityOfLease, normalizeAddress, type LeaseManager } from '../lease-manager';
import { cookieValues, LEASE_COOKIE } from '../login-sessions';
import { safeReturnPath } from '../return-path';
import { leaseView, type LeaseView } from '../routes/login-routes';

/** What a guarded route learns of the request: `req.roamgate`. */
export interface WebGrant {
  identity: Identity;
  /** The lease that identified the request; absent for anonymous access. */
  lease?: LeaseView;
  /** The access rule that allowed it; absent when the default decided. */
  rule?: string;
  /** How the request was identified: its bearer token, the lease cookie, its address; absent for anonymous access. */
  via?: 'bearer' | 'cookie' | 'address';
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `gw.protect` and `gw.web` for the requests they let through. */
    roamgate?: WebGrant;
  }
}

/** Whether a request may use a service, and who it is. */
export type WebVerdict =
  | { allow: true; grant: WebGrant }
  | { allow: false; status: 401 | 403; reason: string; identity: Identity; rule?: string };

export interface WebGuardDeps {
  leases: LeaseManager;
  access: AccessTable;
  record(entry: ConnectionRecord): void;
  /** Where the login page is: `<mountPath>/login`. */
  mountPath: string;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The client's address: Express's `req.ip` when the host trusts proxies (its `trust proxy` setting applies), else the socket's. */
export function clientAddress(req: IncomingMessage): string {
  // With trust proxy off (Express's default) req.ip is the socket's address: proxy-addr is skipped.
  const app = (req as Partial<Request>).app;
  return normalizeAddress(app?.get('trust proxy') ? (req as Request).ip : req.socket.remoteAddress);
}

/**
 * Guards web routes with roamgate's leases and access table. A request is
 * identified by `Authorization: Bearer <lease token>`, else by the lease
 * cookie a form login sets, else by a lease bound to its address. A bearer
 * token that is not a live lease is not roamgate's (the upstream may have
 * its own): it identifies nobody and is passed on. Leases issued to peer
 * gateways open tunnels only.
 */
export class WebGuard {
  constructor(private readonly deps: WebGuardDeps) {}

  decide(req: IncomingMessage, service: string, address = clientAddress(req)): WebVerdict {
    const anonymous: Identity = { kind: 'anonymous', address };
    const { lease, via } = this.leaseOf(req, address);
    const identity = lease ? identityOfLease(lease, address) : anonymous;
    const decision = this.deps.access.decide(identity, service);
    if (decision.allow)
      return { allow: true, grant: { identity, ...(lease ? { lease: leaseView(lease), via } : {}), rule: decision.rule } };
    return { allow: false, status: lease ? 403 : 401, reason: decision.reason, identity, rule: decision.rule };
  }

  /** A browser goes to the login page (and comes back here after); a program gets 401 or 403 with the reason. */
  refuse(req: Request, res: Response, verdict: WebVerdict & { allow: false }): void {
    res.set('Cache-Control', 'no-store');
    const browser = (req.method === 'GET' || req.method === 'HEAD') && req.accepts(['json', 'html']) === 'html';
    if (browser) {
      const back = safeReturnPath(req.originalUrl);
      const query = back ? `?return=${encodeURIComponent(back)}` : '';
      return void res.redirect(303, `${this.deps.mountPath === '/' ? '' : this.deps.mountPath}/login${query}`);
    }
    if (verdict.status === 401) res.set('WWW-Authenticate', 'Bearer realm="roamgate"');
    res.status(verdict.status).json({ error: verdict.reason });
  }

  /** Middleware for a host route: the decision, recorded like a connection; a refusal answered; else `req.roamgate` and next(). */
  protect(service: string): RequestHandler {
    return (req, res, next) => {
      const started = performance.now();
      const verdict = this.decide(req, service);
      const identity = verdict.allow ? verdict.grant.identity : verdict.identity;
      this.deps.record({
        service,
        client: identity.address,
        identity: identity.kind === 'user' ? identity.user.id : 'anonymous',
        bytesFromClient: 0,
        bytesFromServer: 0,
        durationMs: Math.round(performance.now() - started),
        outcome: verdict.allow ? 'allowed' : 'refused',
        ...(verdict.allow ? { rule: verdict.grant.rule } : { rule: verdict.rule, reason: verdict.reason, status: verdict.status }),
      });
      if (!verdict.allow) return this.refuse(req, res, verdict);
      req.roamgate = verdict.grant;
      next();
    };
  }

  /** The request's lease: by bearer token, by the lease cookie, by address, in that order. */
  private leaseOf(req: IncomingMessage, address: string): { lease?: LeaseRecord; via?: WebGrant['via'] } {
    const bearer = BEARER.exec(req.headers.authorization ?? '')?.[1];
    const byBearer = bearer === undefined ? undefined : this.userLease(this.deps.leases.findByToken(bearer));
    if (byBearer) return { lease: byBearer, via: 'bearer' };
    const byCookie = cookieValues(req, LEASE_COOKIE)
      .map((token) => this.userLease(this.deps.leases.findByToken(token)))
      .find((found) => found !== undefined);
    if (byCookie) return { lease: byCookie, via: 'cookie' };
    const byAddress = this.userLease(this.deps.leases.findByAddress(address));
    return byAddress ? { lease: byAddress, via: 'address' } : {};
  }

  /** A lease for a user's own use: a peer gateway's opens tunnels only. */
  private userLease(lease: LeaseRecord | undefined): LeaseRecord | undefined {
    return lease?.peer === undefined ? lease : undefined;
  }
}
