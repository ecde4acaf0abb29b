import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp, RawClient } from '../helpers/net';

/**
 * The operator console with real sockets: who may see it (an admin's login session only; browsers sent to the login
 * page, programs 401/403), CSRF on every write, escaping of what users control, the live relays with their cut, lease
 * revocation, and the rule preview's numbers against the relays open now.
 */

const ADMIN_TOKEN = 'console-test-admin-token';
/** A user id the host's directory allows and every page must show as text. */
const EVIL = '<script>alert(1)</script>';
const EVIL_ADDRESS = '127.0.0.3';
const ALICE_ADDRESS = '127.0.0.4';

const USERS: Record<string, { id: string; attributes: Record<string, string> }> = {
  root: { id: 'root', attributes: { role: 'admin' } },
  bob: { id: 'bob', attributes: {} },
  alice: { id: 'alice', attributes: {} },
  evil: { id: EVIL, attributes: {} },
};
const directory = {
  verify: (username: string, password: string) => (USERS[username] && password === `${username}-pw` ? USERS[username] : false),
  get: (id: string) => Object.values(USERS).find((user) => user.id === id),
};

/** POST /login (JSON) from `address`: a lease bound to that address. */
function loginFrom(gw: TestGateway, address: string, username: string): Promise<number> {
  const port = (gw.http!.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress: address,
        method: 'POST',
        path: '/roamgate/login',
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ username, password: `${username}-pw` }));
  });
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1];

/** A browser-like agent logged in through the login form as `username`. */
async function formLogin(gw: TestGateway, username: string) {
  const agent = request.agent(gw.app);
  const page = await agent.get('/roamgate/login').expect(200);
  await agent
    .post('/roamgate/login')
    .type('form')
    .send({ username, password: `${username}-pw`, _csrf: csrfOf(page.text) })
    .expect(200);
  return agent;
}

describe('the operator console', () => {
  let gw: TestGateway;
  let echo: Awaited<ReturnType<typeof listenTcp>>;
  let admin: ReturnType<typeof request.agent>;
  const clients: RawClient[] = [];

  /** An echo relay from `address` (its lease identifies it), with bytes sent both ways. */
  async function openRelay(address: string, text: string): Promise<RawClient> {
    const client = await RawClient.open(gw.ports.echo, address);
    clients.push(client);
    client.send(`${text}\n`);
    await client.waitFor((received) => received.includes(text));
    return client;
  }

  async function adminCsrf(): Promise<string> {
    return csrfOf((await admin.get('/roamgate/console/servers').set('Accept', 'text/html').expect(200)).text);
  }

  beforeAll(async () => {
    echo = await listenTcp((socket) => socket.pipe(socket));
    gw = await startGateway(
      {
        directory,
        adminToken: ADMIN_TOKEN,
        // The console's own logins (supertest, from 127.0.0.1) bind no address: the relays' users are told apart by theirs.
        leases: { sharedAddresses: ['127.0.0.1'] },
        access: [{ subject: 'authenticated', service: 'echo', allow: true, reason: 'staff <b>only</b>' }],
        servers: { echo: [{ host: '127.0.0.1', port: echo.port }] },
        adapters: { tcp: { echo: { port: 0 } } },
      },
      true,
    );
    expect(await loginFrom(gw, EVIL_ADDRESS, 'evil')).toBe(201);
    expect(await loginFrom(gw, ALICE_ADDRESS, 'alice')).toBe(201);
    admin = await formLogin(gw, 'root');
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  afterAll(async () => {
    await gw?.close();
    await echo?.close();
  });

  test('anonymous: a browser is sent to the login page and back after; a program gets 401', async () => {
    const browser = await request(gw.app).get('/roamgate/console/relays').set('Accept', 'text/html').expect(303);
    expect(browser.headers.location).toBe(`/roamgate/login?return=${encodeURIComponent('/roamgate/console/relays')}`);
    await request(gw.app).get('/roamgate/console/relays').expect(401);
    await request(gw.app).post('/roamgate/console/relays/1/cut').expect(401);
  });

  test('a user who is not an admin: their browser goes to the login page, their program gets 403; the admin token is for the JSON API', async () => {
    const bob = await formLogin(gw, 'bob');
    const page = await bob.get('/roamgate/console/servers').set('Accept', 'text/html').expect(303);
    expect(page.headers.location).toMatch(/^\/roamgate\/login\?return=/);
    await bob.get('/roamgate/console/servers').expect(403);
    await request(gw.app).get('/roamgate/console/servers').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(403);
  });

  test('an admin sees every page, each with a strict Content-Security-Policy and never framed', async () => {
    for (const page of ['servers', 'relays', 'leases', 'rules', 'audit', 'peers']) {
      const answer = await admin.get(`/roamgate/console/${page}`).set('Accept', 'text/html').expect(200);
      expect(answer.headers['content-security-policy']).toContain("script-src 'self'");
      expect(answer.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(answer.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.text).toContain('<meta name="viewport"');
      expect(answer.text).not.toMatch(/<script>|<style>|style="|onclick=/);
    }
    const script = await admin.get('/roamgate/console/console.js').expect(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    const servers = await admin.get('/roamgate/console/servers?live=1').expect(200);
    expect(servers.text).toContain(`127.0.0.1:${echo.port}`);
    expect(servers.text).not.toContain('<html');
  });

  test('a write without the CSRF token, or with a wrong one, is refused with 403 and changes nothing', async () => {
    const client = await openRelay(ALICE_ADDRESS, 'csrf-check');
    const id = (await request(gw.app).get('/roamgate/relays').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200)).body.relays[0].id;
    await admin.post(`/roamgate/console/relays/${id}/cut`).type('form').send({}).expect(403);
    await admin.post(`/roamgate/console/relays/${id}/cut`).type('form').send({ _csrf: 'not-the-token' }).expect(403);
    await admin
      .post('/roamgate/console/rules/apply')
      .type('form')
      .send({ op: 'add', subject: 'user:alice', service: 'echo', effect: 'deny' })
      .expect(403);
    client.send('still-open\n');
    await client.waitFor((received) => received.includes('still-open'));
    expect((await admin.get('/roamgate/console/rules').set('Accept', 'text/html')).text).not.toContain('<td>user:alice</td>');
  });

  test('what users control is shown escaped: a user id of <script>, a rule reason with markup', async () => {
    await openRelay(EVIL_ADDRESS, 'evil-bytes');
    const relays = await admin.get('/roamgate/console/relays').set('Accept', 'text/html').expect(200);
    expect(relays.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(relays.text).not.toContain(EVIL);
    const leases = await admin.get('/roamgate/console/leases?live=1').expect(200);
    expect(leases.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(leases.text).not.toContain(EVIL);
    const rules = await admin.get('/roamgate/console/rules').set('Accept', 'text/html').expect(200);
    expect(rules.text).toContain('staff &lt;b&gt;only&lt;/b&gt;');
    const audit = await admin.get('/roamgate/console/audit').query({ actor: EVIL }).set('Accept', 'text/html').expect(200);
    expect(audit.text).toContain('lease.issued');
    expect(audit.text).not.toContain(EVIL);
  });

  test('the relays list shows user, service, client, server and bytes each way; Cut closes that relay only, audited as relay.cut', async () => {
    const alice = await openRelay(ALICE_ADDRESS, 'hello from alice');
    const evil = await openRelay(EVIL_ADDRESS, 'hi');
    const listed = (await request(gw.app).get('/roamgate/relays').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200)).body.relays;
    const aliceRelay = listed.find((relay: { user: string }) => relay.user === 'alice');
    expect(aliceRelay).toMatchObject({
      service: 'echo',
      client: expect.stringMatching(/^127\.0\.0\.4:\d+$/),
      server: `127.0.0.1:${echo.port}`,
      bytesFromClient: 'hello from alice\n'.length,
      bytesFromServer: 'hello from alice\n'.length,
    });
    expect(aliceRelay.durationMs).toBeGreaterThanOrEqual(0);
    const csrf = await adminCsrf();
    await admin.post(`/roamgate/console/relays/${aliceRelay.id}/cut`).type('form').send({ _csrf: csrf }).expect(303);
    await alice.closed;
    evil.send('still here\n');
    await evil.waitFor((received) => received.includes('still here'));
    const events = (await request(gw.app).get('/roamgate/audit?type=relay.cut').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).body.events;
    expect(events[0]).toMatchObject({ actor: 'root', detail: { relay: aliceRelay.id, user: 'alice', service: 'echo' } });
    await request(gw.app).post(`/roamgate/relays/${aliceRelay.id}/cut`).set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(404);
  });

  test('the rule preview counts the open relays the change would close, and Confirm closes exactly those', async () => {
    const alice = await openRelay(ALICE_ADDRESS, 'a');
    await openRelay(EVIL_ADDRESS, 'e');
    await openRelay(EVIL_ADDRESS, 'e2');
    const api = (body: object) => request(gw.app).post('/roamgate/access/preview').set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body);
    const denyAlice = { op: 'add', rule: { subject: 'user:alice', service: 'echo', allow: false } };
    const preview = (await api(denyAlice).expect(200)).body;
    expect(preview.closes).toBe(true);
    expect(preview.denied.map((relay: { user: string }) => relay.user)).toEqual(['alice']);
    expect(
      (await api({ op: 'add', rule: { subject: 'authenticated', service: 'echo', allow: false } }).expect(200)).body.denied,
    ).toHaveLength(3);
    // Less specific than the config rule that allows echo: it changes nothing.
    expect((await api({ op: 'add', rule: { subject: 'authenticated', service: '*', allow: false } }).expect(200)).body.denied).toHaveLength(
      0,
    );
    expect((await api({ op: 'add', rule: { subject: 'user:carol', service: 'echo', allow: false } }).expect(200)).body.denied).toHaveLength(
      0,
    );
    await api({ op: 'remove', id: 'config:0' }).expect(404);

    const csrf = await adminCsrf();
    const form = { _csrf: csrf, op: 'add', subject: 'user:alice', service: 'echo', effect: 'deny', reason: 'not today' };
    const page = await admin.post('/roamgate/console/rules/preview').type('form').send(form).expect(200);
    expect(page.text).toMatch(/This closes 1 open relay: alice echo from 127\.0\.0\.4:\d+\./);
    expect(page.text).toContain('data-denied="1"');
    expect((await admin.get('/roamgate/console/rules').set('Accept', 'text/html')).text).not.toContain('<td>user:alice</td>');
    await admin.post('/roamgate/console/rules/apply').type('form').send(form).expect(303);
    await alice.closed;
    const rules = (await request(gw.app).get('/roamgate/access/rules').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).body.rules;
    const added = rules.find((rule: { subject: string }) => rule.subject === 'user:alice');
    expect(added).toMatchObject({ service: 'echo', allow: false, reason: 'not today', origin: 'api' });

    const removal = await admin
      .post('/roamgate/console/rules/preview')
      .type('form')
      .send({ _csrf: csrf, op: 'remove', id: added.id })
      .expect(200);
    expect(removal.text).toContain('No open relay is affected.');
    await admin.post('/roamgate/console/rules/apply').type('form').send({ _csrf: csrf, op: 'remove', id: added.id }).expect(303);
    const audit = (await request(gw.app).get('/roamgate/audit?actor=root').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).body.events;
    expect(audit.slice(0, 2).map((event: { type: string }) => event.type)).toEqual(['rule.removed', 'rule.added']);
  });

  test('Revoke on the leases page ends the lease through the usual path: its relays close and it is audited', async () => {
    const evil = await openRelay(EVIL_ADDRESS, 'before revoke');
    const lease = (await request(gw.app).get('/roamgate/leases').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).body.leases.find(
      (each: { userId: string }) => each.userId === EVIL,
    );
    const csrf = await adminCsrf();
    await admin.post(`/roamgate/console/leases/${lease.id}/revoke`).type('form').send({ _csrf: csrf }).expect(303);
    await evil.closed;
    const leases = (await admin.get('/roamgate/console/leases?live=1').expect(200)).text;
    expect(leases).not.toContain(lease.id);
    const events = (await request(gw.app).get('/roamgate/audit?type=lease.revoked').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).body
      .events;
    expect(events[0]).toMatchObject({ actor: 'root', detail: { lease: lease.id } });
    // No lease any more: the next connection from that address is anonymous, and refused.
    const refused = await RawClient.open(gw.ports.echo, EVIL_ADDRESS);
    await refused.closed;
    expect(await loginFrom(gw, EVIL_ADDRESS, 'evil')).toBe(201);
  });

  test('the audit page and API filter by type, actor and time, and page back with beforeId', async () => {
    const all = (await request(gw.app).get('/roamgate/audit?limit=1000').set('Authorization', `Bearer ${ADMIN_TOKEN}`)).body.events;
    const first = all[all.length - 1];
    const since = encodeURIComponent(first.at);
    const until = new Date(Date.parse(first.at) + 1).toISOString();
    const window = (
      await request(gw.app).get(`/roamgate/audit?since=${since}&until=${until}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    ).body.events;
    expect(window.length).toBeGreaterThan(0);
    expect(window.every((event: { at: string }) => event.at === first.at)).toBe(true);
    await request(gw.app).get('/roamgate/audit?since=yesterday').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(400);
    const page = await admin
      .get('/roamgate/console/audit')
      .query({ type: 'lease.issued', actor: 'alice' })
      .set('Accept', 'text/html')
      .expect(200);
    const rows = page.text.match(/<td>lease\.issued<\/td>/g) ?? [];
    expect(rows.length).toBe(
      all.filter((event: { type: string; actor?: string }) => event.type === 'lease.issued' && event.actor === 'alice').length,
    );
    expect(page.text).not.toContain('<td>login.success</td>');
    const older = await admin.get('/roamgate/console/audit').query({ beforeId: all[1].id }).set('Accept', 'text/html').expect(200);
    const ids = [...older.text.matchAll(/<tr><td class="num">(\d+)<\/td>/g)].map((match) => Number(match[1]));
    expect(ids).toEqual(all.slice(2, 52).map((event: { id: number }) => event.id));
    const bad = await admin.get('/roamgate/console/audit').query({ since: 'not a time' }).set('Accept', 'text/html').expect(400);
    expect(bad.text).toContain('since: must be an ISO 8601 time');
  });
});
