import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp } from '../helpers/net';
import { until } from '../helpers/until';

const ADMIN = 'tunnel-admin-token-0123456789';

/** Opens a tunnel: CONNECT <service>.roamgate:1 on the gateway's HTTP port; returns the socket and everything read. */
function openTunnel(
  port: number,
  service: string,
  token?: string,
  after = '',
): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(
        `CONNECT ${service}.roamgate:1 HTTP/1.1\r\nHost: ${service}.roamgate:1\r\n${token ? `Proxy-Authorization: Bearer ${token}\r\n` : ''}\r\n${after}`,
      );
      resolve({ socket, text: () => received, closed });
    });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
  });
}

describe('tunnel endpoint (CONNECT <service>.roamgate:1 with a lease token)', () => {
  let gw: TestGateway;
  let apiPort: number;
  let smtp: Awaited<ReturnType<typeof listenTcp>>;
  let web: Server;
  let webPort: number;
  let alice: { token: string; lease: { id: string } };
  let bob: { token: string };

  beforeEach(async () => {
    smtp = await listenTcp((socket) => {
      socket.write('220 hidden.example.internal ESMTP\r\n');
      socket.on('data', () => socket.write('250 ok\r\n'));
    });
    web = createServer((req, res) => res.end(`web ${req.url}\n`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as AddressInfo).port;
    gw = await startGateway(
      {
        adminToken: ADMIN,
        users: [
          { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { department: 'sales' } },
          { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: { department: 'research' } },
        ],
        adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${webPort}`] } },
        servers: { smtp: [{ host: '127.0.0.1', port: smtp.port }] },
        access: [
          { subject: 'department=sales', service: 'smtp', allow: true },
          { subject: 'department=sales', service: 'http-proxy', allow: true },
          { subject: 'department=research', service: 'smtp', allow: false, reason: 'research sends mail from its own network' },
          { subject: 'department=research', service: 'nntp', allow: true },
        ],
      },
      true,
    );
    apiPort = (gw.http!.address() as AddressInfo).port;
    alice = (
      await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw', bindAddress: false }).expect(201)
    ).body;
    bob = (await request(gw.app).post('/roamgate/login').send({ username: 'bob', password: 'bob-pw', bindAddress: false }).expect(201))
      .body;
  });
  afterEach(async () => {
    await gw.close();
    await smtp.close();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });

  test('with a valid token the tunnel relays to the service; the terminal sees no server address', async () => {
    const tunnel = await openTunnel(apiPort, 'smtp', alice.token);
    await until(() => tunnel.text().includes('220 '), 'the greeting');
    tunnel.socket.write('NOOP\r\n');
    await until(() => tunnel.text().includes('250 ok'), 'the NOOP reply');
    expect(tunnel.text()).toMatch(/^HTTP\/1\.1 200 Tunnel established\r\n\r\n220 hidden\.example\.internal ESMTP\r\n250 ok\r\n$/);
    expect(tunnel.text()).not.toContain(String(smtp.port));
    tunnel.socket.destroy();
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'smtp', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${smtp.port}` });
  });

  test.each([
    ['no token', undefined],
    ['an unknown token', 'not-a-real-token'],
  ])('%s gets 407 with a Bearer challenge', async (_name, token) => {
    const tunnel = await openTunnel(apiPort, 'smtp', token);
    await tunnel.closed;
    expect(tunnel.text()).toMatch(/^HTTP\/1\.1 407 Proxy Authentication Required\r\n/);
    expect(tunnel.text()).toMatch(/\r\nProxy-Authenticate: Bearer realm="roamgate"\r\n/);
    expect(tunnel.text()).not.toMatch(/127\.0\.0\.1|\d{4,5}/);
  });

  test('a user not allowed the service gets 403 with the reason', async () => {
    const tunnel = await openTunnel(apiPort, 'smtp', bob.token);
    await tunnel.closed;
    expect(tunnel.text()).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(tunnel.text()).toMatch(/research sends mail from its own network\n$/);
  });

  test('a revoked lease closes its open tunnel, and the token stops working', async () => {
    const tunnel = await openTunnel(apiPort, 'smtp', alice.token);
    await until(() => tunnel.text().includes('220 '), 'the greeting');
    await request(gw.app).delete(`/roamgate/leases/${alice.lease.id}`).set('Authorization', `Bearer ${alice.token}`).expect(204);
    await tunnel.closed;
    const again = await openTunnel(apiPort, 'smtp', alice.token);
    await again.closed;
    expect(again.text()).toMatch(/^HTTP\/1\.1 407 /);
  });

  test('the http-proxy service through a tunnel is the gateway web proxy, allowlist and all', async () => {
    const tunnel = await openTunnel(
      apiPort,
      'http-proxy',
      alice.token,
      `GET http://127.0.0.1:${webPort}/inside HTTP/1.1\r\nHost: 127.0.0.1:${webPort}\r\nConnection: close\r\n\r\n`,
    );
    await tunnel.closed;
    expect(tunnel.text()).toMatch(/^HTTP\/1\.1 200 Tunnel established\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(tunnel.text()).toMatch(/web \/inside\n$/);
    const refused = await openTunnel(
      apiPort,
      'http-proxy',
      alice.token,
      `GET http://127.0.0.1:${webPort + 1}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    await refused.closed;
    expect(refused.text()).toMatch(/\r\n\r\nHTTP\/1\.1 403 Forbidden\r\n/);
  });

  test('a CONNECT that is not a tunnel request gets 400', async () => {
    const socket = connect({ host: '127.0.0.1', port: apiPort });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.write('CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });
});
