import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { DEFAULT_MAX_TUNNELS_PER_LEASE } from '../../adapters/tunnel-endpoint';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp, RawClient } from '../helpers/net';

jest.setTimeout(20_000);

const OPEN_PROXY = [{ subject: 'anonymous', service: 'http-proxy', allow: true }] as const;

/** Sends one proxy request head on a fresh connection; resolves with everything read once the gateway closes or `done` holds. */
async function ask(port: number, head: string, done: (text: string) => boolean = () => false): Promise<string> {
  const client = await RawClient.open(port);
  client.send(head);
  await Promise.race([client.closed, client.waitFor(done)]);
  client.close();
  return client.received;
}

describe('web proxy destinations through a running gateway', () => {
  let gw: TestGateway | undefined;
  let web: Server;
  let webPort: number;
  const upstreamHeads: string[] = [];
  let upstream: Awaited<ReturnType<typeof listenTcp>>;

  beforeAll(async () => {
    web = createServer((req, res) => res.end(`web ${req.url}\n`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as AddressInfo).port;
    // An upstream web proxy that accepts every tunnel and keeps the heads it was sent.
    upstream = await listenTcp((socket) => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (!text.includes('\r\n\r\n')) return;
        upstreamHeads.push(text);
        socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      });
    });
  });
  afterAll(async () => {
    await upstream.close();
    web.closeAllConnections();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    upstreamHeads.length = 0;
  });

  test('*:* does not reach loopback, by address or by name; an entry naming it does', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: ['*:*'] } }, access: [...OPEN_PROXY] });
    const port = gw.ports['http-proxy'];
    for (const host of ['127.0.0.1', 'localhost', '[0::1]', '0x7f000001'])
      expect(await ask(port, `GET http://${host}:${webPort}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toMatch(
        /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*loopback addresses are reached only through an allowlist entry naming them/,
      );
    await gw.close();
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: ['*:*', `127.0.0.1:${webPort}`] } }, access: [...OPEN_PROXY] });
    const named = await ask(gw.ports['http-proxy'], `GET http://0x7f.1:${webPort}/named HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(named).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*web \/named\n$/);
  });

  test('with an upstream proxy in the table, every numeric spelling is checked as its address before anything is sent on', async () => {
    gw = await startGateway({
      adapters: { 'http-proxy': { port: 0, allow: ['*:80', '[::1]:8080'] } },
      servers: { 'http-proxy': [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_PROXY],
    });
    const port = gw.ports['http-proxy'];
    const connect = (authority: string) =>
      ask(port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, (text) => / 200 /.test(text));
    expect(await connect('0XA9FEA9FE:80')).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*link-local addresses are never proxied/);
    expect(await connect('[::FFFF:A9FE:A9FE]:80')).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*link-local/);
    expect(await connect('[0::1]:80')).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*loopback addresses are reached only through/);
    expect(upstreamHeads).toEqual([]);
    // An allowed address in another spelling matches its entry, and goes on in its canonical spelling.
    expect(await connect('[0:0:0:0:0:0:0:1]:8080')).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstreamHeads).toEqual(['CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n']);
  });
});

describe('tunnel endpoint: the default cap per lease, on a running gateway', () => {
  test(`one tunnel past the ${DEFAULT_MAX_TUNNELS_PER_LEASE} open on one lease gets 503; another lease still gets through`, async () => {
    const smtp = await listenTcp((socket) => socket.write('220 hidden ESMTP\r\n'));
    const gw = await startGateway(
      {
        users: [
          { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} },
          { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: {} },
        ],
        servers: { smtp: [{ host: '127.0.0.1', port: smtp.port }] },
        access: [{ subject: 'authenticated', service: 'smtp', allow: true }],
      },
      true,
    );
    const apiPort = (gw.http!.address() as AddressInfo).port;
    const open: RawClient[] = [];
    const tunnel = async (token: string) => {
      const client = await RawClient.open(apiPort);
      open.push(client);
      client.send(`CONNECT smtp.roamgate:1 HTTP/1.1\r\nHost: smtp.roamgate:1\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`);
      return client.waitFor((text) => text.includes('220 hidden') || /^HTTP\/1\.1 [45]\d\d [\s\S]*\n$/.test(text));
    };
    try {
      const alice = (
        await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw', bindAddress: false }).expect(201)
      ).body.token;
      const bob = (
        await request(gw.app).post('/roamgate/login').send({ username: 'bob', password: 'bob-pw', bindAddress: false }).expect(201)
      ).body.token;
      for (let i = 0; i < DEFAULT_MAX_TUNNELS_PER_LEASE; i++) expect(await tunnel(alice)).toMatch(/^HTTP\/1\.1 200 /);
      expect(await tunnel(alice)).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*too many tunnels open on this lease/);
      expect(await tunnel(bob)).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      for (const client of open) client.close();
      await gw.close();
      await smtp.close();
    }
  });
});
