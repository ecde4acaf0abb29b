/**
 * Where a service's connections go, decided from what the local proxy knows
 * (its mode, the gateway's last answer, whether it holds a lease), and the
 * words for it. Pure: the running routes are service-routes.ts.
 */
import { formatAddress } from '../net/address';
import type { DiscoverAnswer, Endpoint } from './gateway-client';
import type { LocalService } from './options';

/** Where a service's connections go now. In gateway mode only the gateway is named, never a server. */
export type RouteTarget =
  | { kind: 'gateway'; url: string }
  | { kind: 'servers'; servers: readonly Endpoint[] }
  | { kind: 'none'; reason: string };

/** What a route is decided from. */
export interface RouteFacts {
  mode: 'direct' | 'gateway';
  /** The gateway's management URL. */
  gateway: string;
  /** The gateway's last `/discover` answer, if any. */
  discovered: DiscoverAnswer | null;
  /** Whether a lease is held at the gateway. */
  leased: boolean;
  /** Who the local proxy logs in as, when it knows (`--user`, or the user of a lease it held). */
  user?: string;
}

/** Where a new connection of this service goes. */
export function routeFor(service: LocalService, facts: RouteFacts): RouteTarget {
  if (facts.mode === 'gateway') {
    if (facts.leased) return { kind: 'gateway', url: facts.gateway };
    // With a user to log in as, the login is under way (or failed, and clients hear why): never ask for the --user already given.
    return facts.user
      ? { kind: 'none', reason: `not logged in at the gateway yet (logging in as ${facts.user})` }
      : { kind: 'none', reason: 'gateway mode needs a login (--user NAME)' };
  }
  const servers = facts.discovered?.services[service] ?? [];
  if (servers.length) return { kind: 'servers', servers };
  // /discover never lists the web proxy in direct mode: the gateway's own web proxy serves it through the tunnel.
  if (facts.leased) return { kind: 'gateway', url: facts.gateway };
  return { kind: 'none', reason: `the gateway names no ${service} server for this network` };
}

/** Where a route goes, in words. */
export function describeTarget(service: LocalService, target: RouteTarget): string {
  switch (target.kind) {
    case 'gateway':
      return `through the gateway ${target.url}`;
    case 'servers': {
      const [first, ...rest] = target.servers.map((server) => formatAddress(server.host, server.port));
      return rest.length ? `${first} (then ${rest.join(', ')})` : first;
    }
    case 'none':
      return `nowhere: ${target.reason} (${service} clients are told so)`;
  }
}
