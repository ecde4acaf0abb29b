import type { Router } from 'express';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { tunnelEndpoint } from '../adapters/tunnel-endpoint';
import { ConnectionPolicy } from './connection-policy';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './defaults';
import { GatewayLifecycle } from './gateway-lifecycle';
import { buildGatewayState } from './gateway-state';
import { managementRouter } from './management-router';
import { normalizeOptions, type Logger, type RoamgateOptions } from './options';
import { createProtocolAdapters } from './protocol-adapters';

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
  const state = buildGatewayState(options, logger);
  const { ports } = state;
  const policy = new ConnectionPolicy({ ...state, logger, peers: state.peers.all, ports });
  const adapters = createProtocolAdapters(options.adapters, policy);
  const tunnel = tunnelEndpoint({
    context: policy,
    limits: { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS },
    httpProxy: adapters.httpProxy,
    identityOfToken: policy.identifyToken,
    caps: options.tunnel,
  });
  const pinned = state.discovery?.pinned;
  const router = managementRouter({ ...state, options, logger, peers: state.peers.all, endpoints: ports.endpoints, pinned });
  const ownStore = 'path' in options.store ? state.store : undefined;
  const { listen, attach, close } = new GatewayLifecycle({ ...state, options, logger, ports, adapters: adapters.all, tunnel, ownStore });
  return { router, listen, attach, close };
}
