import { readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import type { RoamgateOptions } from '../../plugin/options';
import { roamgate } from '../../plugin/roamgate';
import { hashPassword } from '../../plugin/password';
import { CapturingLogger, startGateway, type TestGateway } from '../helpers/gateway';
import { startPop3 } from '../helpers/line-servers';
import { RawClient, refusedPort } from '../helpers/net';
import { until } from '../helpers/until';

jest.setTimeout(20_000);

const ADMIN = 'admin-token-for-tests-0123456789';
const SECRET = 'registration-secret-0123456789';
const auth = { Authorization: `Bearer ${ADMIN}` };

let users: Array<{ id: string; passwordHash: string; attributes: Record<string, string> }>;
beforeAll(async () => {
  users = [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }];
});

/** Logs in as alice in POP3's own words and resolves with everything the client heard once the login is answered. */
async function popLogin(port: number): Promise<string> {
  const client = await RawClient.open(port);
  try {
    await client.waitFor((text) => text.startsWith('+OK'));
    client.send('USER alice\r\nPASS alice-pw\r\n');
    // The greeting, USER's answer, then PASS's.
    return await client.waitFor((text) => text.split('\r\n').length > 3);
  } finally {
    client.close();
  }
}

describe('registered servers and users’ credentials', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function pop3(banner: string) {
    const server = await startPop3(banner, { alice: 'alice-pw' });
    cleanups.push(server.close);
    return server;
  }

  async function gateway(extra: Record<string, unknown> = {}, servers: RoamgateOptions['servers'] = {}): Promise<TestGateway> {
    const gw = await startGateway({
      users,
      adminToken: ADMIN,
      registration: { secret: SECRET, ...extra },
      adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
      servers,
      access: [{ subject: 'authenticated', service: '*', allow: true }],
    });
    cleanups.push(gw.close);
    return gw;
  }

  const register = (gw: TestGateway, port: number, priority = 0) =>
    request(gw.app).post('/roamgate/servers/register').send({ secret: SECRET, service: 'pop3', host: '127.0.0.1', port, priority });

  test('a registration at priority 0 does not take POP3 from an option entry', async () => {
    const operator = await pop3('operator pop3');
    const intruder = await pop3('registered pop3');
    const gw = await gateway({}, { pop3: [{ host: '127.0.0.1', port: operator.port, priority: 10 }] });
    await register(gw, intruder.port).expect(201);
    expect(await popLogin(gw.ports.pop3)).toMatch(/\+OK Logged in\r\n$/);
    expect(operator.logins).toEqual(['alice']);
    expect(intruder.connections.count).toBe(0);
    expect(intruder.received).toEqual([]);
  });

  test("an in-protocol POP3 login never sends the user's password to a registered server", async () => {
    const intruder = await pop3('registered pop3');
    const gw = await gateway();
    await register(gw, intruder.port).expect(201);
    const heard = await popLogin(gw.ports.pop3);
    expect(heard).toMatch(/-ERR \[SYS\/TEMP\][^\r\n]*\r\n$/);
    expect(intruder.received.join('\n')).not.toContain('alice-pw');
    expect(intruder.connections.count).toBe(0);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'pop3', identity: 'alice', outcome: 'unreachable' });
    expect(record.reason).toMatch(/registered/);
  });

  test('registration.forwardCredentials lists the services whose registered servers may be sent the login', async () => {
    const registered = await pop3('registered pop3');
    const gw = await gateway({ forwardCredentials: ['pop3'] });
    await register(gw, registered.port).expect(201);
    expect(await popLogin(gw.ports.pop3)).toMatch(/\+OK Logged in\r\n$/);
    expect(registered.logins).toEqual(['alice']);
  });

  test('a registered server the login relay may not use is skipped as unusable (a failover), not marked unhealthy', async () => {
    const intruder = await pop3('registered pop3');
    // The operator's server is down: the registered one comes next, and is passed over rather than sent the password.
    const down = await refusedPort();
    const gw = await gateway({}, { pop3: [{ host: '127.0.0.1', port: down }] });
    await register(gw, intruder.port).expect(201);
    expect(await popLogin(gw.ports.pop3)).toMatch(/-ERR \[SYS\/TEMP\] pop3 service unavailable/);
    expect(intruder.connections.count).toBe(0);
    const listed = await request(gw.app).get('/roamgate/servers').set(auth).expect(200);
    const entry = (listed.body.servers as Array<{ port: number; health: { state: string } }>).find((s) => s.port === intruder.port);
    expect(entry?.health.state).toBe('unknown');
  });
});

describe('table entries are checked with the web proxy’s address rules', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startGateway({
      adminToken: ADMIN,
      registration: { secret: SECRET },
      adapters: { smtp: { port: 0 }, pop3: { port: 0 } },
      access: [{ subject: 'anonymous', service: '*', allow: true }],
    });
  });
  afterEach(() => gw.close());

  const FORBIDDEN: Array<[string, RegExp]> = [
    ['169.254.169.254', /link-local/],
    ['0xA9FEA9FE', /link-local/],
    ['0XA9FEA9FE', /link-local/],
    ['::ffff:169.254.169.254', /link-local/],
    ['fe80::1', /link-local/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
  ];

  test.each(FORBIDDEN)('registering %s is refused (400 naming the host and why)', async (host, why) => {
    const res = await request(gw.app)
      .post('/roamgate/servers/register')
      .send({ secret: SECRET, service: 'smtp', host, port: 80 })
      .expect(400);
    expect(res.body.field).toBe('host');
    expect(res.body.error).toMatch(why);
  });

  test.each(FORBIDDEN)('an admin adding %s is refused (400 naming the host and why)', async (host, why) => {
    const res = await request(gw.app).post('/roamgate/servers').set(auth).send({ service: 'smtp', host, port: 80 }).expect(400);
    expect(res.body.field).toBe('host');
    expect(res.body.error).toMatch(why);
  });

  test.each(['127.0.0.1', '127.1', '0x7f000001', '::ffff:127.0.0.1', '::1', 'localhost', 'LocalHost.'])(
    "the gateway's own adapter port on %s is refused, through registration and the admin API",
    async (host) => {
      for (const port of [gw.ports.smtp, gw.ports.pop3]) {
        const registered = await request(gw.app)
          .post('/roamgate/servers/register')
          .send({ secret: SECRET, service: 'smtp', host, port })
          .expect(400);
        expect(registered.body).toMatchObject({ field: 'host', error: expect.stringMatching(/the gateway's own/) });
        const added = await request(gw.app).post('/roamgate/servers').set(auth).send({ service: 'pop3', host, port }).expect(400);
        expect(added.body).toMatchObject({ field: 'host', error: expect.stringMatching(/the gateway's own/) });
      }
    },
  );

  test('loopback and private servers on other ports stay welcome (internal servers are the point)', async () => {
    for (const host of ['127.0.0.1', '10.1.2.3', '192.168.7.7', 'fd00::25', 'mail.internal']) {
      await request(gw.app).post('/roamgate/servers/register').send({ secret: SECRET, service: 'smtp', host, port: 2525 }).expect(201);
    }
  });

  test('the options and the watched file refuse forbidden addresses too', async () => {
    expect(() => roamgate({ servers: { smtp: [{ host: '169.254.169.254', port: 80 }] } })).toThrow(
      expect.objectContaining({
        code: 'ROAMGATE_INVALID_OPTIONS',
        message: expect.stringMatching(/^servers\.smtp\.0\.host: .*link-local/),
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-table-'));
    const file = join(dir, 'servers.yaml');
    writeFileSync(file, 'smtp:\n  - { host: "::ffff:a9fe:a9fe", port: 80 }\n');
    expect(() => roamgate({ serversFile: file })).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS', message: expect.stringMatching(/smtp\.0\.host: .*link-local/) }),
    );
  });
});

/** The open file descriptors of this process (the gateway runs in it). */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe("an entry naming the gateway's own port does not loop", () => {
  test('registered before listen: one anonymous connection makes no self-connections', async () => {
    const port = await refusedPort();
    const logger = new CapturingLogger();
    const gateway = roamgate({
      health: { enabled: false },
      logger,
      registration: { secret: SECRET },
      adapters: { smtp: { port, maxClients: 50 } },
      access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
    });
    const app = express();
    app.use('/roamgate', gateway.router);
    // Before listen the gateway's ports are not known yet: the registration is taken, and refused when a connection resolves it.
    await request(app).post('/roamgate/servers/register').send({ secret: SECRET, service: 'smtp', host: '127.0.0.1', port }).expect(201);
    await gateway.listen();
    try {
      const before = openFds();
      const client = await RawClient.open(port);
      await client.closed;
      expect(client.received).toMatch(/^(421|554) .*no smtp server/);
      const records = await logger.waitForRecords(1);
      await until(
        () => openFds() <= before,
        () => `fds back to ${before} (now ${openFds()})`,
      );
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ service: 'smtp', identity: 'anonymous' });
      expect(records[0].server).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });

  test.each([
    ['127.0.0.1', 'the watched file'],
    ['::ffff:7f00:1', 'the watched file'],
    ['localhost', 'the watched file'],
  ])('%s in %s: one anonymous connection makes no self-connections', async (host) => {
    const port = await refusedPort();
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-loop-'));
    const file = join(dir, 'servers.yaml');
    writeFileSync(file, `smtp:\n  - { host: "${host}", port: ${port} }\n`);
    const gw = await startGateway({
      serversFile: file,
      adapters: { smtp: { port, maxClients: 50 } },
      access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
    });
    try {
      const client = await RawClient.open(port);
      await client.closed;
      expect(client.received).toMatch(/no smtp server/);
      const records = await gw.logger.waitForRecords(1);
      expect(records).toHaveLength(1);
    } finally {
      await gw.close();
    }
  });
});

describe('wrong registration secrets', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startGateway({ adminToken: ADMIN, registration: { secret: SECRET } });
  });
  afterEach(() => gw.close());

  test('are throttled per address after 10 (then 429 with Retry-After, even for the right one) and audited', async () => {
    const body = { service: 'smtp', host: '127.0.0.1', port: 2525 };
    for (let i = 0; i < 10; i++) {
      const wrong = i % 2 === 0 ? request(gw.app).post('/roamgate/servers/register') : request(gw.app).delete('/roamgate/servers/register');
      await wrong.send({ ...body, secret: `guess-number-${i}-0123456789` }).expect(403);
    }
    const throttled = await request(gw.app)
      .post('/roamgate/servers/register')
      .send({ ...body, secret: 'guess-number-11-0123456789' })
      .expect(429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    expect(throttled.body.error).toMatch(/too many wrong registration secrets/);
    await request(gw.app)
      .post('/roamgate/servers/register')
      .send({ ...body, secret: SECRET })
      .expect(429);
    const audit = await request(gw.app).get('/roamgate/audit?limit=50').set(auth).expect(200);
    const types = (audit.body.events as Array<{ type: string }>).map((event) => event.type);
    expect(types.filter((type) => type === 'registration.refused')).toHaveLength(10);
    expect(types.filter((type) => type === 'registration.throttled')).toHaveLength(1);
  });

  test('the right secret is not counted, and registration.perAddress sets the allowance', async () => {
    const small = await startGateway({ registration: { secret: SECRET, perAddress: { failures: 2, windowSeconds: 60 } } });
    try {
      const body = { service: 'smtp', host: '127.0.0.1', port: 2525 };
      for (let i = 0; i < 5; i++)
        await request(small.app)
          .post('/roamgate/servers/register')
          .send({ ...body, secret: SECRET });
      await request(small.app)
        .post('/roamgate/servers/register')
        .send({ ...body, secret: 'wrong-secret-0123456789' })
        .expect(403);
      await request(small.app)
        .post('/roamgate/servers/register')
        .send({ ...body, secret: 'wrong-secret-0123456789' })
        .expect(403);
      await request(small.app)
        .post('/roamgate/servers/register')
        .send({ ...body, secret: 'wrong-secret-0123456789' })
        .expect(429);
    } finally {
      await small.close();
    }
  });
});
