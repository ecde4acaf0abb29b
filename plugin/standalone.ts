import express from 'express';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RoamgateError } from '../errors';
import { describeZodError } from '../sources/table-schema';
import type { RoamgateOptions } from './options';
import { roamgate, type Roamgate } from './roamgate';
import { normalizeWebRouteOptions, type WebRouteOptions } from './web/web-route-options';

/** Where the management HTTP server listens when the file says nothing. */
export const DEFAULT_HTTP = { host: '127.0.0.1', port: 8080 } as const;
/** Where the plugin is mounted when the file says nothing. */
export const DEFAULT_MOUNT = '/roamgate';

const standaloneSchema = z.looseObject({
  http: z
    .strictObject({
      host: z.string().default(DEFAULT_HTTP.host),
      port: z.int().min(0).max(65535),
      /**
       * Express's `trust proxy`: which front proxies' X-Forwarded-For to believe for the client address (leases,
       * throttling). `false` (default): none, the connection's address is the client. Trusting more than the proxies
       * you run lets any client pick the address its lease is bound to.
       */
      trustProxy: z.union([z.boolean(), z.int().min(0).max(32), z.string().min(1), z.array(z.string().min(1))]).default(false),
    })
    .default({ ...DEFAULT_HTTP, trustProxy: false }),
  mount: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/, 'must be a path starting with /')
    .default(DEFAULT_MOUNT),
  /** `assertionSecret` (the plugin's `web.assertionSecret`), and `{ <service>: { path, changeOrigin?, timeoutMs? } }`: gw.web routes. */
  web: z.record(z.string(), z.unknown()).default({}),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

/** A running standalone gateway. */
export interface Standalone {
  gateway: Roamgate;
  http: Server;
  httpAddress: AddressInfo;
  adapters: Record<string, AddressInfo>;
  mount: string;
  close(): Promise<void>;
}

/** Reads a YAML/JSON config file into roamgate options; throws ROAMGATE_INVALID_OPTIONS naming the field. */
export function readConfigFile(path: string): {
  http: { host: string; port: number; trustProxy?: boolean | number | string | string[] };
  mount: string;
  logLevel: string;
  options: RoamgateOptions;
  /** The gw.web routes to mount: service -> options (with `path`). */
  web?: Record<string, WebRouteOptions & { path: string }>;
} {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `cannot read ${path}: ${(cause as Error).message.split('\n')[0]}`, { cause });
  }
  const parsed = standaloneSchema.safeParse(data ?? {});
  if (!parsed.success) throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', describeZodError(parsed.error));
  const { http, mount, log, web, ...rest } = parsed.data;
  const { assertionSecret, ...routes } = web;
  const options = (assertionSecret === undefined ? rest : { ...rest, web: { assertionSecret } }) as RoamgateOptions;
  // Paths in the file are relative to the file, not to wherever the gateway was started.
  if (typeof options.serversFile === 'string') options.serversFile = resolvePath(dirname(path), options.serversFile);
  const store = options.store as { path?: unknown } | undefined;
  if (store && typeof store.path === 'string' && store.path !== ':memory:')
    options.store = { ...store, path: resolvePath(dirname(path), store.path) } as RoamgateOptions['store'];
  return { http, mount, logLevel: log.level, options, web: webRoutes(routes) };
}

/** The file's `web:` routes, each checked as gw.web would check it; every one needs a `path`. */
function webRoutes(routes: Record<string, unknown>): Record<string, WebRouteOptions & { path: string }> {
  const checked: Record<string, WebRouteOptions & { path: string }> = {};
  for (const [service, route] of Object.entries(routes)) {
    const options = normalizeWebRouteOptions(service, route);
    if (options.path === undefined)
      throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `web.${service}.path: required (where the route is mounted)`);
    checked[service] = { ...options, path: options.path };
  }
  return checked;
}

/** Builds an Express app from options, mounts the plugin, starts the HTTP server and the adapters. */
export async function startStandalone(config: ReturnType<typeof readConfigFile>): Promise<Standalone> {
  const logger = config.options.logger ?? pino({ name: 'roamgate', level: config.logLevel });
  const gateway = roamgate({ mountPath: config.mount, ...config.options, logger });
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy ?? false);
  app.use(config.mount, gateway.router);
  for (const [service, route] of Object.entries(config.web ?? {})) app.use(route.path, gateway.web(service, route));
  const http = await new Promise<Server>((resolve, reject) => {
    const server = app.listen(config.http.port, config.http.host);
    server.once('listening', () => resolve(server));
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new RoamgateError(
          'ROAMGATE_INVALID_OPTIONS',
          `http: cannot listen on ${config.http.host}:${config.http.port} (${error.code ?? error.message})`,
          { cause: error },
        ),
      ),
    );
  });
  gateway.attach(http);
  let adapters: Record<string, AddressInfo>;
  try {
    adapters = await gateway.listen();
  } catch (error) {
    await gateway.close();
    http.close();
    throw error;
  }
  const close = async () => {
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeIdleConnections();
    await gateway.close();
    http.closeAllConnections();
    await httpClosed;
  };
  return { gateway, http, httpAddress: http.address() as AddressInfo, adapters, mount: config.mount, close };
}
