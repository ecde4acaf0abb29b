import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Adapter } from '../adapters/adapter';
import { RoamgateError } from '../errors';
import { formatHttpResponse } from '../protocols/http/status';
import type { RegistrySource } from '../sources/registry-source';
import type { ServerInfoSource } from '../sources/server-info-source';
import type { Store } from '../store/store';
import type { AccessTable } from './access-table';
import type { AuditLog } from './audit-log';
import type { GatewayDiscovery } from './gateway-discovery';
import type { GatewayPorts } from './gateway-ports';
import type { LeaseManager } from './lease-manager';
import type { Logger, NormalizedOptions } from './options';

/**
 * State kept in the store (leases, API rules, registrations) loaded before
 * anything is served. The promise never goes unhandled: who waits on it
 * (the router, listen()) sees the failure.
 */
export function loadSavedState(deps: { leases: LeaseManager; access: AccessTable; registry: RegistrySource; store: Store }): Promise<void> {
  const ready = (async () => {
    await deps.leases.load();
    await deps.access.load();
    deps.registry.restore((await deps.store.registrations.list()).map((record) => ({ ...record })));
  })();
  ready.catch(() => undefined);
  return ready;
}

export interface GatewayLifecycleDeps {
  options: NormalizedOptions;
  logger: Logger;
  /** The saved state being loaded (see loadSavedState). */
  ready: Promise<void>;
  ports: GatewayPorts;
  /** The protocol adapters, each owning its port(s). */
  adapters: readonly Adapter[];
  /** Started by listen(): the health checks (unless disabled) and the home refresher. */
  health: { start(): void };
  refresher: { start(): void };
  discovery: GatewayDiscovery | undefined;
  /** What runs in the background (timers, sweeps), stopped first by close(), in this order. */
  background: ReadonlyArray<{ close(): void }>;
  /** What close() writes out or closes once the adapters are closed. */
  registry: RegistrySource;
  audit: AuditLog;
  source: ServerInfoSource;
  /** The store, when the gateway opened it (and so closes it). */
  ownStore: Store | undefined;
  /** Logs the store's health; stopped last, so that what closing the store found is logged. */
  storeWatch: { close(): void };
  /** Serves a CONNECT request when it is a tunnel request; false when it is not. */
  tunnel(req: IncomingMessage, socket: Socket, head: Buffer): boolean;
}

/** The gateway's listen(), attach() and close(). */
export class GatewayLifecycle {
  private readonly listening = new Set<Adapter>();
  /** Adapters a reload replaced or removed: no longer accepting, their open connections finishing. */
  private readonly retired = new Set<Adapter>();
  private adapters: readonly Adapter[];
  private closing: Promise<void> | null = null;
  private listened = false;

  constructor(private readonly deps: GatewayLifecycleDeps) {
    this.adapters = deps.adapters;
  }

  readonly listen = async (): Promise<Record<string, AddressInfo>> => {
    const { options, logger, ready } = this.deps;
    if (this.closing) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'gateway is closed');
    try {
      await ready;
    } catch (error) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: cannot load saved state: ${(error as Error).message}`, { cause: error });
    }
    if (this.deps.ownStore && (options.store as { path: string }).path === ':memory:' && this.listening.size === 0) {
      logger.warn(
        { event: 'store-in-memory' },
        'store is in memory: leases, API rules and registrations are lost at restart (set store.path)',
      );
    }
    const bound = await this.bindAdapters();
    if (options.health.enabled) this.deps.health.start();
    this.deps.refresher.start();
    await this.deps.discovery?.start();
    this.listened = true;
    return bound;
  };

  /** Whether listen() resolved and close() was not called: what readiness asks of the adapters. */
  readonly serving = (): boolean => this.listened && this.closing === null;

  readonly close = (): Promise<void> => {
    this.closing ??= (async () => {
      const { ports } = this.deps;
      for (const part of this.deps.background) part.close();
      await this.deps.discovery?.close();
      const open = [...this.listening, ...this.retired];
      await Promise.all(open.map((adapter) => adapter.close(this.deps.options.shutdownGraceMs)));
      this.listening.clear();
      this.retired.clear();
      ports.endpoints.clear();
      ports.unbindAll();
      await this.deps.ready.catch(() => undefined);
      await this.deps.registry.flush();
      await this.deps.audit.flush();
      await this.deps.source.close?.();
      if (this.deps.ownStore) await this.deps.ownStore.close();
      this.deps.storeWatch.close();
    })();
    return this.closing;
  };

  readonly attach = (server: HttpServer): void => {
    const note = () => {
      const address = server.address();
      if (address && typeof address === 'object') this.deps.ports.attach(address.port);
    };
    if (server.listening) note();
    else server.once('listening', note);
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (this.deps.tunnel(req, socket, head)) return;
      // Not a tunnel request: answer it, unless the application listens for CONNECT itself.
      if (server.listenerCount('connect') === 1)
        socket.end(formatHttpResponse(400, 'this server tunnels only CONNECT <service>.roamgate:1'));
    });
  };

  /** Whether close() was called: a reload then changes nothing. */
  readonly closed = (): boolean => this.closing !== null;

  /**
   * A reload's adapters: `adapters` serve from now on (bound already when the gateway listens: see listen()), and
   * `retired` ones stop accepting while their open connections finish (close() cuts those after the grace period).
   */
  readonly replaceAdapters = (adapters: readonly Adapter[], retired: readonly Adapter[]): void => {
    this.adapters = adapters;
    for (const adapter of retired) {
      if (!this.listening.delete(adapter)) continue;
      this.retired.add(adapter);
      void adapter.close(Number.POSITIVE_INFINITY).then(() => this.retired.delete(adapter));
    }
    if (this.listened) for (const adapter of adapters) this.listening.add(adapter);
    const { ports } = this.deps;
    ports.unbindAll();
    ports.endpoints.clear();
    for (const adapter of this.listening)
      for (const [key, { listener }] of adapter.ports()) {
        const address = listener.address();
        if (!address) continue;
        ports.bind(address.port);
        if (key === adapter.service) ports.endpoints.set(adapter.service, address.port);
      }
  };

  /** Binds every adapter not listening yet; resolves to the bound addresses by listener key (`smtp`, `smtp-tls`). */
  private async bindAdapters(): Promise<Record<string, AddressInfo>> {
    const { logger, ports } = this.deps;
    const bound: Record<string, AddressInfo> = {};
    for (const adapter of this.adapters) {
      if (this.listening.has(adapter)) continue;
      const service = adapter.service;
      for (const { key, address } of await adapter.listen()) {
        bound[key] = address;
        ports.bind(address.port);
        if (key === service) ports.endpoints.set(service, address.port);
        logger.info(
          { event: 'listening', service, address: `${address.address}:${address.port}`, tls: key !== service },
          `${key} adapter listening`,
        );
      }
      this.listening.add(adapter);
    }
    return bound;
  }
}
