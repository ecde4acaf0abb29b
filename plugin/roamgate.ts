import { randomBytes } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { tunnelEndpoint } from '../adapters/tunnel-endpoint';
import { ConnectionPolicy } from './connection-policy';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './defaults';
import { GatewayLifecycle } from './gateway-lifecycle';
import { GatewayMetrics } from './gateway-metrics';
import { buildGatewayState } from './gateway-state';
import type { HostUser } from './host-directory';
import { issueHostLease, type IssueLeaseOptions } from './host-leases';
import { HTTP_PROXY_SERVICE, type HttpProxyAdapter } from '../adapters/http-proxy-adapter';
import type { User } from './directory';
import { leaseRefusal } from './lease-grant';
import { LoginSessions } from './login-sessions';
import { managementRouter } from './management-router';
import { normalizeOptions, type Logger, type RoamgateOptions } from './options';
import { buildAdapters } from './protocol-adapters';
import { GatewayReload, type ReloadResult } from './gateway-reload';
import { settledState } from './routes/health-routes';
import type { LeaseView } from './routes/login-routes';
import { StoredSessions } from './session-store';
import { isOwnStore } from './store-file';
import { WebGuard } from './web/web-guard';
import { createWebProxy, type WebProxyHandler } from './web/web-proxy';
import { normalizeWebRouteOptions, type WebRouteOptions } from './web/web-route-options';
import { WebUpgrades } from './web/web-upgrades';

/**
 * A roamgate gateway: the management API as an Express router plus the
 * protocol adapters.
 * @example
 * const gw = roamgate({ adapters: { smtp: { port: 2525 } }, servers: { smtp: [{ host: '10.0.0.5', port: 25 }] },
 *                       access: [{ subject: 'anonymous', service: 'smtp', allow: true }] });
 * app.use('/roamgate', gw.router);
 * await gw.listen();
 */
export interface Roamgate {
  /** The management API: server info, registration, discovery. Mount it where you like. */
  readonly router: Router;
  /** Starts one listener per configured adapter and the health checks; resolves to the bound addresses. */
  listen(): Promise<Record<string, AddressInfo>>;
  /**
   * Adds the tunnel endpoint to the HTTP(S) server the router is served on
   * (`CONNECT <service>.roamgate:1` with a lease token, for local proxies in
   * gateway mode), and keeps that server's port from ever being a proxy destination.
   */
  attach(server: HttpServer): void;
  /**
   * Express middleware guarding one of the host's routes with roamgate's leases and access table for `service`:
   * `Authorization: Bearer <lease token>`, the lease cookie of a login-page login, or a lease bound to the client's
   * address. Allowed: `req.roamgate = { identity, lease, rule }` and next(). Refused: a browser is sent to the login page
   * (and back after), a program gets 401/403 JSON.
   */
  protect(service: string): RequestHandler;
  /**
   * An identity-aware reverse proxy for `service` (on http-proxy-middleware): what `protect` does, then the request
   * goes to the server the table names for `service` and this identity (health and priority order, failover while
   * nothing was sent), with `X-Roamgate-User`, `X-Roamgate-Attributes` and, with `web.assertionSecret`, a signed
   * `X-Roamgate-Assertion`. WebSockets under `options.path` are proxied once `attach(server)` was called.
   */
  web(service: string, options?: WebRouteOptions): WebProxyHandler;
  /**
   * Hands a user the host authenticated its own way a lease for the request's client address, audited as a login.
   * With `options.res` the lease cookie is set too, for the browser's next request to a guarded route.
   */
  issueLease(req: IncomingMessage, user: HostUser, options?: IssueLeaseOptions): Promise<{ token: string; lease: LeaseView }>;
  /**
   * Applies new options (as roamgate() takes them) to the running gateway: the server table, config users, access
   * rules, peers, the login throttle and the adapters (ports, limits, certificates) change for the next connection;
   * open relays the new rules still allow are not touched, and an adapter whose port changed drains on its old one.
   * Options that take a restart keep their running value (named in the result and a warning). Rejects with
   * ROAMGATE_INVALID_OPTIONS saying why when the options do not validate or a port cannot be bound: nothing changed.
   * @example const { changed } = await gw.reload({ ...options, access: [...options.access, newRule] });
   */
  reload(options: RoamgateOptions): Promise<ReloadResult>;
  /** Stops accepting, lets open relays finish for `shutdownGraceMs`, then closes them and releases every timer. */
  close(): Promise<void>;
}

/** Each gateway's metrics, for the standalone server's `metrics.port` (not part of the public API). */
const gatewayMetrics = new WeakMap<Roamgate, GatewayMetrics>();

/** @internal The metrics of a gateway roamgate() made. */
export function metricsOf(gateway: Roamgate): GatewayMetrics {
  const metrics = gatewayMetrics.get(gateway);
  if (!metrics) throw new TypeError('not a gateway made by roamgate()');
  return metrics;
}

/** Creates a gateway. Options are validated here; a bad one throws ROAMGATE_INVALID_OPTIONS naming its path. */
export function roamgate(userOptions: RoamgateOptions): Roamgate {
  const options = normalizeOptions(userOptions);
  const logger: Logger = options.logger ?? pino({ name: 'roamgate' });
  const state = buildGatewayState(options, logger);
  const { ports } = state;
  const metrics = new GatewayMetrics(state);
  state.audit.observe(metrics.audited);
  state.peers.observer.outbound = (realm, outcome) => metrics.peerRequest(realm, 'outbound', outcome);
  const policy = new ConnectionPolicy({ ...state, logger, peers: state.peers.all, ports, metrics });
  const adapters = buildAdapters(options.adapters, policy);
  const tunnel = tunnelEndpoint({
    context: policy,
    limits: { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS },
    httpProxy: () => adapters.get('http-proxy') as HttpProxyAdapter | undefined,
    identityOfToken: policy.identifyToken,
    caps: options.tunnel,
  });
  const pinned = state.discovery?.pinned;
  const sessions = new LoginSessions({
    rows: new StoredSessions(state.store, state.clock),
    directory: state.directory,
    secret: options.session.secret ?? randomBytes(32).toString('hex'),
    maxAgeMs: options.session.maxAgeSeconds * 1000,
    secureCookie: options.session.secureCookie,
    clock: state.clock,
  });
  const grant = {
    ...state,
    requireRights: options.login.requireRights,
    shared: (address: string) => state.leases.isShared(address),
    extraServices: options.adapters['http-proxy'] ? [HTTP_PROXY_SERVICE] : [],
  };
  const refusalOf = (user: User, address: string, tokenOnly: boolean) => leaseRefusal(grant, user, address, tokenOnly);
  const guard = new WebGuard({ leases: state.leases, access: state.access, record: policy.record, mountPath: options.mountPath });
  const router = managementRouter({
    ...state,
    options,
    logger,
    peers: state.peers.all,
    endpoints: ports.endpoints,
    pinned,
    sessions,
    leaseRefusal: refusalOf,
    metrics,
    readiness: { serving: () => lifecycle.serving(), storeHealth: state.storeHealth, savedState: settledState(state.ready) },
  });
  const ownStore = isOwnStore(options.store) ? state.store : undefined;
  const lifecycle = new GatewayLifecycle({ ...state, options, logger, ports, adapters: [...adapters.values()], tunnel, ownStore });
  const { listen, attach, close } = lifecycle;
  const { reload } = new GatewayReload({ options, logger, state, context: policy, adapters, lifecycle });
  const hostLeases = { ...state, secureCookie: options.session.secureCookie, leaseRefusal: refusalOf };
  const upgrades = new WebUpgrades();
  const webDeps = {
    guard,
    resolve: state.servers.resolve,
    reportHealth: policy.reportHealth,
    record: policy.record,
    track: policy.track,
    logger,
  };
  const web = (service: string, routeOptions?: WebRouteOptions) => {
    const route = createWebProxy(service, normalizeWebRouteOptions(service, routeOptions), {
      ...webDeps,
      ...(options.web.assertionSecret === undefined ? {} : { assertionSecret: options.web.assertionSecret }),
    });
    upgrades.add(route);
    return route;
  };
  const gateway: Roamgate = {
    router,
    listen,
    attach: (server) => {
      attach(server);
      upgrades.attach(server);
    },
    protect: (service) => guard.protect(service),
    web,
    issueLease: (req, user, leaseOptions) => issueHostLease(hostLeases, req, user, leaseOptions),
    reload,
    close,
  };
  gatewayMetrics.set(gateway, metrics);
  return gateway;
}
