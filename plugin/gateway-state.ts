import { LiveRelays } from '../adapters/live-relays';
import { type Clock, systemClock } from '../clock';
import type { Store } from '../store/store';
import { AccessTable } from './access-table';
import { AuditLog } from './audit-log';
import { StoreDirectory } from './directory';
import { CachingDirectory, withLoginCache } from './directory-cache';
import { HostDirectory } from './host-directory';
import { sharedAddresses } from './shared-addresses';
import { GatewayDiscovery } from './gateway-discovery';
import { GatewayPorts } from './gateway-ports';
import { loadSavedState } from './gateway-lifecycle';
import { HomeRefresher } from './home-refresh';
import { startHousekeeping } from './housekeeping';
import { LeaseHolderCheck } from './lease-holder-check';
import { LeaseManager } from './lease-manager';
import { LoginGuard, userKeyIn } from './login-guard';
import { FleetPlaces } from './fleet-places';
import { RegistrationThrottle } from './registration-throttle';
import type { Logger, NormalizedOptions } from './options';
import { buildPeers } from './peers';
import { adapterServiceNames } from './protocol-adapters';
import { closeRelaysWhenAccessChanges, closeRelaysWhenLeasesEnd } from './relay-enforcement';
import { RoamingDirectory } from './roaming-directory';
import { ServerResolver } from './server-resolver';
import { buildSources, monitorHealth } from './server-sources';
import { openGatewayStore } from './store-file';
import { followStoreChanges } from './store-follower';
import { StoreWatch } from './store-watch';
import { VisitorLeases } from './visitor-leases';

/** What a gateway knows and keeps, built from its options: everything but the connection path and the router. */
export type GatewayState = ReturnType<typeof buildGatewayState>;

/**
 * Builds the gateway's state and its background work: the store, the
 * server-info sources and their health, the peers, the directory, leases,
 * access table, audit trail, open relays, and the rules that tie them
 * (relays closed when a lease ends or a rule changes, lease holders checked,
 * visitors' home leases released, housekeeping).
 */
export function buildGatewayState(options: NormalizedOptions, logger: Logger) {
  const clock: Clock = options.clock ?? systemClock;
  const store: Store = openGatewayStore(options.store, logger);
  // Logs each change of the store's health; readiness reads it (storeHealth below).
  const storeWatch = new StoreWatch(store, logger);
  const { source, registry, operator } = buildSources(options, logger, store, clock);
  const health = monitorHealth(source, options.health, logger);
  const peers = buildPeers(options, clock);
  const base = options.directory ? new HostDirectory(options.directory) : new StoreDirectory(options.users, store);
  const localDirectory = withLoginCache(base, options.login.cacheSeconds, clock);
  // A remembered home answer that ages out may free its home lease (see VisitorLeases.release).
  const dropped = (realm: string, token: string) => visitors.release(realm, token, 'answer-dropped');
  const directory = new RoamingDirectory(localDirectory, options.realm, peers.homes, dropped, clock);
  const leases = new LeaseManager(store, options.leases.ttlSeconds, clock, sharedAddresses(options.leases.sharedAddresses));
  const access = new AccessTable(options.access, store, clock);
  const audit = new AuditLog(store, logger, clock);
  const relays = new LiveRelays();
  const discovery = options.discovery ? new GatewayDiscovery(options.discovery, logger, clock) : undefined;
  const holderCheck = new LeaseHolderCheck({ leases, directory, audit, logger }, options.leases.userCheckSeconds);
  holderCheck.start();
  const ready = loadSavedState({ leases, access, registry, store });
  const housekeeping = startHousekeeping({ leases, store, logger, clock, audit: options.audit, after: ready });
  const visitors = new VisitorLeases({ peers: peers.all, leases, relays, directory, audit, logger });
  closeRelaysWhenLeasesEnd({ leases, relays, visitors, audit, logger });
  const accessChange = { mode: options.onAccessChange }; // a holder: a reload may change it
  closeRelaysWhenAccessChanges({ access, relays, logger }, () => accessChange.mode);
  const ports = new GatewayPorts();
  const addressRules = {
    ownPorts: () => ports.own(),
    onRefused: (server: { host: string; port: number }, reason: string) =>
      logger.warn({ event: 'server-refused', server: `${server.host}:${server.port}`, reason }, 'server skipped by the address rules'),
  };
  const guard = new LoginGuard(options.login, userKeyIn(options.realm), clock);
  const registrationThrottle = new RegistrationThrottle(options.registration.perAddress, clock);
  // Per-address caps for the fleet: only a store that other processes share (it has a feed and shared counts).
  const counts = store.changes ? store.failures : undefined;
  const places = counts
    ? new FleetPlaces((scope, key) => void counts.record(scope, key, clock.now()).catch(() => undefined), clock)
    : undefined;
  const adapterServices = adapterServiceNames(options.adapters);
  const servers = new ServerResolver({ source, health, peers: peers.all, adapterServices, addressRules });
  const refresher = new HomeRefresher(peers.refreshed, leases, visitors.refreshEvents());
  // What other gateway processes on the same store change is taken in here (a store with a change feed).
  const stopFollowing = followStoreChanges({
    store,
    leases,
    access,
    registry,
    holderCheck,
    guard,
    registrationThrottle,
    places,
    logger,
    ready,
  });
  const following = {
    close: () => {
      stopFollowing();
      places?.close();
    },
  };
  const background = [health, refresher, leases, housekeeping, holderCheck, following];
  return {
    clock,
    store,
    source,
    operator,
    registry,
    health,
    peers,
    directory,
    // What a reload changes (see gateway-reload): the operator's table above, config users and their remembered logins, ...
    configUsers: base instanceof StoreDirectory ? base : undefined,
    loginCache: localDirectory instanceof CachingDirectory ? localDirectory : undefined,
    holderCheck,
    accessChange,
    adapterServices,
    leases,
    access,
    audit,
    relays,
    discovery,
    ready,
    visitors,
    guard,
    registrationThrottle,
    places,
    servers,
    ports,
    storeWatch,
    /** Whether the store can be used now: what readiness reports. */
    storeHealth: () => storeWatch.health(),
    refresher,
    background,
  };
}
