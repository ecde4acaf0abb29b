import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { ManualClock } from '../helpers/clock';
import { RawClient, listenTcp } from '../helpers/net';
import { untilValue } from '../helpers/until';

const ADMIN = 'admin-token-for-tests-0123456789';
const SECRET = 'registration-secret-0123456789';
const auth = { Authorization: `Bearer ${ADMIN}` };

// Distinctive loopback addresses: they must never appear where the gateway hides servers.
const HIDDEN_SMTP = { host: '127.77.66.55', port: 25999 };
const HIDDEN_POP3 = { host: '127.88.77.66', port: 11999 };

describe('management API', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startGateway({
      adminToken: ADMIN,
      registration: { secret: SECRET },
      adapters: { smtp: { port: 0 }, pop3: { port: 0 } },
      servers: { smtp: [HIDDEN_SMTP], pop3: [{ ...HIDDEN_POP3, priority: 5 }] },
      access: [{ subject: 'anonymous', service: '*', allow: true }],
    });
  });
  afterEach(() => gw.close());

  describe('discovery', () => {
    test('gateway mode names only the gateway adapters, never a server address', async () => {
      const res = await request(gw.app).get('/roamgate/discover').set('Host', 'gw.example.test:8080').expect(200);
      expect(res.body).toEqual({
        mode: 'gateway',
        services: { smtp: [{ host: 'gw.example.test', port: gw.ports.smtp }], pop3: [{ host: 'gw.example.test', port: gw.ports.pop3 }] },
      });
      expect(res.headers['cache-control']).toBe('no-store');
      const text = JSON.stringify(res.body) + JSON.stringify(res.headers);
      for (const hidden of [HIDDEN_SMTP, HIDDEN_POP3]) {
        expect(text).not.toContain(hidden.host);
        expect(text).not.toContain(String(hidden.port));
      }
    });

    test('gateway mode hides registered and admin-added servers too', async () => {
      await request(gw.app)
        .post('/roamgate/servers/register')
        .send({ secret: SECRET, service: 'nntp', host: '127.99.1.2', port: 11919 })
        .expect(201);
      await request(gw.app).post('/roamgate/servers').set(auth).send({ service: 'smtp', host: '127.99.3.4', port: 2599 }).expect(201);
      const res = await request(gw.app).get('/roamgate/discover').expect(200);
      expect(JSON.stringify(res.body)).not.toMatch(/127\.99\.|11919|2599/);
    });

    test('direct mode names the servers in the order to try them', async () => {
      const direct = await startGateway({
        mode: 'direct',
        access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
        servers: {
          smtp: [
            { host: '127.0.0.9', port: 2600, priority: 20 },
            { host: '127.0.0.8', port: 2601, priority: 10 },
          ],
        },
      });
      try {
        const res = await request(direct.app).get('/roamgate/discover').expect(200);
        expect(res.body).toEqual({
          mode: 'direct',
          services: {
            smtp: [
              { host: '127.0.0.8', port: 2601 },
              { host: '127.0.0.9', port: 2600 },
            ],
          },
        });
      } finally {
        await direct.close();
      }
    });
  });

  describe('direct-mode discovery per user', () => {
    let direct: TestGateway;
    const SERVERS = {
      smtp: [{ host: '127.0.0.9', port: 2600 }],
      pop3: [
        { host: '127.0.0.10', port: 2610, for: 'user:alice' },
        { host: '127.0.0.11', port: 2611 },
      ],
      nntp: [{ host: '127.0.0.12', port: 2620 }],
    };
    afterEach(() => direct.close());

    async function start(access: NonNullable<Parameters<typeof startGateway>[0]['access']>) {
      const hash = await hashPassword('pw');
      direct = await startGateway({
        mode: 'direct',
        servers: SERVERS,
        users: [
          { id: 'alice', passwordHash: hash, attributes: { team: 'sales' } },
          { id: 'bob', passwordHash: hash, attributes: { team: 'research' } },
        ],
        access,
      });
    }
    const tokenOf = async (username: string) =>
      (await request(direct.app).post('/roamgate/login').send({ username, password: 'pw', bindAddress: false }).expect(201)).body.token;
    const discover = async (token?: string) =>
      (
        await request(direct.app)
          .get('/roamgate/discover')
          .set(token ? { Authorization: `Bearer ${token}` } : {})
          .expect(200)
      ).body.services;

    test("with a lease token: that user's own servers, for the services the access table allows them", async () => {
      await start([
        { subject: 'team=sales', service: 'pop3', allow: true },
        { subject: 'team=sales', service: 'smtp', allow: true },
        { subject: 'team=research', service: 'nntp', allow: true },
        { subject: 'anonymous', service: 'smtp', allow: true },
      ]);
      expect(await discover(await tokenOf('alice'))).toEqual({
        smtp: [{ host: '127.0.0.9', port: 2600 }],
        pop3: [{ host: '127.0.0.10', port: 2610 }],
      });
      expect(await discover(await tokenOf('bob'))).toEqual({ nntp: [{ host: '127.0.0.12', port: 2620 }] });
      expect(await discover()).toEqual({ smtp: [{ host: '127.0.0.9', port: 2600 }] });
    });

    test('anonymous direct discovery is empty when anonymous clients may use nothing', async () => {
      await start([{ subject: 'authenticated', service: '*', allow: true }]);
      expect(await discover()).toEqual({});
      expect(Object.keys(await discover(await tokenOf('bob'))).sort()).toEqual(['nntp', 'pop3', 'smtp']);
    });
  });

  describe('admin protection', () => {
    test.each([
      ['get', '/roamgate/servers'],
      ['post', '/roamgate/servers'],
      ['delete', '/roamgate/servers/admin:abc'],
    ] as const)('%s %s needs the admin token', async (method, path) => {
      const none = await request(gw.app)[method](path).send({}).expect(401);
      expect(none.body.error).toMatch(/admin login or admin token required/);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      // An unknown bearer token is no one: 401 again.
      await request(gw.app)[method](path).set('Authorization', 'Bearer wrong-token-wrong-token').send({}).expect(401);
    });

    test('without a configured admin token, a presented token is no one', async () => {
      const open = await startGateway({ servers: {} });
      try {
        const res = await request(open.app).get('/roamgate/servers').set(auth).expect(401);
        expect(res.body.error).toMatch(/admin login or admin token required/);
      } finally {
        await open.close();
      }
    });
  });

  describe('server-info table', () => {
    test('lists every entry with origin and health, adds and removes through the API', async () => {
      const listed = await request(gw.app).get('/roamgate/servers').set(auth).expect(200);
      expect(listed.body.servers).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ service: 'smtp', ...HIDDEN_SMTP, priority: 10, origin: 'static', health: { state: 'unknown' } }),
          expect.objectContaining({ service: 'pop3', ...HIDDEN_POP3, priority: 5, origin: 'static' }),
        ]),
      );
      const added = await request(gw.app)
        .post('/roamgate/servers')
        .set(auth)
        .send({ service: 'nntp', host: '127.0.0.1', port: 1190, priority: 3 })
        .expect(201);
      expect(added.body).toMatchObject({ service: 'nntp', host: '127.0.0.1', port: 1190, priority: 3, origin: 'admin' });
      const again = await request(gw.app).get('/roamgate/servers').set(auth).expect(200);
      expect(again.body.servers.map((s: { id: string }) => s.id)).toContain(added.body.id);
      await request(gw.app).delete(`/roamgate/servers/${added.body.id}`).set(auth).expect(204);
      await request(gw.app).delete(`/roamgate/servers/${added.body.id}`).set(auth).expect(404);
      const staticId = listed.body.servers[0].id;
      const fixed = await request(gw.app)
        .delete(`/roamgate/servers/${encodeURIComponent(staticId)}`)
        .set(auth)
        .expect(409);
      expect(fixed.body.error).toMatch(/edit it there/);
    });

    test('health shows in the listing after a probe', async () => {
      const smtp = await listenTcp((socket) => socket.end('220 healthy smtp\r\n'));
      const checked = await startGateway({
        adminToken: ADMIN,
        health: { enabled: true, intervalMs: 60_000, timeoutMs: 500 },
        adapters: { smtp: { port: 0 } },
        servers: {
          smtp: [
            { host: '127.0.0.1', port: smtp.port },
            { host: '127.0.0.1', port: 1 },
          ],
        },
      });
      try {
        type Listed = Array<{ port: number; health: { state: string; reason?: string } }>;
        const servers = await untilValue(
          async (): Promise<Listed> => (await request(checked.app).get('/roamgate/servers').set(auth)).body.servers,
          (listed) => listed.length > 0 && listed.every((s) => s.health.state !== 'unknown'),
          'both servers probed',
          5000,
          50,
        );
        expect(servers.find((s) => s.port === smtp.port)!.health.state).toBe('healthy');
        expect(servers.find((s) => s.port === 1)!.health).toMatchObject({
          state: 'unhealthy',
          reason: expect.stringMatching(/ECONNREFUSED/),
        });
      } finally {
        await checked.close();
        await smtp.close();
      }
    });

    test.each([
      [{ service: 'smtp', host: '127.0.0.1' }, 'port'],
      [{ service: 'smtp', host: '127.0.0.1', port: '25' }, 'port'],
      [{ service: 'smtp', host: '127.0.0.1', port: 70000 }, 'port'],
      [{ service: 'SMTP!', host: '127.0.0.1', port: 25 }, 'service'],
      [{ service: 'smtp', host: 'bad host', port: 25 }, 'host'],
      [{ service: 'smtp', host: '127.0.0.1', port: 25, priority: -1 }, 'priority'],
      [{ service: 'smtp', host: '127.0.0.1', port: 25, extra: true }, 'extra'],
    ])('bad input %j gets 400 naming %s', async (body, field) => {
      const res = await request(gw.app).post('/roamgate/servers').set(auth).send(body).expect(400);
      expect(res.body.field).toBe(field);
      expect(res.body.error).toMatch(new RegExp(`^${field.replace(/[()]/g, '\\$&')}`));
    });

    test('malformed JSON gets 400 and a huge body 413', async () => {
      await request(gw.app).post('/roamgate/servers').set(auth).set('Content-Type', 'application/json').send('{"service":').expect(400);
      const huge = await request(gw.app)
        .post('/roamgate/servers')
        .set(auth)
        .send({ service: 'smtp', host: 'x'.repeat(64 * 1024), port: 25 })
        .expect(413);
      expect(huge.body.error).toMatch(/too large/);
    });
  });

  describe('self-registration', () => {
    test('a server registers, renews by heartbeat, and drops out when its TTL lapses', async () => {
      const clock = new ManualClock();
      const timed = await startGateway({ adminToken: ADMIN, registration: { secret: SECRET }, clock });
      try {
        const ids = async (): Promise<string[]> => {
          const res = await request(timed.app).get('/roamgate/servers').set(auth).expect(200);
          return res.body.servers.map((s: { id: string }) => s.id);
        };
        const body = { secret: SECRET, service: 'nntp', host: '127.0.0.1', port: 11919, ttlSeconds: 1 };
        const first = await request(timed.app).post('/roamgate/servers/register').send(body).expect(201);
        expect(first.body).toMatchObject({ service: 'nntp', ttlSeconds: 1, renewed: false });
        clock.advance(600);
        const renewed = await request(timed.app).post('/roamgate/servers/register').send(body).expect(200);
        expect(renewed.body).toMatchObject({ id: first.body.id, renewed: true });
        const listed = await request(timed.app).get('/roamgate/servers').set(auth).expect(200);
        const entry = expect.objectContaining({ id: first.body.id, origin: 'registered', expiresAt: expect.any(String) });
        expect(listed.body.servers).toEqual(expect.arrayContaining([entry]));
        // Past the first TTL, within the renewed one.
        clock.advance(600);
        expect(await ids()).toContain(first.body.id);
        clock.advance(400);
        expect(await ids()).not.toContain(first.body.id);
      } finally {
        await timed.close();
      }
    });

    test('a registered server is used by the adapters, and deregistering removes it', async () => {
      const nntp = await listenTcp((socket) => socket.end('200 registered news server\r\n'));
      const withNntp = await startGateway({
        registration: { secret: SECRET },
        adapters: { nntp: { port: 0 } },
        access: [{ subject: 'anonymous', service: 'nntp', allow: true }],
      });
      try {
        let client = await RawClient.open(withNntp.ports.nntp);
        await client.closed;
        expect(client.received).toMatch(/^400 no nntp server is configured/);
        await request(withNntp.app)
          .post('/roamgate/servers/register')
          .send({ secret: SECRET, service: 'nntp', host: '127.0.0.1', port: nntp.port })
          .expect(201);
        client = await RawClient.open(withNntp.ports.nntp);
        await client.closed;
        expect(client.received).toBe('200 registered news server\r\n');
        await request(withNntp.app)
          .delete('/roamgate/servers/register')
          .send({ secret: SECRET, service: 'nntp', host: '127.0.0.1', port: nntp.port })
          .expect(204);
        client = await RawClient.open(withNntp.ports.nntp);
        await client.closed;
        expect(client.received).toMatch(/^400 /);
      } finally {
        await withNntp.close();
        await nntp.close();
      }
    });

    test('only the services in registration.services self-register (not http-proxy by default), and at most maxEntries at once', async () => {
      const refused = await request(gw.app)
        .post('/roamgate/servers/register')
        .send({ secret: SECRET, service: 'http-proxy', host: '203.0.113.66', port: 3128 })
        .expect(403);
      expect(refused.body).toMatchObject({ field: 'service', error: expect.stringMatching(/may not register themselves for http-proxy/) });
      const small = await startGateway({ registration: { secret: SECRET, services: ['smtp', 'http-proxy'], maxEntries: 2 } });
      try {
        const register = (service: string, port: number) =>
          request(small.app).post('/roamgate/servers/register').send({ secret: SECRET, service, host: '127.0.0.1', port });
        await register('http-proxy', 3128).expect(201);
        await register('smtp', 2525).expect(201);
        const full = await register('smtp', 2526).expect(429);
        expect(full.body.error).toMatch(/registration\.maxEntries: 2/);
        expect(full.headers['retry-after']).toBeDefined();
        // A heartbeat of one already there still works when full.
        await register('smtp', 2525).expect(200);
        await register('pop3', 1110).expect(403);
      } finally {
        await small.close();
      }
    });

    test('a wrong secret is refused; without a configured secret registration is disabled', async () => {
      const res = await request(gw.app)
        .post('/roamgate/servers/register')
        .send({ secret: 'wrong', service: 'nntp', host: '127.0.0.1', port: 119 })
        .expect(403);
      expect(res.body.field).toBe('secret');
      await request(gw.app).post('/roamgate/servers/register').send({ service: 'nntp', host: '127.0.0.1', port: 119 }).expect(400);
      const closed = await startGateway({ servers: {} });
      try {
        const disabled = await request(closed.app)
          .post('/roamgate/servers/register')
          .send({ secret: SECRET, service: 'nntp', host: '127.0.0.1', port: 119 })
          .expect(403);
        expect(disabled.body.error).toMatch(/registration disabled/);
      } finally {
        await closed.close();
      }
    });
  });
});
