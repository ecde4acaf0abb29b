import type { Router } from 'express';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { LiveRelays } from '../adapters/live-relays';
import { tunnelEndpoint } from '../adapters/tunnel-endpoint';
import { systemClock } from '../clock';
import type { Store } from '../store/store';
import { AccessTable } from './access-table';
import { AuditLog } from './audit-log';
import { ConnectionPolicy } from './connection-policy';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './defaults';
import { StoreDirectory } from './directory';
import { withLoginCache } from './directory-cache';
import { GatewayDiscovery } from './gateway-discovery';
import { GatewayLifecycle, loadSavedState } from './gateway-lifecycle';
import { GatewayPorts } from './gateway-ports';
import { HomeRefresher } from './home-refresh';
import { startHousekeeping } from './housekeeping';
import { LeaseHolderCheck } from './lease-holder-check';
import { LeaseManager } from './lease-manager';
import { LoginGuard, userKeyIn } from './login-guard';
import { managementRouter } from './management-router';
import { normalizeOptions, type Logger, type RoamgateOptions } from './options';
import { buildPeers } from './peers';
import { closeRelaysWhenAccessChanges, closeRelaysWhenLeasesEnd } from './relay-enforcement';
import { RoamingDirectory } from './roaming-directory';
import { ServerResolver } from './server-resolver';
import { buildSources, monitorHealth } from './server-sources';
import { openStoreFile } from './store-file';
import { createProtocolAdapters } from './protocol-adapters';
import { VisitorLeases } from './visitor-leases';

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

/** Creates a gateway. Options are validated here; a bad one throws ROAMGATE_INVALID_OPTIONS naming its path. */
export function roamgate(userOptions: RoamgateOptions): Roamgate {
  const options = normalizeOptions(userOptions);
  const logger: Logger = options.logger ?? pino({ name: 'roamgate' });
  const clock = options.clock ?? systemClock;
  const store: Store = 'path' in options.store ? openStoreFile(options.store.path, logger) : options.store;
  const { source, registry } = buildSources(options, logger, store, clock);
  const health = monitorHealth(source, options.health, logger);
  const peers = buildPeers(options, clock);
  const localDirectory = withLoginCache(new StoreDirectory(options.users, store), options.login.cacheSeconds, clock);
  // A remembered home answer that ages out may free its home lease (see VisitorLeases.release).
  const dropped = (realm: string, token: string) => visitors.release(realm, token, 'answer-dropped');
  const directory = new RoamingDirectory(localDirectory, options.realm, peers.homes, dropped, clock);
  const leases = new LeaseManager(store, options.leases.ttlSeconds, clock);
  const access = new AccessTable(options.access, store, clock);
  const audit = new AuditLog(store, logger, clock);
  const relays = new LiveRelays();
  const discovery = options.discovery && new GatewayDiscovery(options.discovery, logger, clock);

  const housekeeping = startHousekeeping({ leases, store, logger, clock });
  const holderCheck = new LeaseHolderCheck({ leases, directory, audit, logger }, options.leases.userCheckSeconds);
  holderCheck.start();
  const ready = loadSavedState({ leases, access, registry, store });
  const visitors = new VisitorLeases({ peers: peers.all, leases, relays, directory, audit, logger });
  closeRelaysWhenLeasesEnd({ leases, relays, visitors, audit, logger });
  closeRelaysWhenAccessChanges({ access, relays, logger }, options.onAccessChange);

  const guard = new LoginGuard(options.login, userKeyIn(options.realm), clock);
  const servers = new ServerResolver({ source, health, peers: peers.all, adapterServices: Object.keys(options.adapters) });
  const refresher = new HomeRefresher(peers.refreshed, leases, visitors.refreshEvents());
  const ports = new GatewayPorts();
  const policy = new ConnectionPolicy({ leases, access, servers, health, relays, visitors, directory, guard, audit, logger, peers: peers.all, ports });
  const adapters = createProtocolAdapters(options.adapters, policy);
  const tunnel = tunnelEndpoint({
    context: policy,
    limits: { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS },
    httpProxy: adapters.httpProxy,
    identityOfToken: policy.identifyToken,
  });
  const router = managementRouter({
    options, logger, ready, store, peers: peers.all, directory, leases, guard, access, audit, servers, source, registry, health,
    endpoints: ports.endpoints, pinned: discovery?.pinned, clock,
  });
  const { listen, attach, close } = new GatewayLifecycle({
    options,
    logger,
    ready,
    ports,
    adapters: adapters.all,
    health,
    refresher,
    discovery,
    tunnel,
    background: [health, refresher, leases, housekeeping, holderCheck],
    registry,
    audit,
    source,
    ownStore: 'path' in options.store ? store : undefined,
  });
  return { router, listen, attach, close };
}
