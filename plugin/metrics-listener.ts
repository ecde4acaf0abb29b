import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { RoamgateError } from '../errors';

/** Where `metrics.port` listens when no host is given: this machine only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** The `/metrics` listener: its address, and close(). */
export interface MetricsListener {
  address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` from `registry` without a login on a listener of its own (`metrics.port`), for a Prometheus
 * on this host; everything else is 404. Whoever can reach the port reads the metrics, hence loopback by default.
 */
export async function listenMetrics(registry: Registry, where: { port: number; host: string }): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' }).end(body),
      (error: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`cannot collect the metrics: ${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new RoamgateError(
          'ROAMGATE_INVALID_OPTIONS',
          `metrics: cannot listen on ${where.host}:${where.port} (${error.code ?? error.message})`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(where.port, where.host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
