import type { Socket } from 'node:net';
import request from 'supertest';
import { startBlackHole } from '../helpers/fault-servers';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp, RawClient, refusedPort } from '../helpers/net';
import { until } from '../helpers/until';

/*
 * The transparent relay runs each connection as one state object, each step
 * started by the one before it (adapters/line-relay.ts): these tests follow
 * the steps' hand-overs over real sockets, where a step could be lost (a
 * connection never recorded, a listener place never given back) or taken
 * twice.
 */

jest.setTimeout(30_000);

const OPEN_SMTP = [{ subject: 'anonymous', service: 'smtp', allow: true }];
const CONNECT_MS = 400;
const ADMIN = 'transparent-relay-admin-token-01';

/** The open relays the admin API lists. */
async function openRelays(gw: TestGateway): Promise<Array<{ id: string; service: string; server?: string }>> {
  const res = await request(gw.app).get('/roamgate/relays').set('Authorization', `Bearer ${ADMIN}`);
  expect(res.status).toBe(200);
  return res.body.relays;
}

/** An upstream that greets, answers QUIT with 221 and closes, and keeps count of its connections and their closes. */
async function startCountingUpstream() {
  const open = new Set<Socket>();
  let accepted = 0;
  const upstream = await listenTcp((socket) => {
    accepted++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.write('220 counting upstream ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      if (chunk.toString('latin1').startsWith('QUIT')) socket.end('221 bye\r\n');
    });
  });
  return { ...upstream, accepted: () => accepted, open: () => open.size };
}

describe('the transparent relay as one state object', () => {
  let gw: TestGateway | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    while (cleanups.length) await cleanups.pop()!();
  });

  /** A gateway whose first server never answers a SYN and whose second (the returned upstream) does: every dial waits CONNECT_MS. */
  async function startFailover() {
    const hole = await startBlackHole();
    cleanups.push(hole.close);
    const healthy = await startCountingUpstream();
    cleanups.push(healthy.close);
    const servers = [
      { host: '127.0.0.1', port: healthy.port, priority: 20 },
      { host: '127.0.0.1', port: hole.port, priority: 10 },
    ];
    const adapters = { smtp: { port: 0, idleTimeoutMs: 5000, connectTimeoutMs: CONNECT_MS } };
    return { ...healthy, gw: await startGateway({ adapters, servers: { smtp: servers }, access: OPEN_SMTP, adminToken: ADMIN }) };
  }

  test('a client that leaves while its server is dialed: the server reached after a failover is closed at once, and the record says the client left', async () => {
    const healthy = await startFailover();
    gw = healthy.gw;
    const client = await RawClient.open(gw.ports.smtp);
    // Gone while the first server's connect is still pending.
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.close();
    const [record] = await gw.logger.waitForRecords(1, CONNECT_MS + 3000);
    expect(record).toMatchObject({
      service: 'smtp',
      server: `127.0.0.1:${healthy.port}`,
      reason: 'client left before the server answered',
      bytesFromClient: 0,
      bytesFromServer: 0,
    });
    expect(healthy.accepted()).toBe(1);
    await until(() => healthy.open() === 0, 'the server connection closed by the gateway');
  });

  test('a relay the admin cuts while its server is dialed: the server reached after a failover is closed at once, recorded refused for the cut', async () => {
    const healthy = await startFailover();
    gw = healthy.gw;
    const client = await RawClient.open(gw.ports.smtp);
    // Tracked from the moment it is admitted, before any server answers.
    const [relay] = await openRelays(gw);
    expect(relay).toMatchObject({ service: 'smtp' });
    expect(relay.server).toBeUndefined();
    const cut = await request(gw.app).post(`/roamgate/relays/${relay.id}/cut`).set('Authorization', `Bearer ${ADMIN}`);
    expect(cut.status).toBe(204);
    await client.closed;
    expect(client.received).toBe('');
    const [record] = await gw.logger.waitForRecords(1, CONNECT_MS + 3000);
    expect(record).toMatchObject({
      outcome: 'refused',
      reason: expect.stringMatching(/^cut by the admin/),
      server: `127.0.0.1:${healthy.port}`,
    });
    await until(() => healthy.open() === 0, 'the server connection closed by the gateway');
    expect(await openRelays(gw)).toEqual([]);
  });

  test('sixty connections ending every way at once: each recorded once, no relay left tracked, and the port drains at once', async () => {
    const upstream = await startCountingUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0, idleTimeoutMs: 5000, connectTimeoutMs: CONNECT_MS } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: OPEN_SMTP,
      // A connection whose end was lost would hold close() for this long.
      shutdownGraceMs: 20_000,
      adminToken: ADMIN,
    });
    const port = gw.ports.smtp;
    const quit = async () => {
      const client = await RawClient.open(port);
      await client.waitFor((text) => text.startsWith('220 counting upstream'));
      client.send('QUIT\r\n');
      await client.closed;
      return client.received;
    };
    const hangUpAtOnce = async () => {
      const client = await RawClient.open(port);
      client.close();
      return '';
    };
    const hangUpAfterGreeting = async () => {
      const client = await RawClient.open(port);
      await client.waitFor((text) => text.includes('\r\n'));
      client.close();
      return client.received;
    };
    const ways = [quit, hangUpAtOnce, hangUpAfterGreeting];
    const seen = await Promise.all(Array.from({ length: 60 }, (_, index) => ways[index % 3]()));
    expect(seen.filter((text) => text === '220 counting upstream ESMTP\r\n221 bye\r\n')).toHaveLength(20);
    const records = await gw.logger.waitForRecords(60);
    // Nothing is recorded twice: a moment later there are still sixty.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(gw.logger.records()).toHaveLength(60);
    expect(records.filter((record) => record.bytesFromServer === '220 counting upstream ESMTP\r\n221 bye\r\n'.length)).toHaveLength(20);
    await until(() => upstream.open() === 0, 'every server connection closed');
    expect(await openRelays(gw)).toEqual([]);
    const closing = Date.now();
    await gw.close();
    gw = undefined;
    expect(Date.now() - closing).toBeLessThan(3000);
  });

  test('a refusal ends the connection too: the client gets 421 and the port drains at once', async () => {
    gw = await startGateway({
      adapters: { smtp: { port: 0, idleTimeoutMs: 5000, connectTimeoutMs: CONNECT_MS } },
      servers: { smtp: [{ host: '127.0.0.1', port: await refusedPort() }] },
      access: OPEN_SMTP,
      shutdownGraceMs: 20_000,
    });
    const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(gw!.ports.smtp)));
    for (const client of clients) {
      await client.waitFor((text) => text.endsWith('\r\n'));
      expect(client.received).toMatch(/^421 4\.3\.0 smtp service unavailable: could not reach the server\r\n$/);
      await client.closed;
    }
    const records = await gw.logger.waitForRecords(10);
    expect(records.every((record) => record.outcome === 'unreachable')).toBe(true);
    const closing = Date.now();
    await gw.close();
    gw = undefined;
    expect(Date.now() - closing).toBeLessThan(3000);
  });
});
