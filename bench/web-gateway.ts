/**
 * The web bench's gateway, in a process of its own: one Express app with two routes to the same upstream,
 * `/gw` through `gw.web('bench')` (anonymous access allowed, so the guard, the resolver, the upstream headers and
 * the record all run) and `/plain` through a plain http-proxy-middleware route built the way its README shows.
 * argv: the upstream's port. Tells the parent its HTTP port over IPC.
 */
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { roamgate } from '../index';
import { raiseHeapTrimThreshold } from '../bin/heap-tuning';
import { serveParent, type ReadyMessage } from './bench-messages';

async function main(): Promise<void> {
  const upstreamPort = Number(process.argv[2]);
  if (!Number.isInteger(upstreamPort) || upstreamPort < 1 || upstreamPort > 65535)
    throw new Error(`web-gateway: bad upstream port ${process.argv[2]}`);
  // As `roamgate serve` does first thing: glibc keeps freed heap for the next reads (bin/heap-tuning.ts).
  raiseHeapTrimThreshold();
  const gw = roamgate({
    servers: { bench: [{ host: '127.0.0.1', port: upstreamPort }] },
    access: [{ subject: 'anonymous', service: 'bench', allow: true }],
    health: { enabled: false },
    logger: pino({ level: 'silent' }),
  });
  const app = express();
  app.disable('x-powered-by');
  app.use('/roamgate', gw.router);
  app.use('/gw', gw.web('bench'));
  app.use('/plain', createProxyMiddleware({ target: `http://127.0.0.1:${upstreamPort}`, changeOrigin: true, xfwd: true }));
  const server = app.listen(0, '127.0.0.1', () => {
    serveParent();
    const ready: ReadyMessage = { type: 'ready', port: (server.address() as AddressInfo).port };
    process.send?.(ready);
  });
  server.keepAliveTimeout = 60_000;
}

main().catch((error: unknown) => {
  console.error('web-gateway failed:', error);
  process.exit(1);
});
