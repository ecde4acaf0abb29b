import { formatAddress } from '../net/address';
import type { GatewayLocator } from './gateway-locator';
import type { ListenerAddress } from './local-listeners';
import type { LocalService } from './options';
import type { ReportEvent } from './proxy-notices';
import { describeTarget, type RouteTarget, routeFor } from './route-target';

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
