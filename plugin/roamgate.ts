import express, { Router } from 'express';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { statSync } from 'node:fs';
import pino from 'pino';
import type { ConnectionRecord, GatewayContext } from '../adapters/gateway-context';
import { HTTP_PROXY_SERVICE, HttpProxyAdapter } from '../adapters/http-proxy-adapter';
import { lineRelayHandler } from '../adapters/line-relay';
import { loginRelayHandler, type LoginProtocol, type LoginSettings } from '../adapters/login-relay';
import { acceptTls, loadSecureContext } from '../adapters/tls';
import { tunnelEndpoint } from '../adapters/tunnel-endpoint';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import type { SecureContext } from 'node:tls';
import { nntpProtocol } from '../adapters/nntp-adapter';
import { pop3Protocol } from '../adapters/pop3-adapter';
import { orderCandidates } from '../adapters/resolve-server';
import { selectForIdentity } from '../adapters/select-for-identity';
import { smtpProtocol } from '../adapters/smtp-adapter';
import { TcpListener } from '../adapters/tcp-listener';
import { RoamgateError } from '../errors';
import { formatHttpResponse } from '../protocols/http/status';
import { CompositeSource } from '../sources/composite-source';
import { FileSource } from '../sources/file-source';
import { HealthMonitor } from '../sources/health-monitor';
import { RegistrySource } from '../sources/registry-source';
import type { ServerInfoSource } from '../sources/server-info-source';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import { StaticSource } from '../sources/static-source';
import { apiErrorHandler } from './api-errors';
import { randomBytes } from 'node:crypto';
import session from 'express-session';
import { LiveRelays } from '../adapters/live-relays';
import type { Store } from '../store/store';
import { openSqliteStore } from '../store/sqlite-store';
import { AccessTable } from './access-table';
import { AuditLog } from './audit-log';
import { LOGIN_UNCHECKED_REASON, StoreDirectory, type Directory, type User } from './directory';
import { CachingDirectory } from './directory-cache';
import { identityOfLease, LeaseManager, normalizeAddress } from './lease-manager';
import { LoginGuard } from './login-guard';
import { DiscoveryResponder } from './discovery-responder';
import { loadGatewayKey } from './gateway-key';
import { publicKeyOf } from '../protocols/discovery-message';
import { DEFAULT_MDNS_PORT } from '../protocols/mdns-announcement';
import { identifyCaller } from './request-auth';
import { accessRoutes } from './routes/access-routes';
import { auditRoute } from './routes/audit-route';
import { eventsRoute } from './routes/events-route';
import { leaseRoutes } from './routes/lease-routes';
import { csrfForSessions, loginRoutes, SESSION_COOKIE } from './routes/login-routes';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, ENDED_LEASE_RETENTION_MS, HOUSEKEEPING_INTERVAL_MS, MAX_API_BODY } from './defaults';
import { normalizeOptions, type Logger, type NormalizedOptions, type PeerOptions, type RoamgateOptions } from './options';
import { discoveryRoute } from './routes/discovery-route';
import { federationRoutes } from './routes/federation-routes';
import { FederatedDirectory, reconfirmVisitor, splitRealm, type HomePeer } from './federated-directory';
import { HomeRefresher } from './home-refresh';
import { homeCandidates, routeOf } from './home-routing';
import { offeredServices } from './offered-services';
import { PeerClient } from './peer-client';
import { ReplayGuard } from './replay-guard';
import { StoredSessions } from './session-store';
import { isRoamgateError } from '../errors';
import { serversRoutes } from './routes/servers-routes';

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
  /** Stops accepting, lets open relays finish for `shutdownGraceMs`, then closes them and releases every timer. */
  close(): Promise<void>;
}

const LINE_PROTOCOLS: Record<'smtp' | 'pop3' | 'nntp', LoginProtocol> = { smtp: smtpProtocol, pop3: pop3Protocol, nntp: nntpProtocol };

/** Creates a gateway. Options are validated here; a bad one throws ROAMGATE_INVALID_OPTIONS naming its path. */
export function roamgate(userOptions: RoamgateOptions): Roamgate {
  const options = normalizeOptions(userOptions);
  const logger: Logger = options.logger ?? pino({ name: 'roamgate' });
  const ownsStore = 'path' in options.store;
  const store: Store = 'path' in options.store ? openStore(options.store.path, logger) : options.store;
  const { source, registry } = buildSources(options, logger, store);
  const health = new HealthMonitor(source, {
    intervalMs: options.health.intervalMs,
    timeoutMs: options.health.timeoutMs,
    onChange: (server, status) =>
      logger[status.state === 'healthy' ? 'info' : 'warn']({ event: 'health', service: server.service, server: `${server.host}:${server.port}`, state: status.state, reason: status.reason }, `server ${status.state}`),
  });
  const storeDirectory = new StoreDirectory(options.users, store);
  const localDirectory: Directory = options.login.cacheSeconds > 0 ? new CachingDirectory(storeDirectory, options.login.cacheSeconds) : storeDirectory;
  const federation = buildFederation(options);
  // A remembered home answer that ages out may free its home lease (see releaseHomeLease).
  const directory = new FederatedDirectory(localDirectory, options.realm, federation.homes, (realm, token) => releaseHomeLease(realm, token, 'answer-dropped'));
  const leases = new LeaseManager(store, options.leases.ttlSeconds);
  const access = new AccessTable(options.access, store);
  const audit = new AuditLog(store, logger);
  const relays = new LiveRelays();
  const discoveryKey = options.discovery && loadGatewayKey(options.discovery.keyFile, logger);
  const responder =
    options.discovery &&
    new DiscoveryResponder({
      name: options.discovery.name,
      url: options.discovery.url,
      privateKeyPem: discoveryKey!,
      port: options.discovery.port,
      host: options.discovery.host,
      mdns: options.discovery.mdns,
      onError: (error) => logger.warn({ event: 'discovery', err: error }, 'discovery answer failed'),
    });
  const listeners = new Map<string, TcpListener>();
  const attachedPorts = new Set<number>();
  const endpoints = new Map<string, number>();
  const boundPorts = new Set<number>();
  // Certificates are read now, so a missing or broken file is an options error at creation.
  const secureContexts = new Map<string, SecureContext>();
  for (const name of ['smtp', 'pop3', 'nntp'] as const) {
    const files = options.adapters[name]?.tls;
    if (files) secureContexts.set(name, loadSecureContext(files, `adapters.${name}.tls`));
  }

  // Login page sessions live in the store too; expired ones are purged from it.
  const sessions = new StoredSessions(store, options.session.maxAgeSeconds * 1000);
  // Housekeeping: the store does not grow with every login ever made.
  const housekeeping = setInterval(() => {
    const now = Date.now();
    Promise.all([leases.purgeEnded(ENDED_LEASE_RETENTION_MS), store.sessions.purge(now)]).then(
      ([ended, expired]) => {
        if (ended + expired > 0) logger.info({ event: 'housekeeping', leasesDeleted: ended, sessionsDeleted: expired }, 'deleted ended leases and expired sessions from the store');
      },
      (error: unknown) => logger.warn({ event: 'housekeeping', err: error }, 'deleting ended leases and expired sessions from the store failed'),
    );
  }, HOUSEKEEPING_INTERVAL_MS);
  housekeeping.unref();

  // A user disabled or removed (`roamgate users disable`, another process on the store) loses their
  // leases here, and with them their relays and the leases peers hold for them, within userCheckSeconds.
  // Visitors from another realm are their home's business (home refresh).
  let checkingHolders = false;
  const checkLeaseHolders = async () => {
    if (checkingHolders) return;
    checkingHolders = true;
    try {
      const stillThere = new Map<string, boolean>();
      for (const lease of leases.list()) {
        if (lease.home) continue;
        if (!stillThere.has(lease.userId)) stillThere.set(lease.userId, (await directory.get(lease.userId)) !== undefined);
        if (stillThere.get(lease.userId)) continue;
        if (await leases.revoke(lease.id)) audit.record('lease.revoked', { actor: lease.userId, detail: { lease: lease.id, by: 'user disabled or removed', ...(lease.peer ? { peer: lease.peer } : {}) } });
      }
    } catch (error) {
      logger.warn({ event: 'lease-user-check', err: error }, 'checking lease holders against the directory failed; trying again later');
    } finally {
      checkingHolders = false;
    }
  };
  const holderCheck = setInterval(() => void checkLeaseHolders(), options.leases.userCheckSeconds * 1000);
  holderCheck.unref();

  // State kept in the store (leases, API rules, registrations) is loaded before anything is served.
  const ready = (async () => {
    await leases.load();
    await access.load();
    registry.restore((await store.registrations.list()).map((record) => ({ ...record })));
  })();
  ready.catch(() => undefined);

  leases.onEnd((lease, why) => {
    const closed = relays.closeWhere((relay) => relay.identity.kind === 'user' && relay.identity.leaseId === lease.id, `lease ${why}`);
    if (why === 'expired') audit.record('lease.expired', { actor: lease.userId, detail: { lease: lease.id } });
    logger.info({ event: 'lease-ended', lease: lease.id, user: lease.userId, why, relaysClosed: closed }, `lease ${why}`);
    if (lease.home) releaseHomeLease(lease.home.realm, lease.home.token, 'lease-ended');
  });
  /**
   * A visitor's lease ended, their relay closed, or the remembered answer of
   * their login aged out: when nothing else here stands on that home lease (a
   * lease, an open relay and, unless the visitor's lease ended, a remembered
   * answer that lets them log in again without asking home), tell home to end
   * it too, and forget the answers that stood on it.
   */
  const releaseHomeLease = (realm: string, token: string, why: 'lease-ended' | 'relay-closed' | 'answer-dropped') => {
    const client = federation.peers.get(realm)?.client;
    const inUse =
      leases.list().some((other) => other.home?.token === token) ||
      relays.identities().some((identity) => identity.kind === 'user' && identity.user.home?.token === token) ||
      (why === 'relay-closed' && directory.tokensOf(realm).includes(token));
    if (!client || inUse) return;
    directory.forgetToken(token);
    client.release([token]).catch((error: Error) => logger.warn({ event: 'home-release', realm, reason: error.message }, 'could not tell the home gateway a visitor left (its lease there ends by itself)'));
  };
  access.onChange(() => {
    if (options.onAccessChange !== 'close') return;
    const closed = relays.closeWhere((relay) => !access.decide(relay.identity, relay.service).allow, 'no longer allowed by the access table');
    if (closed) logger.info({ event: 'access-changed', relaysClosed: closed }, 'closed relays the access table no longer allows');
  });

  // `alice` and `alice@<own realm>` are one user, so one count of failures, wherever they log in.
  const guard = new LoginGuard(options.login, (username) => {
    const { name, realm } = splitRealm(username);
    return (realm !== undefined && realm === options.realm ? name : username).toLowerCase();
  });
  const resolveHere = async (service: string, identity: Identity): Promise<ServerInfo[]> =>
    orderCandidates(selectForIdentity(await source.resolve(service, identity), identity), (server) => health.statusOf(service, server));
  // A visitor's own services go to their home gateway (by the peer's routes); the rest are served here.
  const resolve = async (service: string, identity: Identity): Promise<ServerInfo[]> => {
    const local = await resolveHere(service, identity);
    const home = identity.kind === 'user' ? identity.user.home : undefined;
    const peer = home && federation.peers.get(home.realm);
    if (!home || !peer?.url) return local;
    return routeOf(home, service, peer.routes[service], local.length > 0) === 'home' ? homeCandidates(home, service, peer.url) : local;
  };
  const serviceNames = async (identity?: Identity): Promise<string[]> =>
    [...new Set([...(source.list ? (await source.list()).map((entry) => entry.service) : []), ...Object.keys(options.adapters), ...(identity?.kind === 'user' ? (identity.user.home?.services ?? []).map((entry) => entry.service) : [])])].filter(
      (service) => service !== HTTP_PROXY_SERVICE,
    );
  const refresher = new HomeRefresher(
    [...federation.peers].flatMap(([realm, peer]) => (peer.client ? [{ realm, refreshSeconds: peer.refreshSeconds, client: peer.client }] : [])),
    leases,
    {
      ended: (leaseId, userId, realm) => {
        directory.forget(userId);
        audit.record('lease.revoked', { actor: userId, detail: { lease: leaseId, by: `home ${realm}` } });
      },
      failed: (realm, error) => logger.warn({ event: 'home-refresh', realm, reason: error.message }, 'could not check visitors with their home gateway'),
      tokensInUse: (realm) => [
        ...relays.identities().flatMap((identity) => (identity.kind === 'user' && identity.user.home?.realm === realm ? [identity.user.home.token] : [])),
        ...directory.tokensOf(realm),
      ],
      tokenEnded: (realm, token) => {
        directory.forgetToken(token);
        const closed = relays.closeWhere((relay) => relay.identity.kind === 'user' && relay.identity.user.home?.token === token, `home gateway ${realm} no longer vouches for this user`);
        if (closed) logger.info({ event: 'home-ended', realm, relaysClosed: closed }, 'closed relays of a visitor their home no longer vouches for');
      },
    },
  );

  const context: GatewayContext = {
    identify: (socket: Socket): Identity => {
      const address = normalizeAddress(socket.remoteAddress);
      const lease = leases.findByAddress(address);
      return lease ? identityOfLease(lease, address) : { kind: 'anonymous', address };
    },
    authorize: (identity, service) => access.decide(identity, service),
    resolve,
    // A hop to a visitor's home is not one of our servers: its failures are the home's, not a health verdict.
    reportHealth: (service, server, failure) => {
      if (!server.tunnel) health.report(service, server, failure);
    },
    record: (entry: ConnectionRecord) => {
      logger.info({ event: 'relay', ...entry }, `${entry.service} ${entry.outcome}`);
      audit.record('connection', { actor: entry.identity, address: entry.client, detail: { service: entry.service, outcome: entry.outcome, rule: entry.rule, reason: entry.reason, server: entry.server, bytesFromClient: entry.bytesFromClient, bytesFromServer: entry.bytesFromServer, durationMs: entry.durationMs } });
    },
    ownPorts: () => new Set([...boundPorts, ...attachedPorts]),
    track: (relay) => {
      const untrack = relays.add(relay);
      const home = relay.identity.kind === 'user' ? relay.identity.user.home : undefined;
      if (!home) return untrack;
      // A visitor logged in in their client's protocol holds no lease here: their relay is what stands on the home lease.
      let ended = false;
      return () => {
        untrack();
        if (ended) return;
        ended = true;
        releaseHomeLease(home.realm, home.token, 'relay-closed');
      };
    },
    verifyLogin: async (username, password, address, service) => {
      // Counted before the password is checked, so connections sent at once cannot overrun the limit.
      const wait = await guard.attempt(username, address);
      if (wait !== null) {
        if (guard.firstRefusal(username, address, wait)) audit.record('login.throttled', { actor: username, address, detail: { via: service, retryAfterSeconds: wait } });
        return { ok: false, reason: `too many failed logins, try again in ${wait} s` };
      }
      let user: User | false;
      try {
        user = await directory.verify(username, password);
      } catch (error) {
        // Never thrown at an adapter: a broken directory is logged here and the client told the login cannot be checked now.
        if (!isRoamgateError(error) || error.code !== 'ROAMGATE_LOGIN_FAILED') await guard.undo(username, address);
        if (!isRoamgateError(error) || error.code === 'ROAMGATE_SOURCE_FAILED') {
          logger.error({ event: 'directory-failed', via: service, err: error }, 'could not check a login');
          return { ok: false, reason: LOGIN_UNCHECKED_REASON, temporary: true };
        }
        // A refusal with its reason (unknown realm, a home that said no) stays counted; a home out of reach was given back above.
        audit.record('login.failure', { actor: username, address, detail: { via: service, reason: error.message } });
        return { ok: false, reason: error.message, temporary: error.code !== 'ROAMGATE_LOGIN_FAILED' };
      }
      if (!user) {
        audit.record('login.failure', { actor: username, address, detail: { via: service } });
        return { ok: false, reason: 'wrong user name or password' };
      }
      await guard.succeeded(username, address);
      // From the return on, the adapter tracks the connection, which keeps a visitor's home lease.
      const confirmed = await reconfirmVisitor(directory, user, username, password).catch(() => false as const);
      if (!confirmed) return { ok: false, reason: LOGIN_UNCHECKED_REASON, temporary: true };
      user = confirmed;
      audit.record('login.success', { actor: user.id, address, detail: { via: service } });
      return { ok: true, identity: { kind: 'user', address, user } };
    },
  };

  const login = loginRoutes({ directory, leases, audit, guard });
  const proxyOptions = options.adapters['http-proxy'];
  const httpProxy = proxyOptions && new HttpProxyAdapter(context, proxyOptions.allow, proxyOptions, proxyOptions.login?.allowCleartext ?? false);
  const tunnel = tunnelEndpoint({
    context,
    limits: { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS },
    httpProxy,
    identityOfToken: (token, address) => {
      const lease = leases.findByToken(token);
      // A peer's lease works only from the peer's own address, and only while that peer is still configured.
      if (!lease || (lease.peer !== undefined && (lease.address !== normalizeAddress(address) || !federation.peers.has(lease.peer)))) return undefined;
      return identityOfLease(lease, normalizeAddress(address));
    },
  });
  const router = Router();
  router.use((_req, _res, next) => void ready.then(() => next(), next));
  // Before the JSON parser: peer requests are signed over their raw bytes.
  router.use(
    federationRoutes({
      realm: options.realm,
      peers: federation.peers,
      replay: new ReplayGuard(store.nonces),
      directory,
      leases,
      guard,
      audit,
      offeredServices: (identity, reveal) => offeredServices(identity, reveal, { names: serviceNames, allowed: (who, service) => access.decide(who, service).allow, resolve }),
    }),
  );
  router.use(express.json({ limit: MAX_API_BODY }));
  // The login page's forms, parsed before the CSRF check so that their _csrf field is seen.
  router.use(['/login', '/logout'], express.urlencoded({ extended: false, limit: MAX_API_BODY }));
  router.use(
    session({
      store: sessions,
      name: SESSION_COOKIE,
      secret: options.session.secret ?? randomBytes(32).toString('hex'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'strict', secure: options.session.secureCookie, maxAge: options.session.maxAgeSeconds * 1000 },
    }),
  );
  router.use(login.passport.initialize());
  router.use(login.passport.session());
  router.use(identifyCaller(options.adminToken, leases));
  router.use(csrfForSessions(login.csrf));
  router.use(login.router);
  router.use(
    serversRoutes({
      registrationSecret: options.registration.secret,
      defaultTtlSeconds: options.registration.defaultTtlSeconds,
      registrationServices: options.registration.services,
      maxRegistrations: options.registration.maxEntries,
      table: source,
      registry,
      health,
    }),
  );
  router.use(
    discoveryRoute({
      mode: options.mode,
      publicHost: options.publicHost,
      gateway: options.discovery && { name: options.discovery.name, publicKey: publicKeyOf(discoveryKey!) },
      endpoints: () => endpoints,
      services: () => serviceNames(),
      resolve,
    }),
  );
  router.use(leaseRoutes(leases, audit));
  router.use(eventsRoute({ leases, watchServers: (onChange) => source.watch?.(onChange) ?? (() => undefined) }));
  router.use(accessRoutes(access, audit));
  router.use(auditRoute(audit));
  router.use(apiErrorHandler((error) => logger.error({ event: 'api-error', err: error }, 'management API error')));

  let closing: Promise<void> | null = null;

  async function listen(): Promise<Record<string, AddressInfo>> {
    if (closing) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'gateway is closed');
    try {
      await ready;
    } catch (error) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: cannot load saved state: ${(error as Error).message}`, { cause: error });
    }
    if (ownsStore && (options.store as { path: string }).path === ':memory:' && listeners.size === 0) {
      logger.warn({ event: 'store-in-memory' }, 'store is in memory: leases, API rules and registrations are lost at restart (set store.path)');
    }
    const bound: Record<string, AddressInfo> = {};
    for (const [service, adapterOptions] of Object.entries(options.adapters)) {
      if (!adapterOptions || listeners.has(service)) continue;
      for (const { key, listener, port } of createListeners(service, options, context, secureContexts, httpProxy)) {
        try {
          bound[key] = await listener.listen();
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `adapters.${service}: cannot listen on ${adapterOptions.host}:${port} (${code ?? (error as Error).message})`, { cause: error });
        }
        listeners.set(key, listener);
        boundPorts.add(bound[key].port);
        if (key === service) endpoints.set(service, bound[key].port);
        logger.info({ event: 'listening', service, address: `${bound[key].address}:${bound[key].port}`, tls: key !== service }, `${key} adapter listening`);
      }
    }
    if (options.health.enabled) health.start();
    refresher.start();
    if (responder && options.discovery) {
      const { port } = await responder.start();
      const { mdns } = options.discovery;
      const mdnsPort = mdns === true ? DEFAULT_MDNS_PORT : mdns ? mdns.port : undefined;
      logger.info({ event: 'discovery', port, name: options.discovery.name, publicKey: publicKeyOf(discoveryKey!), ...(mdnsPort === undefined ? {} : { mdnsPort }) }, mdnsPort === undefined ? 'answering discovery queries' : 'answering discovery queries and mDNS (DNS-SD _roamgate._tcp)');
    }
    return bound;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      health.stop();
      refresher.stop();
      leases.stop();
      clearInterval(housekeeping);
      clearInterval(holderCheck);
      await responder?.stop();
      await Promise.all([...listeners.values()].map((listener) => listener.close(options.shutdownGraceMs)));
      listeners.clear();
      endpoints.clear();
      boundPorts.clear();
      await ready.catch(() => undefined);
      await registry.flush();
      await audit.flush();
      await source.close?.();
      if (ownsStore) await store.close();
    })();
    return closing;
  }

  function attach(server: HttpServer): void {
    const note = () => {
      const address = server.address();
      if (address && typeof address === 'object') attachedPorts.add(address.port);
    };
    if (server.listening) note();
    else server.once('listening', note);
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (tunnel(req, socket, head)) return;
      // Not a tunnel request: answer it, unless the application listens for CONNECT itself.
      if (server.listenerCount('connect') === 1) socket.end(formatHttpResponse(400, 'this server tunnels only CONNECT <service>.roamgate:1'));
    });
  }

  return { router, listen, attach, close };
}

/** The peers by lower-cased realm, with a client for each home this gateway asks (those with a URL). */
function buildFederation(options: NormalizedOptions): { peers: Map<string, PeerOptions & { client?: PeerClient }>; homes: HomePeer[] } {
  const peers = new Map<string, PeerOptions & { client?: PeerClient }>();
  const homes: HomePeer[] = [];
  for (const [name, peer] of Object.entries(options.peers)) {
    const realm = name.toLowerCase();
    const client = peer.url ? new PeerClient({ self: options.realm!, realm, url: peer.url, secret: peer.secret, timeoutMs: peer.timeoutMs }) : undefined;
    peers.set(realm, { ...peer, client });
    if (client) homes.push({ realm, client, attributes: peer.attributes, cacheSeconds: peer.cacheSeconds, failureCacheSeconds: peer.failureCacheSeconds, acceptAddresses: peer.acceptAddresses });
  }
  return { peers, homes };
}

function openStore(path: string, logger: Logger): Store {
  let store: Store;
  try {
    store = openSqliteStore(path);
  } catch (error) {
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `store.path: cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  // It holds password, token and session hashes: a new file is made 0600, an older one may be wider.
  if (path !== ':memory:' && (statSync(path).mode & 0o077) !== 0) logger.warn({ event: 'store', path }, 'the store file is readable by other users (chmod 600 it and its -wal and -shm files)');
  return store;
}

function buildSources(options: NormalizedOptions, logger: Logger, store: Store): { source: ServerInfoSource; registry: RegistrySource } {
  const registry = new RegistrySource({
    persistence: {
      put: (entry) => store.registrations.put({ id: entry.id, origin: entry.origin as 'admin' | 'registered', service: entry.service, host: entry.host, port: entry.port, priority: entry.priority, ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }) }),
      remove: async (id) => void (await store.registrations.remove(id)),
      onError: (error) => logger.error({ event: 'store-write-failed', err: error }, 'could not save a server registration'),
    },
  });
  const sources: ServerInfoSource[] = ['source' in options.servers ? options.servers.source : new StaticSource(options.servers.table)];
  if (options.serversFile) {
    try {
      sources.push(
        new FileSource({
          path: options.serversFile,
          onError: (error) => logger.error({ event: 'servers-file', file: options.serversFile, reason: error.message }, 'servers file edit rejected'),
          onReload: (entries) => logger.info({ event: 'servers-file', file: options.serversFile, entries }, 'servers file reloaded'),
        }),
      );
    } catch (error) {
      registry.close();
      throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `serversFile: ${(error as Error).message}`, { cause: error });
    }
  }
  sources.push(registry);
  return { source: new CompositeSource(sources), registry };
}

/** The listeners of one adapter: its port, and its implicit-TLS port when it has one. */
function createListeners(
  service: string,
  options: NormalizedOptions,
  context: GatewayContext,
  secureContexts: ReadonlyMap<string, SecureContext>,
  httpProxy: HttpProxyAdapter | undefined,
): Array<{ key: string; listener: TcpListener; port: number }> {
  if (service === 'http-proxy') {
    const adapter = options.adapters['http-proxy']!;
    const listener = new TcpListener({
      host: adapter.host,
      port: adapter.port,
      maxClients: adapter.maxClients,
      handle: (socket) => httpProxy!.handle(socket),
      refuseExcess: (socket) => socket.end(formatHttpResponse(503, `too many clients (limit ${adapter.maxClients})`)),
    });
    return [{ key: service, listener, port: adapter.port }];
  }
  const name = service as keyof typeof LINE_PROTOCOLS;
  const adapter = options.adapters[name]!;
  const protocol = LINE_PROTOCOLS[name];
  const secureContext = secureContexts.get(name);
  const transparent = lineRelayHandler(protocol, context, adapter);
  const settings: LoginSettings | undefined = adapter.login && {
    ...adapter.login,
    hostname: adapter.login.hostname ?? hostname(),
    allowCleartextLogin: adapter.login.allowCleartext,
    tls: secureContext,
  };
  const handlerFor = (implicitTls: boolean) => {
    if (settings) return loginRelayHandler(protocol, context, adapter, settings, transparent, implicitTls);
    if (!implicitTls) return transparent;
    // TLS to the client, then the transparent relay.
    return async (socket: Socket) => {
      const secure = await acceptTls(socket, secureContext!).catch(() => null);
      if (secure) await transparent(secure);
    };
  };
  const listener = (port: number, implicitTls: boolean) =>
    new TcpListener({
      host: adapter.host,
      port,
      maxClients: adapter.maxClients,
      handle: handlerFor(implicitTls),
      refuseExcess: (socket) => socket.end(protocol.refusal(new RoamgateError('ROAMGATE_TOO_MANY_CLIENTS', `too many clients (limit ${adapter.maxClients}), try again later`))),
    });
  const result = [{ key: service, listener: listener(adapter.port, false), port: adapter.port }];
  if (adapter.tlsPort !== undefined) result.push({ key: `${service}-tls`, listener: listener(adapter.tlsPort, true), port: adapter.tlsPort });
  return result;
}
