import type { Identity } from '../identity';
import type { AccessTable } from './access-table';
import { isAdmin, type User } from './directory';
import type { LeaseManager } from './lease-manager';
import type { ServerResolver } from './server-resolver';

/** Why a checked login gets no lease, and the HTTP status that says so. */
export interface LeaseRefusal {
  status: 403 | 409;
  reason: string;
}

export interface LeaseGrantDeps {
  leases: LeaseManager;
  access: AccessTable;
  servers: Pick<ServerResolver, 'serviceNames'>;
  /** `login.requireRights`: a user who may use no service gets no lease. */
  requireRights: boolean;
  /** `leases.sharedAddresses`. */
  shared: (address: string) => boolean;
  /** The web proxy's service, when its adapter runs (the table never lists it). */
  extraServices: readonly string[];
}

export const ADDRESS_TAKEN_REASON =
  'another user holds a live lease on this address; they must log out first (or the operator lists the address in leases.sharedAddresses)';

/**
 * Whether a user whose password was right gets a lease at `address`. One
 * address, one user: a lease bound to an address makes every client there
 * that user, so a second user's login from it is refused (409) while the
 * first one's lease lives, except on a shared address or for a token-only
 * lease (which binds no address). No rights, no lease: a user the access
 * table lets use no service is told so at login (403), not at each
 * connection.
 */
export async function leaseRefusal(
  deps: LeaseGrantDeps,
  user: User,
  address: string,
  tokenOnly: boolean,
): Promise<LeaseRefusal | undefined> {
  if (deps.requireRights && !(await hasRights(deps, user, address))) return { status: 403, reason: `${user.id} may use no service here` };
  if (tokenOnly || deps.shared(address)) return undefined;
  const holder = deps.leases.findByAddress(address);
  return holder && holder.userId !== user.id ? { status: 409, reason: ADDRESS_TAKEN_REASON } : undefined;
}

/** Whether the access table lets the user use any service (one the table, an adapter or a rule names, or `*`); an admin always may log in. */
async function hasRights(deps: LeaseGrantDeps, user: User, address: string): Promise<boolean> {
  if (isAdmin(user)) return true;
  const identity: Identity = { kind: 'user', address, user };
  const named = deps.access
    .list()
    .map((rule) => rule.service)
    .filter((service) => service !== '*');
  const services = new Set(['*', ...named, ...deps.extraServices, ...(await deps.servers.serviceNames(identity))]);
  for (const service of services) if (deps.access.decide(identity, service).allow) return true;
  return false;
}
