/**
 * The gateway under soak, in a process of its own as in bench/bench-gateway.ts, so that what it holds (file
 * descriptors, memory) is measured apart from the load generator and the upstreams. Compiled and forked by
 * gateway-process.ts with --expose-gc; its setup (SoakSetup) comes as JSON in argv[2]. It serves every
 * adapter the soak drives, and the management API with the tunnel endpoint on an HTTP server of its own;
 * it tells the parent the ports, answers samples, and exits when told to stop or when the parent goes away.
 */
import { readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { takeSample } from '../../bench/bench-messages';
import { hashPassword } from '../../plugin/password';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import type { GatewayReady, GatewaySample, ParentMessage, SoakSetup } from './soak-messages';

/** Longest the login cache remembers the soak user's password check (s): scrypt is paid once, not per connection. */
const LOGIN_CACHE_SECONDS = 3600;

async function startGateway(setup: SoakSetup): Promise<{ gateway: Roamgate; http: Server; ready: GatewayReady }> {
  const { upstreams, user } = setup;
  const server = (port: number) => [{ host: '127.0.0.1', port }];
  const gateway = roamgate({
    users: [{ id: user.id, passwordHash: await hashPassword(user.password), attributes: {} }],
    // Anonymous clients are relayed untouched on smtp, nntp and the web proxy; pop3 and imap have no anonymous rule, so their clients log in.
    access: [
      { subject: 'anonymous', service: 'smtp', allow: true },
      { subject: 'anonymous', service: 'nntp', allow: true },
      { subject: 'anonymous', service: 'http-proxy', allow: true },
      { subject: 'authenticated', service: '*', allow: true },
    ],
    adapters: {
      smtp: { port: 0 },
      pop3: { port: 0, login: { allowCleartext: true } },
      imap: { port: 0, login: { allowCleartext: true } },
      nntp: { port: 0 },
      'http-proxy': { port: 0, allow: [`127.0.0.1:${upstreams.web}`] },
    },
    servers: { smtp: server(upstreams.smtp), pop3: server(upstreams.pop3), imap: server(upstreams.imap), nntp: server(upstreams.nntp) },
    login: { cacheSeconds: LOGIN_CACHE_SECONDS },
    store: { path: setup.storePath },
    health: { enabled: false },
    shutdownGraceMs: 0,
    logger: pino({ level: 'silent' }),
  });
  const app = express();
  app.use('/roamgate', gateway.router);
  const http = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  gateway.attach(http);
  const bound = await gateway.listen();
  const port = (service: string) => (bound[service] as AddressInfo).port;
  const ready: GatewayReady = {
    type: 'ready',
    ports: {
      smtp: port('smtp'),
      pop3: port('pop3'),
      imap: port('imap'),
      nntp: port('nntp'),
      'http-proxy': port('http-proxy'),
      http: (http.address() as AddressInfo).port,
    },
  };
  return { gateway, http, ready };
}

/** Open file descriptors of this process: /proc/self/fd, less the one reading it. */
function openFds(): number {
  return readdirSync('/proc/self/fd').length - 1;
}

async function sample(gc: boolean): Promise<GatewaySample> {
  const memory = await takeSample(gc);
  const { rss, heapUsed, newSpaceSize, collected } = memory;
  return { type: 'sample', rss, heapUsed, newSpaceSize, fds: openFds(), collected };
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('soak-gateway is started by test/soak/soak.test.ts with child_process.fork');
  const setup = JSON.parse(process.argv[2] ?? '') as SoakSetup;
  const { gateway, http, ready } = await startGateway(setup);
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'sample') void sample(message.gc).then((answer) => process.send?.(answer));
    else if (message.type === 'stop')
      void gateway
        .close()
        .then(() => http.closeAllConnections())
        .finally(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send(ready);
}

main().catch((error: unknown) => {
  console.error('soak-gateway failed:', error);
  process.exit(1);
});
