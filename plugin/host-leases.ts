import type { IncomingMessage } from 'node:http';
import type { Response } from 'express';
import { RoamgateError } from '../errors';
import type { AuditLog } from './audit-log';
import { type HostUser, userOfHost } from './host-directory';
import type { User } from './directory';
import type { LeaseRefusal } from './lease-grant';
import type { LeaseManager } from './lease-manager';
import { LEASE_COOKIE } from './login-sessions';
import { leaseView, type LeaseView } from './routes/login-routes';
import { clientAddress } from './web/web-guard';

/** Shortest lease a host may hand out (seconds). */
export const MIN_HOST_LEASE_SECONDS = 60;

export interface IssueLeaseOptions {
  /** A shorter lifetime than `leases.ttlSeconds` (at least MIN_HOST_LEASE_SECONDS); never a longer one. */
  ttlSeconds?: number;
  /** When given, the lease cookie is set on this response, so the browser's next request to a guarded route is recognised. */
  res?: Response;
}

export interface HostLeasesDeps {
  leases: LeaseManager;
  audit: AuditLog;
  /** The saved leases being loaded: a lease issued before they are could be lost. */
  ready: Promise<void>;
  secureCookie: boolean | 'auto';
  /** Why a user gets no lease at an address (another user's address, no rights), if they do not. */
  leaseRefusal(user: User, address: string, tokenOnly: boolean): Promise<LeaseRefusal | undefined>;
}

/**
 * `gw.issueLease`: a user the host app authenticated its own way (OIDC, SSO,
 * a client certificate) gets a roamgate lease bound to the request's client
 * address, audited as a login (`via: host`) like any other.
 */
export async function issueHostLease(
  deps: HostLeasesDeps,
  req: IncomingMessage,
  hostUser: HostUser,
  options: IssueLeaseOptions = {},
): Promise<{ token: string; lease: LeaseView }> {
  const ttl = options.ttlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < MIN_HOST_LEASE_SECONDS))
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `issueLease: ttlSeconds must be an integer of at least ${MIN_HOST_LEASE_SECONDS}`);
  let user: ReturnType<typeof userOfHost>;
  try {
    user = userOfHost(hostUser);
  } catch (cause) {
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', 'issueLease: the user needs an id (a string)', { cause });
  }
  await deps.ready;
  const address = clientAddress(req);
  const refusal = await deps.leaseRefusal(user, address, false);
  if (refusal) {
    deps.audit.record('lease.refused', { actor: user.id, address, detail: { reason: refusal.reason, via: 'host' } });
    throw new RoamgateError('ROAMGATE_ACCESS_DENIED', refusal.reason);
  }
  const { token, lease } = await deps.leases.issue(user, address, { ttlSeconds: ttl });
  deps.audit.record('login.success', { actor: user.id, address, detail: { via: 'host' } });
  deps.audit.record('lease.issued', { actor: user.id, address, detail: { lease: lease.id, expiresAt: lease.expiresAt, via: 'host' } });
  const res = options.res;
  if (res) {
    const secure = deps.secureCookie === 'auto' ? Boolean((req as { secure?: boolean }).secure) : deps.secureCookie;
    res.cookie(LEASE_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: lease.expiresAt - lease.issuedAt });
  }
  return { token, lease: leaseView(lease) };
}
