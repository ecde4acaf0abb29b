import express, { type Express } from 'express';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import type { HostLogin } from '../../plugin/host-directory';
import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import { readConfigFile, startStandalone } from '../../plugin/standalone';
import { CapturingLogger } from '../helpers/gateway';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { until } from '../helpers/until';

jest.setTimeout(20_000);

/** The host's users, checked by the host's own code. */
const HOST: Record<string, { password: string; team: string }> = {
  alice: { password: 'alice-host-pw', team: 'sales' },
  bob: { password: 'bob-host-pw', team: 'research' },
};

const hostStrategy = () =>
  new LocalStrategy((username, password, done) => {
    const user = HOST[username];
    done(null, user?.password === password ? { id: username, attributes: { team: user.team }, internal: { not: 'a string' } } : false);
  });

const ADMIN = 'admin-token-admin-token-admin-token';
/** Every logged-in user may use everything (a user with no rights gets no lease). */
const EVERYONE = [{ subject: 'authenticated', service: '*', allow: true }];

interface Gateway {
  app: Express;
  gw: Roamgate;
  ports: Record<string, number>;
  logger: CapturingLogger;
  close(): Promise<void>;
}

async function start(options: Partial<RoamgateOptions>, configure?: (app: Express, gw: Roamgate) => void): Promise<Gateway> {
  const logger = new CapturingLogger();
  const gw = roamgate({ health: { enabled: false }, logger, adminToken: ADMIN, access: EVERYONE, ...options });
  const app = express();
  configure?.(app, gw);
  app.use('/roamgate', gw.router);
  const bound = await gw.listen();
  const ports = Object.fromEntries(Object.entries(bound).map(([name, address]) => [name, address.port]));
  return { app, gw, logger, ports, close: () => gw.close() };
}

async function formLogin(app: Express, username: string, password: string, returnTo?: string) {
  const agent = request.agent(app);
  const page = await agent.get(`/roamgate/login${returnTo ? `?return=${encodeURIComponent(returnTo)}` : ''}`).expect(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
  const back = /name="return" value="([^"]+)"/.exec(page.text)?.[1];
  const answer = await agent
    .post('/roamgate/login')
    .type('form')
    .send({ username, password, _csrf: csrf, ...(back ? { return: back } : {}) });
  return { agent, answer };
}

describe('directory: the host’s login', () => {
  let gw: Gateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test('a passport-local Strategy the host already has: the login page and the JSON login use it, with its attributes', async () => {
    gw = await start({ directory: hostStrategy(), access: [{ subject: 'team=sales', service: '*', allow: true }] });
    const json = await request(gw.app)
      .post('/roamgate/login')
      .send({ username: 'alice', password: 'alice-host-pw', bindAddress: false })
      .expect(201);
    expect(json.body.lease).toMatchObject({ userId: 'alice', attributes: { team: 'sales' } });
    await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'wrong' }).expect(401);
    const { answer } = await formLogin(gw.app, 'alice', 'alice-host-pw');
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('Logged in as <strong>alice</strong>');
    // bob (team research) may use nothing here: no lease.
    await request(gw.app).post('/roamgate/login').send({ username: 'bob', password: 'bob-host-pw' }).expect(403);
  });

  test('an in-protocol login (SMTP AUTH) is checked by the host’s strategy', async () => {
    const upstream = await startSmtpUpstream({ users: { alice: 'alice-host-pw' }, banner: 'upstream' });
    try {
      gw = await start({
        directory: hostStrategy(),
        access: [{ subject: 'authenticated', service: '*', allow: true }],
        adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
        servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      });
      const smtpPort = gw.ports.smtp;
      const send = (pass: string) =>
        nodemailer
          .createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true, auth: { user: 'alice', pass } })
          .sendMail({ from: 'a@example.test', to: 'b@example.test', subject: 'hi', text: 'x' });
      await send('alice-host-pw');
      expect(upstream.messages[0].user).toBe('alice');
      await expect(send('wrong')).rejects.toMatchObject({ responseCode: 535 });
    } finally {
      await upstream.close();
    }
  });

  test('an object directory: async verify; a thrown error is a temporary failure (503), never a wrong password', async () => {
    let broken = false;
    const directory: HostLogin = {
      async verify(username, password) {
        if (broken) throw new Error('LDAP is down');
        return HOST[username]?.password === password ? { username, attributes: { team: HOST[username].team } } : false;
      },
      get: (id) => (HOST[id] ? { id, attributes: { team: HOST[id].team } } : undefined),
    };
    gw = await start({ directory, login: { cacheSeconds: 0 } });
    await request(gw.app).post('/roamgate/login').send({ username: 'bob', password: 'bob-host-pw' }).expect(201);
    broken = true;
    const down = await request(gw.app).post('/roamgate/login').send({ username: 'bob', password: 'bob-host-pw' }).expect(503);
    expect(down.body.error).toMatch(/cannot be checked right now/);
    expect(gw.logger.lines.some((line) => line.obj.event === 'directory-failed')).toBe(true);
  });

  test('users and a directory together are refused at the door', async () => {
    const users = [{ id: 'x', passwordHash: await hashPassword('x-pw') }];
    expect(() => roamgate({ directory: hostStrategy(), users })).toThrow(/users: not used/);
    expect(() => roamgate({ directory: { nope: true } as never })).toThrow(/directory: must be/);
  });
});

describe('gw.issueLease: a user the host authenticated its own way', () => {
  let gw: Gateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test('gets a lease for the request’s client address, audited as a login via the host; the lease opens guarded routes', async () => {
    gw = await start({ access: [{ subject: 'user:carol', service: 'intranet', allow: true }] }, (app, g) => {
      app.post('/sso/callback', async (req, res) => {
        const { token, lease } = await g.issueLease(req, { id: 'carol', attributes: { team: 'ops' } }, { ttlSeconds: 600, res });
        res.json({ token, lease });
      });
      app.get('/intranet', g.protect('intranet'), (req, res) => res.json(req.roamgate));
    });
    const agent = request.agent(gw.app);
    const issued = await agent.post('/sso/callback').expect(200);
    expect(issued.body.lease).toMatchObject({ userId: 'carol', attributes: { team: 'ops' }, address: '127.0.0.1' });
    const ttl = Date.parse(issued.body.lease.expiresAt) - Date.parse(issued.body.lease.issuedAt);
    expect(ttl).toBe(600_000);
    const through = await request(gw.app).get('/intranet').set('Authorization', `Bearer ${issued.body.token}`).expect(200);
    expect(through.body).toMatchObject({ identity: { kind: 'user', user: { id: 'carol' } }, lease: { userId: 'carol' } });
    // The cookie set on the host's response works too.
    await agent.get('/intranet').expect(200);
    await until(async () => (await audit(gw!, 'login.success')).length === 1, 'the login in the audit trail');
    expect((await audit(gw, 'login.success'))[0]).toMatchObject({ actor: 'carol', address: '127.0.0.1', detail: { via: 'host' } });
  });

  test('refuses a user without an id and a lifetime below a minute', async () => {
    gw = await start({});
    const req = { socket: { remoteAddress: '127.0.0.1' }, headers: {} } as never;
    await expect(gw.gw.issueLease(req, { attributes: {} })).rejects.toThrow(/needs an id/);
    await expect(gw.gw.issueLease(req, { id: 'x' }, { ttlSeconds: 5 })).rejects.toThrow(/at least 60/);
  });
});

async function audit(gw: Gateway, type: string): Promise<Array<Record<string, unknown>>> {
  const answer = await request(gw.app).get(`/roamgate/audit?type=${type}`).set('Authorization', `Bearer ${ADMIN}`).expect(200);
  return answer.body.events;
}

describe('gw.protect: the host’s own routes behind roamgate’s login, leases and access table', () => {
  let gw: Gateway | undefined;
  let alicePw: string;
  beforeAll(async () => {
    alicePw = await hashPassword('alice-pw');
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  const startGuarded = (extra: Partial<RoamgateOptions> = {}) =>
    start(
      {
        users: [
          { id: 'alice', passwordHash: alicePw, attributes: { team: 'sales' } },
          { id: 'mallory', passwordHash: alicePw, attributes: { team: 'none' } },
        ],
        access: [
          { subject: 'team=sales', service: 'intranet', allow: true },
          { subject: 'user:mallory', service: 'wiki', allow: true },
        ],
        ...extra,
      },
      (app, g) => app.get('/app/page', g.protect('intranet'), (req, res) => res.json({ hello: req.roamgate!.identity })),
    );

  test('an anonymous browser is sent to the login page, and comes back to the page after logging in', async () => {
    gw = await startGuarded();
    const first = await request(gw.app).get('/app/page?x=1').set('Accept', 'text/html').expect(303);
    expect(first.headers.location).toBe('/roamgate/login?return=%2Fapp%2Fpage%3Fx%3D1');
    const { agent, answer } = await formLogin(gw.app, 'alice', 'alice-pw', '/app/page?x=1');
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toBe('/app/page?x=1');
    const page = await agent.get('/app/page?x=1').set('Accept', 'text/html').expect(200);
    expect(page.body.hello).toMatchObject({ kind: 'user', user: { id: 'alice' } });
  });

  test('a return address that leaves this host is never followed', async () => {
    gw = await startGuarded();
    for (const away of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', '/ok\r\nSet-Cookie: x=1']) {
      const { answer } = await formLogin(gw.app, 'alice', 'alice-pw', away);
      expect(answer.status).toBe(200);
      expect(answer.headers.location).toBeUndefined();
    }
  });

  test('a program gets 401 (nobody) or 403 (somebody denied) in JSON, with the reason', async () => {
    gw = await startGuarded();
    const nobody = await request(gw.app).get('/app/page').set('Accept', 'application/json').expect(401);
    expect(nobody.headers['www-authenticate']).toBe('Bearer realm="roamgate"');
    expect(nobody.body.error).toEqual(expect.any(String));
    // A bearer token that is no lease is not roamgate's: it identifies nobody.
    await request(gw.app).get('/app/page').set('Authorization', 'Bearer not-a-lease').expect(401);
    const mallory = await request(gw.app).post('/roamgate/login').send({ username: 'mallory', password: 'alice-pw' }).expect(201);
    const denied = await request(gw.app).get('/app/page').set('Authorization', `Bearer ${mallory.body.token}`).expect(403);
    expect(denied.body.error).toEqual(expect.any(String));
  });

  test('a lease revoked or a rule changed is refused at the next request; every decision is recorded', async () => {
    gw = await startGuarded();
    const alice = await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201);
    const bearer = `Bearer ${alice.body.token}`;
    await request(gw.app).get('/app/page').set('Authorization', bearer).expect(200);
    const rule = await request(gw.app)
      .post('/roamgate/access/rules')
      .set('Authorization', `Bearer ${ADMIN}`)
      .send({ subject: 'user:alice', service: 'intranet', allow: false })
      .expect(201);
    await request(gw.app).get('/app/page').set('Authorization', bearer).expect(403);
    await request(gw.app).delete(`/roamgate/access/rules/${rule.body.id}`).set('Authorization', `Bearer ${ADMIN}`).expect(204);
    await request(gw.app).get('/app/page').set('Authorization', bearer).expect(200);
    await request(gw.app).delete(`/roamgate/leases/${alice.body.lease.id}`).set('Authorization', `Bearer ${ADMIN}`).expect(204);
    await request(gw.app).get('/app/page').set('Authorization', bearer).expect(401);
    const outcomes = gw.logger.records().map((entry) => [entry.service, entry.identity, entry.outcome]);
    expect(outcomes).toEqual([
      ['intranet', 'alice', 'allowed'],
      ['intranet', 'alice', 'refused'],
      ['intranet', 'alice', 'allowed'],
      ['intranet', 'anonymous', 'refused'],
    ]);
  });

  test('a lease bound to the client’s address is enough (as for the protocol adapters)', async () => {
    gw = await startGuarded();
    await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201);
    await request(gw.app).get('/app/page').expect(200);
  });
});

describe('behind a front proxy: the host’s trust proxy setting decides the client address', () => {
  let gw: Gateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test.each([
    [false, '127.0.0.1'],
    ['loopback', '203.0.113.7'],
  ] as const)('trust proxy %s: the lease is bound to %s', async (trust, address) => {
    gw = await start({ users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw') }] }, (app) => app.set('trust proxy', trust));
    const login = await request(gw.app)
      .post('/roamgate/login')
      .set('X-Forwarded-For', '203.0.113.7')
      .send({ username: 'alice', password: 'alice-pw' })
      .expect(201);
    expect(login.body.lease.address).toBe(address);
  });
});

describe('roamgate serve behind a front proxy: http.trustProxy', () => {
  test.each([
    [undefined, '127.0.0.1'],
    ['loopback', '198.51.100.9'],
  ] as const)('http.trustProxy %s: a login through the proxy gets a lease bound to %s', async (trustProxy, address) => {
    const served = await startStandalone({
      http: { host: '127.0.0.1', port: 0, ...(trustProxy ? { trustProxy } : {}) },
      mount: '/roamgate',
      logLevel: 'silent',
      options: { users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw') }], access: EVERYONE, logger: new CapturingLogger() },
    });
    try {
      const login = await request(`http://127.0.0.1:${served.httpAddress.port}`)
        .post('/roamgate/login')
        .set('X-Forwarded-For', '198.51.100.9')
        .send({ username: 'alice', password: 'alice-pw' })
        .expect(201);
      expect(login.body.lease.address).toBe(address);
    } finally {
      await served.close();
    }
  });

  test('the config file takes trustProxy, and refuses what Express would not understand', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-trust-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, 'http:\n  port: 0\n  trustProxy: [loopback, 10.0.0.0/8]\n');
    expect(readConfigFile(file).http.trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    writeFileSync(file, 'http:\n  port: 0\n  trustProxy: { all: true }\n');
    expect(() => readConfigFile(file)).toThrow(/http\.trustProxy/);
  });
});
