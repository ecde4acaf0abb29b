import express, { Router } from 'express';
import type { RegistrySource } from '../sources/registry-source';
import type { HealthMonitor } from '../sources/health-monitor';
import type { ServerInfoSource } from '../sources/server-info-source';
import type { Store } from '../store/store';
import type { AccessTable } from './access-table';
import { apiErrorHandler } from './api-errors';
import type { AuditLog } from './audit-log';
import { MAX_API_BODY } from './defaults';
import type { Directory, User } from './directory';
import type { GatewayMetrics } from './gateway-metrics';
import type { LeaseRefusal } from './lease-grant';
import type { GatewayPorts } from './gateway-ports';
import type { LeaseManager } from './lease-manager';
import type { LoginGuard } from './login-guard';
import type { RegistrationThrottle } from './registration-throttle';
import { offeredServices } from './offered-services';
import type { Logger, NormalizedOptions } from './options';
import type { ConfiguredPeer } from './peers';
import { ReplayGuard } from './replay-guard';
import { callerOf, identifyCaller } from './request-auth';
import { identityOfLease, normalizeAddress } from './lease-manager';
import { accessRoutes } from './routes/access-routes';
import { relayRoutes } from './routes/relay-routes';
import { consoleRouter } from './console/console-router';
import type { LiveRelays } from '../adapters/live-relays';
import { auditRoute } from './routes/audit-route';
import { discoveryRoute } from './routes/discovery-route';
import { eventsRoute } from './routes/events-route';
import { healthRoutes, type Readiness } from './routes/health-routes';
import { leaseRoutes } from './routes/lease-routes';
import { csrfForSessions, loginRoutes } from './routes/login-routes';
import { PARSED_BODY_FIX, peerRoutes } from './routes/peer-routes';
import { serversRoutes } from './routes/servers-routes';
import type { ServerResolver } from './server-resolver';
import type { LoginSessions } from './login-sessions';
import { storeUnavailableReplies } from './store-watch';
import type { Clock } from '../clock';

export interface ManagementRouterDeps {
  options: NormalizedOptions;
  logger: Logger;
  /** The saved state being loaded: nothing is answered before it is. */
  ready: Promise<void>;
  store: Store;
  peers: ReadonlyMap<string, ConfiguredPeer>;
  directory: Directory;
  leases: LeaseManager;
  guard: LoginGuard;
  /** Wrong registration secrets per address (shared with the other processes on the store). */
  registrationThrottle: RegistrationThrottle;
  access: AccessTable;
  audit: AuditLog;
  /** The open relays: listed and cut by an admin, checked against a proposed rule change. */
  relays: LiveRelays;
  servers: ServerResolver;
  source: ServerInfoSource;
  registry: RegistrySource;
  health: HealthMonitor;
  /** The adapters listening now: service -> bound port. */
  endpoints: ReadonlyMap<string, number>;
  /** Every port the gateway listens on: never a server's on one of its own addresses. */
  ports: GatewayPorts;
  /** The network's name and the gateway's discovery key, when it answers discovery. */
  pinned: { name: string; publicKey: string } | undefined;
  /** What time it is, for peer requests. */
  clock: Clock;
  /** roamgate's own login sessions (never the host's). */
  sessions: LoginSessions;
  /** What /readyz reports; answered without waiting for `ready` or the store. */
  readiness: Readiness;
  /** The Prometheus metrics served at /metrics (admin). */
  metrics: GatewayMetrics;
  /** Why a checked login gets no lease (see lease-grant). */
  leaseRefusal(user: User, address: string, tokenOnly: boolean): Promise<LeaseRefusal | undefined>;
}

/**
 * The management API, the login page, the operator console, discovery and
 * events, as one Express router. The order matters: peer requests are read raw, before any body
 * parser; the login page's forms are parsed before the CSRF check; callers
 * are identified before any route that asks who they are.
 */
export function managementRouter(deps: ManagementRouterDeps): Router {
  const { options, leases, access, audit } = deps;
  const { sessions } = deps;
  const login = loginRoutes({ ...deps, secureCookie: options.session.secureCookie });
  const router = Router();
  const misplaced = once((at: string) =>
    deps.logger.warn(
      { event: 'mount-path', mountPath: options.mountPath, mountedAt: at },
      `the router is mounted at ${at || '/'} but mountPath says ${options.mountPath}: guarded routes send browsers to the wrong login page`,
    ),
  );
  // Before the wait for the saved state and anything that needs the store: probes must be answered while those are not.
  router.use(healthRoutes(deps.readiness));
  router.use((req, _res, next) => {
    if ((req.baseUrl || '/') !== options.mountPath) misplaced(req.baseUrl);
    void deps.ready.then(() => next(), next);
  });
  // Before the JSON parser: peer requests are signed over their raw bytes.
  router.use(peerSide(deps));
  router.use(express.json({ limit: MAX_API_BODY }));
  // The login page's and the console's forms, parsed before the CSRF check so that their _csrf field is seen.
  router.use(['/login', '/logout', '/console'], express.urlencoded({ extended: false, limit: MAX_API_BODY }));
  router.use(sessions.load);
  router.use(identifyCaller(options.adminToken, leases, (req) => sessions.userOf(req)));
  router.use(csrfForSessions(sessions));
  router.use(login);
  router.use(deps.metrics.route());
  router.use(
    serversRoutes({
      registration: options.registration,
      table: deps.source,
      registry: deps.registry,
      health: deps.health,
      ownPorts: () => deps.ports.own(),
      throttle: deps.registrationThrottle,
      audit,
    }),
  );
  router.use(
    discoveryRoute({
      mode: options.mode,
      publicHost: options.publicHost,
      gateway: deps.pinned,
      endpoints: () => deps.endpoints,
      services: (identity) => deps.servers.serviceNames(identity),
      resolve: deps.servers.resolve,
      identify: (req) => {
        const address = normalizeAddress(req.ip);
        const caller = callerOf(req);
        const lease = caller.leaseId === undefined ? undefined : leases.get(caller.leaseId);
        if (lease) return identityOfLease(lease, address);
        return caller.via === 'session' && caller.user ? { kind: 'user', address, user: caller.user } : { kind: 'anonymous', address };
      },
      allowed: (identity, service) => access.decide(identity, service).allow,
    }),
  );
  router.use(leaseRoutes(leases, audit));
  router.use(eventsFor(deps));
  const accessDeps = { table: access, audit, relays: deps.relays, onAccessChange: () => options.onAccessChange };
  router.use(accessRoutes(accessDeps));
  router.use(relayRoutes(deps.relays, audit));
  router.use(
    consoleRouter({
      source: deps.source,
      health: deps.health,
      relays: deps.relays,
      leases,
      audit,
      peers: deps.peers,
      sessions,
      access: accessDeps,
    }),
  );
  router.use(auditRoute(audit));
  router.use(storeUnavailableReplies());
  router.use(apiErrorHandler((error) => deps.logger.error({ event: 'api-error', err: error }, 'management API error')));
  return router;
}

/** The event streams local proxies follow, counted by the metrics. */
function eventsFor(deps: ManagementRouterDeps): Router {
  const watchServers = (onChange: () => void) => deps.source.watch?.(onChange) ?? (() => undefined);
  return eventsRoute({ leases: deps.leases, watchServers, counted: deps.metrics.eventStream });
}

/** The home side of roaming: what peers ask about this gateway's users. */
function peerSide(deps: ManagementRouterDeps): Router {
  const { access, servers } = deps;
  return peerRoutes({
    realm: deps.options.realm,
    peers: deps.peers,
    replay: new ReplayGuard(deps.store.nonces),
    clock: deps.clock,
    onParsedBody: once(() => deps.logger.error({ event: 'peer-body-parsed' }, PARSED_BODY_FIX)),
    counted: (realm, outcome) => deps.metrics.peerRequest(realm, 'inbound', outcome),
    directory: deps.directory,
    leases: deps.leases,
    guard: deps.guard,
    audit: deps.audit,
    offeredServices: (identity, reveal) =>
      offeredServices(identity, reveal, {
        names: servers.serviceNames,
        allowed: (who, service) => access.decide(who, service).allow,
        resolve: servers.resolve,
      }),
  });
}

/** `action` the first time only. */
function once<A extends unknown[]>(action: (...args: A) => void): (...args: A) => void {
  let done = false;
  return (...args) => {
    if (!done) action(...args);
    done = true;
  };
}
