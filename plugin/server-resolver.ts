import { HTTP_PROXY_SERVICE } from '../adapters/http-proxy-adapter';
import { orderCandidates } from '../adapters/order-candidates';
import { isAnswer } from '../adapters/gateway-context';
import { selectForIdentity } from '../adapters/select-for-identity';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import type { HealthMonitor } from '../sources/health-monitor';
import type { ServerInfoSource } from '../sources/server-info-source';
import { homeCandidates, routeOf } from './home-routing';
import type { PeerOptions } from './options';
import { type ServerAddressRules, serversToUse } from './server-address-rules';

export interface ServerResolverDeps {
  source: ServerInfoSource;
  health: HealthMonitor;
  /** The configured peers by realm: a visitor's home is one of them. */
  peers: ReadonlyMap<string, Pick<PeerOptions, 'url' | 'routes'>>;
  /** The services that have an adapter here. */
  adapterServices: readonly string[];
  /** The address rules every candidate is checked by before it is tried: the gateway's own ports, how names resolve. */
  addressRules: ServerAddressRules;
}

/**
 * Where a connection goes: the servers the table gives the identity here,
 * in the order to try them (the operator's before registered ones, priority,
 * then health), each checked by the address rules (the gateway's own ports
 * are never a server, whichever source named them, so an entry cannot loop
 * connections back into the gateway), or, for a visitor's own services,
 * their home gateway (by the peer's routes).
 */
export class ServerResolver {
  constructor(private readonly deps: ServerResolverDeps) {}

  /**
   * The candidates here for (service, identity), in the order to try them;
   * checked before ordered, so that a refused server cannot stand in for the
   * ones the order skips as unhealthy. At once (an array, no promise) when the
   * source answers at once and no name must be resolved: this runs for every
   * connection.
   */
  private here(service: string, identity: Identity): readonly ServerInfo[] | Promise<readonly ServerInfo[]> {
    const answer = this.deps.source.resolve(service, identity);
    return isAnswer(answer) ? this.usable(service, answer, identity) : answer.then((list) => this.usable(service, list, identity));
  }

  /**
   * Where (service, identity) goes: a visitor's own services to their home gateway (by the peer's routes), the rest
   * to the servers here. An array when that is known at once (see `here`), else a promise; a failure of the source
   * may be thrown.
   */
  readonly candidates = (service: string, identity: Identity): readonly ServerInfo[] | Promise<readonly ServerInfo[]> => {
    const home = identity.kind === 'user' ? identity.user.home : undefined;
    const peer = home && this.deps.peers.get(home.realm);
    if (!home || !peer?.url) return this.here(service, identity);
    const url = peer.url;
    const choose = (local: readonly ServerInfo[]): readonly ServerInfo[] =>
      routeOf(home, service, peer.routes[service], local.length > 0) === 'home' ? homeCandidates(home, service, url) : local;
    const local = this.here(service, identity);
    return isAnswer(local) ? choose(local) : local.then(choose);
  };

  /** As `candidates`, always as a promise (a failure of the source rejects it). */
  readonly resolve = (service: string, identity: Identity): Promise<readonly ServerInfo[]> => {
    try {
      return Promise.resolve(this.candidates(service, identity));
    } catch (error) {
      return Promise.reject(error);
    }
  };

  /** The servers of a source's answer meant for `identity` that the address rules let it use, in the order to try them. */
  private usable(
    service: string,
    answer: readonly ServerInfo[],
    identity: Identity,
  ): readonly ServerInfo[] | Promise<readonly ServerInfo[]> {
    const usable = serversToUse(selectForIdentity(answer, identity), this.deps.addressRules);
    return isAnswer(usable) ? this.order(service, usable) : usable.then((servers) => this.order(service, servers));
  }

  private order(service: string, servers: readonly ServerInfo[]): readonly ServerInfo[] {
    return orderCandidates(servers, (server) => this.deps.health.statusOf(service, server));
  }

  /** Every service this gateway might serve: the table's, the adapters', and a visitor's home's; not the web proxy. */
  readonly serviceNames = async (identity?: Identity): Promise<string[]> =>
    [
      ...new Set([
        ...(this.deps.source.list ? (await this.deps.source.list()).map((entry) => entry.service) : []),
        ...this.deps.adapterServices,
        ...(identity?.kind === 'user' ? (identity.user.home?.services ?? []).map((entry) => entry.service) : []),
      ]),
    ].filter((service) => service !== HTTP_PROXY_SERVICE);
}
