import { systemClock } from '../clock';
import { RoamgateError } from '../errors';
import { formatAddress } from '../net/address';
import { GatewayFollower } from './gateway-follower';
import { GatewayLocator } from './gateway-locator';
import { GatewayOutage } from './gateway-outage';
import { LeaseKeeper, type LeaseState } from './lease-keeper';
import { LocalListeners, type ListenerAddress } from './local-listeners';
import { NetworkWatch } from './network-watch';
import { normalizeLocalOptions, type ListenerName, type LocalProxyOptions, type NormalizedLocalOptions } from './options';
import { PAC_PATHS } from './pac-file';
import { NoticeBoard, type LocalProxyNotice } from './proxy-notices';
import { describeTarget } from './route-target';
import { ServiceRoutes } from './service-routes';
import { StateDir } from './state-dir';
import { type LocalStatus, STATUS_REFRESH_MS, writeStatus } from './status-file';
import { UpstreamConnector } from './upstream-connector';

export type { ListenerAddress } from './local-listeners';

/** What a running local proxy is doing, for callers and tests. */
export interface LocalProxyStatus {
  gateway: string | null;
  mode: 'direct' | 'gateway' | null;
  lease: LeaseState;
  user?: string;
}

/**
 * A running local proxy.
 * @example
 * const proxy = await startLocalProxy({ gateway: 'http://10.0.0.1:8080/roamgate', user: 'alice', password: 'alice-pw', onEvent: (n) => console.log(n.text) });
 * proxy.listeners.smtp; // { host: '127.0.0.1', port: 2525 }
 * await proxy.close();
 */
export interface LocalProxy {
  /** Where each listener is bound (services, and `pac` when served). */
  readonly listeners: Readonly<Partial<Record<ListenerName, ListenerAddress>>>;
  status(): LocalProxyStatus;
  /** Every notice after start (the ones during start go to the `onEvent` option). */
  on(event: 'event', listener: (notice: LocalProxyNotice) => void): LocalProxy;
  off(event: 'event', listener: (notice: LocalProxyNotice) => void): LocalProxy;
  /** Stops accepting, closes open connections and the event stream. */
  close(): Promise<void>;
}

/** Options of {@link startLocalProxy}: the validated ones, and `onEvent` to hear every notice from the start. */
export type StartLocalProxyOptions = LocalProxyOptions & { onEvent?: (notice: LocalProxyNotice) => void };

/**
 * Starts a local proxy: binds one loopback listener per service (and the PAC
 * file), finds the gateway (`gateway` or discovery on the LAN), logs in, and
 * relays each client connection straight to the server the gateway names
 * (direct mode) or through a tunnel to the gateway (gateway mode), following
 * the gateway's event stream to stay current. Rejects with a RoamgateError
 * whose message says what to do (bad option, port in use, no gateway found,
 * wrong password).
 */
export async function startLocalProxy(input: StartLocalProxyOptions): Promise<LocalProxy> {
  const { onEvent, ...rest } = (input ?? {}) as StartLocalProxyOptions;
  if (onEvent !== undefined && typeof onEvent !== 'function')
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', 'onEvent: must be a function');
  const proxy = new LocalProxyRuntime(normalizeLocalOptions(rest), new NoticeBoard(onEvent));
  try {
    await proxy.start();
  } catch (error) {
    await proxy.close({ quiet: true });
    throw error;
  }
  const handle: LocalProxy = {
    listeners: Object.freeze({ ...proxy.listeners.addresses }),
    status: () => proxy.status(),
    on: (_event, listener) => {
      proxy.notices.on(listener);
      return handle;
    },
    off: (_event, listener) => {
      proxy.notices.off(listener);
      return handle;
    },
    close: () => proxy.close(),
  };
  return handle;
}

/** The parts of a local proxy, wired: each owns its own state. */
class LocalProxyRuntime {
  readonly listeners: LocalListeners;
  private readonly closing = new AbortController();
  private readonly locator: GatewayLocator;
  private readonly leases: LeaseKeeper;
  private readonly routes: ServiceRoutes;
  private readonly follower: GatewayFollower;
  private readonly network: NetworkWatch;
  private readonly state: StateDir;
  private readonly outage = new GatewayOutage(systemClock);
  private readonly startedAt = new Date().toISOString();
  private statusTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | null = null;

  constructor(
    private readonly options: NormalizedLocalOptions,
    readonly notices: NoticeBoard,
  ) {
    const state = new StateDir(options.stateDir);
    this.state = state;
    const report = notices.report;
    const signal = this.closing.signal;
    this.locator = new GatewayLocator(options, state, report, () => this.leases.leaveGateway());
    this.leases = new LeaseKeeper(options, state, this.locator, report, signal);
    this.locator.leaseToken = () => this.leases.current?.token;
    this.routes = new ServiceRoutes(
      options.services,
      this.locator,
      () => this.leases.current !== null,
      () => this.leases.loginName(),
      (service) => this.listeners.addresses[service],
      report,
    );
    const configured = options.gateway !== undefined;
    const outage = this.outage;
    this.follower = new GatewayFollower(options.limits, this.locator, this.routes, this.leases, outage, report, signal, configured);
    const connector = new UpstreamConnector(
      options.limits.connectTimeoutMs,
      this.locator,
      this.routes,
      this.leases,
      outage,
      () => this.follower.suspectGatewayLost(),
      configured,
    );
    outage.onBegin((lost) => connector.gatewayGone(lost));
    this.network = new NetworkWatch(options.limits.networkPollMs, (change) => {
      connector.cutStranded(change.gone);
      void this.follower.networkChanged(change);
    });
    this.listeners = new LocalListeners(options, state, (service) => connector.connect(service), signal);
    // Every notice may change what `roamgate local status` shows.
    notices.on(() => this.saveStatus());
  }

  /** Writes status.json in the state directory: gateway, mode, lease, the route of each service, an outage under way. */
  saveStatus(state: LocalStatus['state'] = 'running'): void {
    const lease = this.leases.current;
    const leaseState = this.leases.state();
    const mode = this.locator.discovered ? this.locator.mode() : null;
    const routes = this.options.services.flatMap((service) => {
      const address = this.listeners.addresses[service];
      if (!address || !mode) return [];
      return [
        {
          service,
          listen: formatAddress(address.host, address.port),
          route: `${mode} ${describeTarget(service, this.routes.route(service))}`,
        },
      ];
    });
    const outage = this.outage.current;
    writeStatus(this.state, {
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      state,
      gateway: this.locator.url,
      mode,
      lease: {
        state: leaseState,
        ...(lease ? { user: lease.user } : {}),
        ...(lease && leaseState === 'live' ? { expiresAt: lease.expiresAt } : {}),
      },
      ...(outage ? { outage: { gateway: outage.gateway, reason: outage.reason } } : {}),
      routes,
    });
  }

  status(): LocalProxyStatus {
    const lease = this.leases.current;
    return {
      gateway: this.locator.url,
      mode: this.locator.discovered ? this.locator.mode() : null,
      lease: this.leases.state(),
      ...(lease ? { user: lease.user } : {}),
    };
  }

  async start(): Promise<void> {
    await this.listeners.bind();
    await this.locator.locate();
    await this.routes.refresh(false);
    if (this.locator.mode() === 'gateway' && !this.options.user && !this.leases.savedLease()) {
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `user: the gateway at ${this.locator.url} works in gateway mode, which needs a login: pass --user NAME`,
      );
    }
    await this.leases.ensure();
    // In direct mode the gateway names a logged-in user's own servers: ask again with the lease.
    if (this.locator.mode() === 'direct' && this.leases.current) await this.routes.refresh(false);
    this.routes.announce();
    const { pac, 'http-proxy': proxy } = this.listeners.addresses;
    if (pac && proxy)
      this.notices.report({
        type: 'pac',
        url: `http://${formatAddress(pac.host, pac.port)}${PAC_PATHS[0]}`,
        proxy: formatAddress(proxy.host, proxy.port),
      });
    this.follower.start();
    if (this.options.limits.networkPollMs > 0) await this.network.start();
    this.saveStatus();
    this.statusTimer = setInterval(() => this.saveStatus(), STATUS_REFRESH_MS);
    this.statusTimer.unref();
  }

  close(how: { quiet?: boolean } = {}): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      clearInterval(this.statusTimer);
      this.network.close();
      this.leases.close();
      await this.listeners.close();
      await this.follower.settled();
      if (!how.quiet) this.notices.report({ type: 'stopped' });
      if (this.statusTimer) this.saveStatus('stopped');
    })();
    return this.closed;
  }
}
