import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import pretty from 'pino-pretty';
import { RoamgateError } from '../errors';
import { type MetricsListener, listenMetrics } from './metrics-listener';
import { metricsOf, roamgate, type Roamgate } from './roamgate';
import { readConfigFile, type StandaloneConfig } from './standalone-config';
import { standaloneReloader } from './standalone-reload';

// The config file's reading lives in standalone-config.ts; these names are part of what the CLI and tests import from here.
export { DEFAULT_HTTP, DEFAULT_MOUNT, parseConfigFile, readConfigFile, type StandaloneConfig } from './standalone-config';

/** A running standalone gateway. */
export interface Standalone {
  gateway: Roamgate;
  http: Server;
  httpAddress: AddressInfo;
  adapters: Record<string, AddressInfo>;
  /** Where `/metrics` is served without login, when the file has `metrics`. */
  metricsAddress?: AddressInfo;
  mount: string;
  /** Reads the config file again and applies it (SIGHUP): logs what changed or why nothing did; true when applied. */
  reload(file: string): Promise<boolean>;
  close(): Promise<void>;
}

/** pino to stdout: JSON lines, or pino-pretty's lines with `log.pretty` (default: when stdout is a terminal). */
function standaloneLogger(config: StandaloneConfig): pino.Logger {
  const options = { name: 'roamgate', level: config.logLevel };
  const terminal = process.stdout.isTTY === true;
  if (!(config.logPretty ?? terminal)) return pino(options);
  // A stream in this thread (no transport worker): every line is written before close() resolves.
  return pino(options, pretty({ destination: 1, sync: true, colorize: terminal }));
}

/** Builds an Express app from options, mounts the plugin, starts the HTTP server and the adapters. */
export async function startStandalone(config: StandaloneConfig): Promise<Standalone> {
  const logger = config.options.logger ?? standaloneLogger(config);
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
  let metrics: MetricsListener | undefined;
  try {
    adapters = await gateway.listen();
    if (config.metrics) metrics = await listenMetrics(metricsOf(gateway).registry, config.metrics);
  } catch (error) {
    await gateway.close();
    http.close();
    throw error;
  }
  const close = async () => {
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeIdleConnections();
    await metrics?.close();
    await gateway.close();
    http.closeAllConnections();
    await httpClosed;
  };
  const httpAddress = http.address() as AddressInfo;
  const reload = standaloneReloader({ gateway, logger, config, readConfigFile });
  return { gateway, http, httpAddress, adapters, metricsAddress: metrics?.address, mount: config.mount, reload, close };
}
