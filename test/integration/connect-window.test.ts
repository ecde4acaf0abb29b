import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import type { ServerInfo } from '../../server-info';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient } from '../helpers/net';
import { until } from '../helpers/until';

jest.setTimeout(20_000);

/**
 * A connection is the gateway's from the moment it is authorized: a lease
 * revoked or a rule changed while its server is still being chosen and
 * reached cuts it, instead of letting it start a relay on what no longer holds.
 */

/** A POP3-ish upstream that greets and counts the connections it got. */
async function startUpstream(): Promise<{ port: number; accepted: Socket[]; close(): Promise<void> }> {
  const accepted: Socket[] = [];
  const server: Server = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
    socket.write('+OK upstream\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    close: async () => {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A server-info source whose answers wait until `open()`: the window between authorize and connect, held open. */
function gatedSource(port: number) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const asked: string[] = [];
  return {
    asked,
    open: () => open(),
    resolve: async (service: string): Promise<ServerInfo[]> => {
      asked.push(service);
      await gate;
      return [{ host: '127.0.0.1', port, priority: 10 }];
    },
  };
}

let upstream: Awaited<ReturnType<typeof startUpstream>>;
let gw: TestGateway | undefined;
beforeEach(async () => {
  upstream = await startUpstream();
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await upstream.close();
});

test('a lease revoked while its connection waits for a server cuts the connection, and no server is reached for it', async () => {
  const source = gatedSource(upstream.port);
  gw = await startGateway({
    users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
    access: [{ subject: 'authenticated', service: 'pop3', allow: true }],
    adapters: { pop3: { port: 0 } },
    servers: { resolve: source.resolve },
  });
  const login = await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201);
  const client = await RawClient.open(gw.ports.pop3);
  await until(() => source.asked.length === 1, 'the gateway to ask for a pop3 server');
  await request(gw.app).delete(`/roamgate/leases/${login.body.lease.id}`).set('Authorization', `Bearer ${login.body.token}`).expect(204);
  await client.closed;
  expect(client.received).toBe('');
  source.open();
  const [record] = await gw.logger.waitForRecords(1);
  expect(record).toMatchObject({ service: 'pop3', identity: 'alice', outcome: 'refused', reason: 'lease revoked' });
  // Whatever the gateway had begun is undone: no relay, no upstream connection left open.
  await until(() => upstream.accepted.every((socket) => socket.destroyed), 'every upstream connection to be closed');
});

test('a rule change while an anonymous connection waits for a server cuts it; an allowed one waiting beside it is relayed', async () => {
  const source = gatedSource(upstream.port);
  gw = await startGateway({
    adminToken: 'admin-token-0123456789',
    access: [{ subject: 'anonymous', service: '*', allow: true }],
    adapters: { pop3: { port: 0 }, nntp: { port: 0 } },
    servers: { resolve: source.resolve },
  });
  const pop3 = await RawClient.open(gw.ports.pop3);
  const nntp = await RawClient.open(gw.ports.nntp);
  await until(() => source.asked.length === 2, 'the gateway to ask for a server for both connections');
  await request(gw.app)
    .post('/roamgate/access/rules')
    .set('Authorization', 'Bearer admin-token-0123456789')
    .send({ subject: 'anonymous', service: 'pop3', allow: false })
    .expect(201);
  await pop3.closed;
  expect(pop3.received).toBe('');
  source.open();
  await nntp.waitFor((text) => text.includes('+OK upstream'));
  nntp.close();
  const records = await gw.logger.waitForRecords(2);
  expect(records.find((r) => r.service === 'pop3')).toMatchObject({ outcome: 'refused', reason: 'no longer allowed by the access table' });
  expect(records.find((r) => r.service === 'nntp')).toMatchObject({ outcome: 'relayed' });
});

test('a CONNECT cut by a rule change while its way out is chosen answers nothing and is recorded with the rule change as its reason', async () => {
  const source = gatedSource(upstream.port);
  gw = await startGateway({
    adminToken: 'admin-token-0123456789',
    access: [{ subject: 'anonymous', service: '*', allow: true }],
    adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${upstream.port}`] } },
    servers: { resolve: source.resolve },
  });
  const client = await RawClient.open(gw.ports['http-proxy']);
  client.send(`CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
  await until(() => source.asked.length === 1, 'the gateway to look for an upstream web proxy');
  await request(gw.app)
    .post('/roamgate/access/rules')
    .set('Authorization', 'Bearer admin-token-0123456789')
    .send({ subject: 'anonymous', service: 'http-proxy', allow: false })
    .expect(201);
  await client.closed;
  expect(client.received).toBe('');
  source.open();
  const [record] = await gw.logger.waitForRecords(1);
  expect(record).toMatchObject({ service: 'http-proxy', outcome: 'refused', reason: 'no longer allowed by the access table' });
});
