import express, { Router } from 'express';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import type { ConnectionRecord, GatewayContext } from '../adapters/gateway-context';
import { HttpProxyAdapter } from '../adapters/http-proxy-adapter';
import { lineRelayHandler, type LineProtocol } from '../adapters/line-relay';
import { nntpProtocol } from '../adapters/nntp-adapter';
import { pop3Protocol } from '../adapters/pop3-adapter';
import { orderCandidates } from '../adapters/resolve-server';
import { smtpProtocol } from '../adapters/smtp-adapter';
import { TcpListener } from '../adapters/tcp-listener';
import { RoamgateError } from '../errors';
import { formatHttpResponse } from '../protocols/http/status';
import { CompositeSource } from '../sources/composite-source';
import { FileSource } from '../sources/file-source';
import { HealthMonitor } from '../sources/health-monitor';
import { RegistrySource } from '../sources/registry-source';
import type { Identity, ServerInfo, ServerInfoSource } from '../sources/server-info-source';
import { StaticSource } from '../sources/static-source';
import { decideAccess } from './access-policy';
import { apiErrorHandler } from './api-errors';
import { MAX_API_BODY } from './defaults';
import { normalizeOptions, type Logger, type NormalizedOptions, type RoamgateOptions } from './options';
import { discoveryRoute } from './routes/discovery-route';
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
  /** Tells the gateway about the HTTP server the router is served on, so its port is never a proxy destination. */
  attach(server: HttpServer): void;
  /** Stops accepting, lets open relays finish for `shutdownGraceMs`, then closes them and releases every timer. */
  close(): Promise<void>;
}

const LINE_PROTOCOLS: Record<'smtp' | 'pop3' | 'nntp', LineProtocol> = { smtp: smtpProtocol, pop3: pop3Protocol, nntp: nntpProtocol };

/** Creates a gateway. Options are validated here; a bad one throws ROAMGATE_INVALID_OPTIONS naming its path. */
export function roamgate(userOptions: RoamgateOptions): Roamgate {
  const options = normalizeOptions(userOptions);
  const logger: Logger = options.logger ?? pino({ name: 'roamgate' });
  const { source, registry } = buildSources(options, logger);
  const health = new HealthMonitor(source, {
    intervalMs: options.health.intervalMs,
    timeoutMs: options.health.timeoutMs,
    onChange: (server, status) =>
      logger[status.state === 'healthy' ? 'info' : 'warn']({ event: 'health', service: server.service, server: `${server.host}:${server.port}`, state: status.state, reason: status.reason }, `server ${status.state}`),
  });
  const listeners = new Map<string, TcpListener>();
  const attachedPorts = new Set<number>();
  const endpoints = new Map<string, number>();

  const resolve = async (service: string, identity: Identity): Promise<ServerInfo[]> =>
    orderCandidates(await source.resolve(service, identity), (server) => health.statusOf(service, server));

  const context: GatewayContext = {
    identify: (socket: Socket): Identity => ({ kind: 'anonymous', address: socket.remoteAddress ?? '' }),
    authorize: (identity, service) => decideAccess(options.access, identity, service),
    resolve,
    reportHealth: (service, server, failure) => health.report(service, server, failure),
    record: (entry: ConnectionRecord) => logger.info({ event: 'relay', ...entry }, `${entry.service} ${entry.outcome}`),
    ownPorts: () => new Set([...endpoints.values(), ...attachedPorts]),
  };

  const router = Router();
  router.use(express.json({ limit: MAX_API_BODY }));
  router.use(
    serversRoutes({
      adminToken: options.adminToken,
      registrationSecret: options.registration.secret,
      defaultTtlSeconds: options.registration.defaultTtlSeconds,
      table: source,
      registry,
      health,
    }),
  );
  router.use(
    discoveryRoute({
      mode: options.mode,
      publicHost: options.publicHost,
      endpoints: () => endpoints,
      services: async () => [...new Set([...(source.list ? (await source.list()).map((entry) => entry.service) : []), ...Object.keys(options.adapters)])].filter((s) => s !== 'http-proxy'),
      resolve,
    }),
  );
  router.use(apiErrorHandler((error) => logger.error({ event: 'api-error', err: error }, 'management API error')));

  let closing: Promise<void> | null = null;

  async function listen(): Promise<Record<string, AddressInfo>> {
    if (closing) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'gateway is closed');
    const bound: Record<string, AddressInfo> = {};
    for (const [service, adapterOptions] of Object.entries(options.adapters)) {
      if (!adapterOptions || listeners.has(service)) continue;
      const listener = createListener(service, options, context);
      try {
        bound[service] = await listener.listen();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `adapters.${service}: cannot listen on ${adapterOptions.host}:${adapterOptions.port} (${code ?? (error as Error).message})`, { cause: error });
      }
      listeners.set(service, listener);
      endpoints.set(service, bound[service].port);
      logger.info({ event: 'listening', service, address: `${bound[service].address}:${bound[service].port}` }, `${service} adapter listening`);
    }
    if (options.health.enabled) health.start();
    return bound;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      health.stop();
      await Promise.all([...listeners.values()].map((listener) => listener.close(options.shutdownGraceMs)));
      listeners.clear();
      endpoints.clear();
      await source.close?.();
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
  }

  return { router, listen, attach, close };
}

function buildSources(options: NormalizedOptions, logger: Logger): { source: ServerInfoSource; registry: RegistrySource } {
  const registry = new RegistrySource();
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

function createListener(service: string, options: NormalizedOptions, context: GatewayContext): TcpListener {
  if (service === 'http-proxy') {
    const adapter = options.adapters['http-proxy']!;
    const proxy = new HttpProxyAdapter(context, adapter.allow, adapter);
    return new TcpListener({
      host: adapter.host,
      port: adapter.port,
      maxClients: adapter.maxClients,
      handle: proxy.handle,
      refuseExcess: (socket) => socket.end(formatHttpResponse(503, `too many clients (limit ${adapter.maxClients})`)),
    });
  }
  const name = service as keyof typeof LINE_PROTOCOLS;
  const adapter = options.adapters[name]!;
  const protocol = LINE_PROTOCOLS[name];
  return new TcpListener({
    host: adapter.host,
    port: adapter.port,
    maxClients: adapter.maxClients,
    handle: lineRelayHandler(protocol, context, adapter),
    refuseExcess: (socket) => socket.end(protocol.refusal(new RoamgateError('ROAMGATE_TOO_MANY_CLIENTS', `too many clients (limit ${adapter.maxClients}), try again later`))),
  });
}
