import { formatAddress } from '../net/address';
import type { DiscoverAnswer, Endpoint } from './gateway-client';
import type { GatewayLocator } from './gateway-locator';
import type { ListenerAddress } from './local-listeners';
import type { LocalService } from './options';
import type { ReportEvent } from './proxy-notices';

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

/** The routes of a running local proxy: decided from the gateway's latest answer, and announced when they change. */
export class ServiceRoutes {
  /** Per service, the route last announced. */
  private readonly announced = new Map<LocalService, string>();

  constructor(
    private readonly services: readonly LocalService[],
    private readonly locator: GatewayLocator,
    private readonly leased: () => boolean,
    private readonly loginName: () => string | undefined,
    private readonly addressOf: (service: LocalService) => ListenerAddress | undefined,
    private readonly report: ReportEvent,
  ) {}

  /** Where a new connection of this service goes, now. */
  route(service: LocalService): RouteTarget {
    const mode = this.locator.mode();
    const leased = this.leased();
    // Who would log in is looked up only when it is part of the answer (it may read the saved lease).
    const user = mode === 'gateway' && !leased ? this.loginName() : undefined;
    return routeFor(service, {
      mode,
      gateway: this.locator.url ?? '',
      discovered: this.locator.discovered,
      leased,
      ...(user ? { user } : {}),
    });
  }

  /** Fetches /discover; announces routes that changed when asked. */
  async refresh(announce: boolean): Promise<void> {
    if ((await this.locator.discover()) && announce) this.announce();
  }

  /** One line per service whose route differs from the last one announced. */
  announce(): void {
    if (!this.locator.discovered) return;
    const mode = this.locator.mode();
    for (const service of this.services) {
      const address = this.addressOf(service);
      if (!address) continue;
      const target = this.route(service);
      const words = `${mode} ${describeTarget(service, target)}`;
      if (this.announced.get(service) === words) continue;
      this.announced.set(service, words);
      this.report({ type: 'route', service, address: formatAddress(address.host, address.port), mode, target });
    }
  }
}
