import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { ManualClock } from '../helpers/clock';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient, listenTcp } from '../helpers/net';
import { until } from '../helpers/until';
import { openSqliteStore } from '../../store/sqlite-store';

const ADMIN = 'admin-token-for-tests-0123456789';
const admin = { Authorization: `Bearer ${ADMIN}` };

let hashes: Record<string, string>;
beforeAll(async () => {
  hashes = { alice: await hashPassword('alice-pw'), bob: await hashPassword('bob-pw'), root: await hashPassword('root-pw') };
});

function users(): Array<{ id: string; passwordHash: string; attributes: Record<string, string> }> {
  return [
    { id: 'alice', passwordHash: hashes.alice, attributes: { department: 'sales' } },
    { id: 'bob', passwordHash: hashes.bob, attributes: { department: 'research' } },
    { id: 'root', passwordHash: hashes.root, attributes: { role: 'admin' } },
  ];
}

async function gateway(extra: Parameters<typeof startGateway>[0] = {}): Promise<TestGateway> {
  return startGateway({
    adminToken: ADMIN,
    users: users(),
    login: {
      perUser: { failures: 3, windowSeconds: 60 },
      perUserAddress: { failures: 3, windowSeconds: 60 },
      perAddress: { failures: 6, windowSeconds: 60 },
    },
    access: [
      { subject: 'department=sales', service: 'smtp', allow: true, reason: 'sales may send mail' },
      { subject: 'department=sales', service: 'nntp', allow: false, reason: 'news is for research' },
      { subject: 'department=research', service: '*', allow: true },
    ],
    ...extra,
  });
}

function jsonLogin(gw: TestGateway, username: string, password: string) {
  return request(gw.app).post('/roamgate/login').send({ username, password });
}

describe('logging in', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await gateway();
  });
  afterEach(() => gw.close());

  test('JSON login returns a lease token and the lease, bound to the address it came from', async () => {
    const res = await jsonLogin(gw, 'alice', 'alice-pw').expect(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.lease).toEqual({
      id: expect.any(String),
      userId: 'alice',
      attributes: { department: 'sales' },
      address: '127.0.0.1',
      issuedAt: expect.any(String),
      expiresAt: expect.any(String),
    });
    expect(Date.parse(res.body.lease.expiresAt) - Date.parse(res.body.lease.issuedAt)).toBe(8 * 3600 * 1000);
  });

  test.each([
    ['a wrong password', { username: 'alice', password: 'nope' }],
    ['an unknown user', { username: 'mallory', password: 'alice-pw' }],
  ])('%s gets 401 with the same message', async (_name, body) => {
    const res = await request(gw.app).post('/roamgate/login').send(body).expect(401);
    expect(res.body).toEqual({ error: 'wrong user name or password' });
  });

  test.each([
    [{ password: 'x' }, 'username'],
    [{ username: 'alice' }, 'password'],
    [{ username: 42, password: 'x' }, 'username'],
    [{ username: 'alice', password: ['x'] }, 'password'],
    [{ username: 'a'.repeat(129), password: 'x' }, 'username'],
  ])('bad input %j gets 400 naming %s', async (body, field) => {
    const res = await request(gw.app).post('/roamgate/login').send(body).expect(400);
    expect(res.body.field).toBe(field);
  });

  test('a huge body gets 413, another content type 415', async () => {
    await request(gw.app)
      .post('/roamgate/login')
      .send({ username: 'alice', password: 'x'.repeat(100_000) })
      .expect(413);
    await request(gw.app).post('/roamgate/login').set('Content-Type', 'text/plain').send('alice:alice-pw').expect(415);
  });

  test('failed logins are throttled per user: 429 with Retry-After, even for the right password', async () => {
    for (let i = 0; i < 3; i++) await jsonLogin(gw, 'alice', 'wrong').expect(401);
    const throttled = await jsonLogin(gw, 'alice', 'alice-pw').expect(429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(throttled.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(throttled.body.error).toMatch(/too many failed logins/);
    // Another user from the same address is not yet blocked.
    await jsonLogin(gw, 'bob', 'bob-pw').expect(201);
  });

  test('wrong passwords sent all at once get no more tries than sent one by one', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => jsonLogin(gw, 'alice', 'wrong')));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(27);
  });

  test('failed logins are throttled per address across user names', async () => {
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']) await jsonLogin(gw, name, 'wrong').expect(401);
    await jsonLogin(gw, 'bob', 'bob-pw').expect(429);
  });

  test('the login page sets a safe session cookie and carries a CSRF token; a form post without it is refused', async () => {
    const agent = request.agent(gw.app);
    const page = await agent.get('/roamgate/login').expect(200).expect('Content-Type', /html/);
    const cookie = String(page.headers['set-cookie']);
    expect(cookie).toMatch(/^roamgate\.sid=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    await agent.post('/roamgate/login').type('form').send({ username: 'alice', password: 'alice-pw' }).expect(403);
    await request(gw.app).post('/roamgate/login').type('form').send({ username: 'alice', password: 'alice-pw', _csrf: token }).expect(403);
    const page2 = await agent.get('/roamgate/login').expect(200);
    const token2 = /name="_csrf" value="([^"]+)"/.exec(page2.text)![1];
    const done = await agent
      .post('/roamgate/login')
      .type('form')
      .send({ username: 'alice', password: 'alice-pw', _csrf: token2 })
      .expect(200);
    expect(done.text).toMatch(/Logged in as <strong>alice<\/strong>/);
    const leaseToken = /<code id="lease-token">([^<]+)<\/code>/.exec(done.text)![1];
    // The session now identifies alice, and so does the token shown on the page.
    const mine = await agent.get('/roamgate/leases').expect(200);
    expect(mine.body.leases.map((l: { userId: string }) => l.userId)).toEqual(['alice']);
    await request(gw.app).get('/roamgate/leases').set('Authorization', `Bearer ${leaseToken}`).expect(200);
  });

  test('with session.secureCookie the cookie is Secure, and only sent over HTTPS', async () => {
    const secure = await gateway({ session: { secureCookie: true } });
    try {
      // Behind a TLS-terminating proxy the app trusts X-Forwarded-Proto.
      secure.app.set('trust proxy', 'loopback');
      const overHttps = await request(secure.app).get('/roamgate/login').set('X-Forwarded-Proto', 'https').expect(200);
      expect(String(overHttps.headers['set-cookie'])).toMatch(/^roamgate\.sid=.*; Secure/);
      const overHttp = await request(secure.app).get('/roamgate/login').expect(200);
      expect(overHttp.headers['set-cookie']).toBeUndefined();
    } finally {
      await secure.close();
    }
  });

  test("the lease page's Log out button ends the session and the lease", async () => {
    const agent = request.agent(gw.app);
    const page = await agent.get('/roamgate/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const done = await agent.post('/roamgate/login').type('form').send({ username: 'bob', password: 'bob-pw', _csrf: csrf }).expect(200);
    const token = /<code id="lease-token">([^<]+)<\/code>/.exec(done.text)![1];
    // The form as a browser submits it: urlencoded, with the page's own _csrf field.
    const logoutCsrf = /<form method="post" action="[^"]*\/logout"><input type="hidden" name="_csrf" value="([^"]+)">/.exec(done.text)![1];
    const out = await agent.post('/roamgate/logout').type('form').send({ _csrf: logoutCsrf }).expect(303);
    expect(out.headers.location).toBe('/roamgate/login');
    await request(gw.app).get('/roamgate/leases').set('Authorization', `Bearer ${token}`).expect(401);
  });

  test('logout through the session needs the CSRF token, then revokes the lease', async () => {
    const agent = request.agent(gw.app);
    const page = await agent.get('/roamgate/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const done = await agent.post('/roamgate/login').type('form').send({ username: 'bob', password: 'bob-pw', _csrf: csrf }).expect(200);
    const token = /<code id="lease-token">([^<]+)<\/code>/.exec(done.text)![1];
    await agent.post('/roamgate/logout').send({}).expect(403);
    const { csrfToken } = (await agent.get('/roamgate/csrf').expect(200)).body;
    // A token one character off, and one of another length, are refused as missing ones are.
    const last = csrfToken.slice(-1);
    await agent
      .post('/roamgate/logout')
      .set('X-CSRF-Token', `${csrfToken.slice(0, -1)}${last === 'a' ? 'b' : 'a'}`)
      .send({})
      .expect(403);
    await agent.post('/roamgate/logout').set('X-CSRF-Token', `${csrfToken}0`).send({}).expect(403);
    await agent.post('/roamgate/logout').set('X-CSRF-Token', csrfToken).send({}).expect(204);
    await request(gw.app).get('/roamgate/leases').set('Authorization', `Bearer ${token}`).expect(401);
    await agent.get('/roamgate/leases').expect(401);
  });
});

describe('leases', () => {
  let gw: TestGateway;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    gw = await gateway({ clock });
  });
  afterEach(() => gw.close());

  test('a user sees and manages only their own leases; the admin sees and revokes any', async () => {
    const alice = (await jsonLogin(gw, 'alice', 'alice-pw').expect(201)).body;
    // Token-only: bob logs in from alice's address (one address, one user for address-bound leases).
    const bob = (
      await request(gw.app).post('/roamgate/login').send({ username: 'bob', password: 'bob-pw', bindAddress: false }).expect(201)
    ).body;
    const asAlice = { Authorization: `Bearer ${alice.token}` };
    const own = await request(gw.app).get('/roamgate/leases').set(asAlice).expect(200);
    expect(own.body.leases.map((l: { id: string }) => l.id)).toEqual([alice.lease.id]);
    expect(JSON.stringify(own.body)).not.toContain(alice.token);
    const all = await request(gw.app).get('/roamgate/leases').set(admin).expect(200);
    expect(all.body.leases.map((l: { userId: string }) => l.userId).sort()).toEqual(['alice', 'bob']);
    // Alice cannot touch bob's lease: it does not exist for her.
    await request(gw.app).delete(`/roamgate/leases/${bob.lease.id}`).set(asAlice).expect(404);
    await request(gw.app).post(`/roamgate/leases/${bob.lease.id}/renew`).set(asAlice).expect(404);
    // She renews her own, a minute on: it lasts a minute longer.
    clock.advance(60_000);
    const renewed = await request(gw.app).post(`/roamgate/leases/${alice.lease.id}/renew`).set(asAlice).expect(200);
    expect(Date.parse(renewed.body.lease.expiresAt)).toBe(Date.parse(alice.lease.expiresAt) + 60_000);
    // The admin revokes bob's; bob's token stops working at once.
    await request(gw.app).delete(`/roamgate/leases/${bob.lease.id}`).set(admin).expect(204);
    await request(gw.app).get('/roamgate/leases').set('Authorization', `Bearer ${bob.token}`).expect(401);
    await request(gw.app).delete(`/roamgate/leases/${bob.lease.id}`).set(admin).expect(404);
  });

  test('a user disabled or removed in the store (by the CLI, another process) loses their leases within userCheckSeconds', async () => {
    const store = openSqliteStore(':memory:');
    const now = Date.now();
    for (const id of ['dora', 'ezra'])
      await store.users.put({
        id,
        passwordHash: hashes.alice,
        attributes: { department: 'research' },
        disabled: false,
        createdAt: now,
        updatedAt: now,
      });
    const checked = await gateway({ store, leases: { userCheckSeconds: 1 } });
    try {
      // Token-only: three users from one address.
      const tokenLogin = (username: string) =>
        request(checked.app).post('/roamgate/login').send({ username, password: 'alice-pw', bindAddress: false }).expect(201);
      const dora = (await tokenLogin('dora')).body;
      const ezra = (await tokenLogin('ezra')).body;
      const alice = (await tokenLogin('alice')).body;
      await store.users.put({ ...(await store.users.get('dora'))!, disabled: true, updatedAt: Date.now() });
      await store.users.remove('ezra');
      const works = async (token: string) =>
        (await request(checked.app).get('/roamgate/leases').set('Authorization', `Bearer ${token}`)).status === 200;
      await until(async () => !(await works(dora.token)) && !(await works(ezra.token)), 'the leases of dora and ezra to end', 5_000, 100);
      // Nobody else's.
      expect(await works(alice.token)).toBe(true);
    } finally {
      await checked.close();
      await store.close();
    }
  });

  test('anonymous callers get 401 on lease routes', async () => {
    await request(gw.app).get('/roamgate/leases').expect(401);
  });
});

describe('access rules API', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await gateway();
  });
  afterEach(() => gw.close());

  test('admin lists, adds, changes and removes rules; config rules are read-only', async () => {
    const listed = await request(gw.app).get('/roamgate/access/rules').set(admin).expect(200);
    expect(listed.body.rules).toHaveLength(3);
    expect(listed.body.rules[0]).toEqual({
      id: 'config:0',
      origin: 'config',
      subject: 'department=sales',
      service: 'smtp',
      allow: true,
      reason: 'sales may send mail',
    });
    const added = await request(gw.app)
      .post('/roamgate/access/rules')
      .set(admin)
      .send({ subject: 'user:alice', service: 'nntp', allow: true, reason: 'alice reads news' })
      .expect(201);
    expect(added.body).toMatchObject({ origin: 'api', subject: 'user:alice', service: 'nntp', allow: true });
    const changed = await request(gw.app)
      .patch(`/roamgate/access/rules/${added.body.id}`)
      .set(admin)
      .send({ allow: false, reason: 'not any more' })
      .expect(200);
    expect(changed.body).toMatchObject({ allow: false, reason: 'not any more', subject: 'user:alice' });
    await request(gw.app).patch('/roamgate/access/rules/config:0').set(admin).send({ allow: false }).expect(409);
    await request(gw.app).delete('/roamgate/access/rules/config:0').set(admin).expect(409);
    await request(gw.app).delete(`/roamgate/access/rules/${added.body.id}`).set(admin).expect(204);
    await request(gw.app).delete(`/roamgate/access/rules/${added.body.id}`).set(admin).expect(404);
    expect((await request(gw.app).get('/roamgate/access/rules').set(admin)).body.rules).toHaveLength(3);
  });

  test.each([
    [{ service: 'smtp', allow: true }, 'subject'],
    [{ subject: 'nobody at all', service: 'smtp', allow: true }, 'subject'],
    [{ subject: 'anonymous', service: 'SMTP', allow: true }, 'service'],
    [{ subject: 'anonymous', service: 'smtp', allow: 'yes' }, 'allow'],
    [{ subject: 'anonymous', service: 'smtp', allow: true, reason: 'x'.repeat(201) }, 'reason'],
    [{ subject: 'anonymous', service: 'smtp', allow: true, priority: 1 }, 'priority'],
  ])('bad rule %j gets 400 naming %s', async (body, field) => {
    const res = await request(gw.app).post('/roamgate/access/rules').set(admin).send(body).expect(400);
    expect(res.body.field).toBe(field);
  });

  test('a user without the admin role gets 403; an admin session needs the CSRF token for writes', async () => {
    const alice = (await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw', bindAddress: false }))
      .body;
    await request(gw.app).get('/roamgate/access/rules').set('Authorization', `Bearer ${alice.token}`).expect(403);
    const agent = request.agent(gw.app);
    const page = await agent.get('/roamgate/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    await agent.post('/roamgate/login').type('form').send({ username: 'root', password: 'root-pw', _csrf: csrf }).expect(200);
    await agent.get('/roamgate/access/rules').expect(200);
    const rule = { subject: 'anonymous', service: 'smtp', allow: true };
    await agent.post('/roamgate/access/rules').send(rule).expect(403);
    const { csrfToken } = (await agent.get('/roamgate/csrf')).body;
    await agent.post('/roamgate/access/rules').set('X-CSRF-Token', csrfToken).send(rule).expect(201);
  });

  test('the audit trail records logins, throttling, lease and rule changes; admins only', async () => {
    await jsonLogin(gw, 'alice', 'wrong').expect(401);
    const alice = (await jsonLogin(gw, 'alice', 'alice-pw').expect(201)).body;
    for (let i = 0; i < 3; i++) await jsonLogin(gw, 'bob', 'wrong');
    await jsonLogin(gw, 'bob', 'wrong').expect(429);
    await request(gw.app).delete(`/roamgate/leases/${alice.lease.id}`).set(admin).expect(204);
    await request(gw.app)
      .post('/roamgate/access/rules')
      .set(admin)
      .send({ subject: 'anonymous', service: 'pop3', allow: false })
      .expect(201);
    await request(gw.app).get('/roamgate/audit').set('Authorization', `Bearer ${alice.token}`).expect(401);
    const events = (await request(gw.app).get('/roamgate/audit').set(admin).expect(200)).body.events as Array<{
      type: string;
      actor?: string;
      address?: string;
    }>;
    const types = events.map((e) => e.type);
    for (const type of ['login.failure', 'login.success', 'lease.issued', 'login.throttled', 'lease.revoked', 'rule.added'])
      expect(types).toContain(type);
    expect(events.find((e) => e.type === 'login.success')).toMatchObject({ actor: 'alice', address: '127.0.0.1' });
    const failures = (await request(gw.app).get('/roamgate/audit?type=login.failure&limit=2').set(admin).expect(200)).body.events;
    expect(failures).toHaveLength(2);
    expect(failures.every((e: { type: string }) => e.type === 'login.failure')).toBe(true);
    await request(gw.app).get('/roamgate/audit?limit=0').set(admin).expect(400);
    expect(JSON.stringify(events)).not.toMatch(/alice-pw|bob-pw|wrong/);
  });
});

describe('identify and authorize on every connection', () => {
  let gw: TestGateway;
  let upstream: Awaited<ReturnType<typeof listenTcp>>;
  beforeEach(async () => {
    upstream = await listenTcp((socket) => {
      socket.write('220 upstream ready\r\n');
      socket.on('data', () => socket.write('250 ok\r\n'));
    });
  });
  afterEach(async () => {
    await gw.close();
    await upstream.close();
  });

  async function smtpGateway(extra: Parameters<typeof startGateway>[0] = {}) {
    gw = await gateway({
      adapters: { smtp: { port: 0 }, nntp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }], nntp: [{ host: '127.0.0.1', port: upstream.port }] },
      ...extra,
    });
  }

  test('before login the address is anonymous and refused; after login it is that user, by attribute', async () => {
    await smtpGateway();
    let client = await RawClient.open(gw.ports.smtp);
    await client.closed;
    expect(client.received).toBe('554 5.7.1 no access rule lets anonymous clients use smtp\r\n');
    await jsonLogin(gw, 'alice', 'alice-pw').expect(201);
    client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 upstream ready'));
    client.close();
    client = await RawClient.open(gw.ports.nntp);
    await client.closed;
    expect(client.received).toBe('502 news is for research\r\n');
    const records = await gw.logger.waitForRecords(3);
    expect(records.map((r) => [r.identity, r.service, r.outcome, r.rule])).toEqual([
      ['anonymous', 'smtp', 'refused', undefined],
      ['alice', 'smtp', 'relayed', 'department=sales x smtp -> allow'],
      ['alice', 'nntp', 'refused', 'department=sales x nntp -> deny'],
    ]);
    const audit = (await request(gw.app).get('/roamgate/audit?type=connection').set(admin)).body.events;
    expect(audit).toHaveLength(3);
    expect(audit[0]).toMatchObject({
      actor: 'alice',
      detail: { service: 'nntp', outcome: 'refused', rule: 'department=sales x nntp -> deny' },
    });
  });

  test("revoking a lease closes that lease's open relays at once", async () => {
    await smtpGateway();
    const alice = (await jsonLogin(gw, 'alice', 'alice-pw')).body;
    const client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 '));
    await request(gw.app)
      .delete(`/roamgate/leases/${alice.lease.id}`)
      .set({ Authorization: `Bearer ${alice.token}` })
      .expect(204);
    await client.closed;
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ identity: 'alice', outcome: 'relayed', reason: 'lease revoked' });
  });

  test.each([
    ['close', true],
    ['finish', false],
  ] as const)('a rule change that denies an open relay: onAccessChange=%s', async (onAccessChange, closes) => {
    await smtpGateway({ onAccessChange });
    await jsonLogin(gw, 'alice', 'alice-pw');
    const client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 '));
    await request(gw.app)
      .post('/roamgate/access/rules')
      .set(admin)
      .send({ subject: 'user:alice', service: 'smtp', allow: false, reason: 'alice is done' })
      .expect(201);
    if (closes) {
      await client.closed;
      expect((await gw.logger.waitForRecords(1))[0].reason).toBe('no longer allowed by the access table');
    } else {
      client.send('NOOP\r\n');
      await client.waitFor((text) => text.includes('250 ok'));
      client.close();
    }
    // Either way the next connection is refused.
    const next = await RawClient.open(gw.ports.smtp);
    await next.closed;
    expect(next.received).toBe('554 5.7.1 alice is done\r\n');
  });
});
