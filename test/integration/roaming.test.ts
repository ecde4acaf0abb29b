import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { openTunnel } from '../../adapters/tunnel-client';
import { hashPassword } from '../../plugin/password';
import { signRequest } from '../../protocols/peer-signature';
import { openSqliteStore } from '../../store/sqlite-store';
import type { Store } from '../../store/store';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { startNntp, startPop3 } from '../helpers/line-servers';
import { RawClient } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

jest.setTimeout(30_000);

const HOME_VISIT_SECRET = 'home-and-visit-share-this-secret-0123456789';
const HOME_REGION_SECRET = 'home-and-region-share-this-secret-012345678';
const REGION_FAR_SECRET = 'region-and-far-share-this-secret-0123456789';

/** Collects what a socket receives, as RawClient does for sockets it opened itself. */
function watch(socket: Socket) {
  let data = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => undefined);
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    get received() {
      return data;
    },
    closed,
    send: (text: string) => socket.write(text),
    async waitFor(predicate: (text: string) => boolean, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(data)) {
        if (Date.now() > until) throw new Error(`timed out; received so far: ${JSON.stringify(data)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return data;
    },
  };
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A POP3 session at an adapter with in-protocol login as alice@home.example: login, STAT, QUIT. */
async function readMailboxAsAlice(port: number, source: string): Promise<RawClient> {
  const client = await RawClient.open(port, source);
  await client.waitFor((text) => text.startsWith('+OK'));
  client.send('USER alice@home.example\r\nPASS alice-pw\r\n');
  await client.waitFor((text) => text.split('\r\n').filter((line) => line.startsWith('+OK')).length >= 3);
  client.send('STAT\r\n');
  await client.waitFor((text) => text.includes('+OK 0 0'));
  client.send('QUIT\r\n');
  await client.closed;
  return client;
}

const urlOf = (gw: TestGateway) => `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;

describe('roaming: a home gateway vouches, the visited gateway serves', () => {
  let homePop3: Awaited<ReturnType<typeof startPop3>>;
  let homeNntp: Awaited<ReturnType<typeof startNntp>>;
  let visitedSmtp: Awaited<ReturnType<typeof startSmtpUpstream>>;
  let homeStore: Store;
  let home: TestGateway;
  let visited: TestGateway;
  let region: TestGateway;
  let far: TestGateway;
  const visitedStorePath = join(mkdtempSync(join(tmpdir(), 'roamgate-roaming-')), 'visited.sqlite');

  beforeAll(async () => {
    homePop3 = await startPop3('home-pop3.internal ready', { alice: 'alice-pw', carol: 'carol-pw' });
    homeNntp = await startNntp('home-news.internal ready');
    visitedSmtp = await startSmtpUpstream('visited-relay.internal');
    homeStore = openSqliteStore(':memory:');
    const now = Date.now();
    await homeStore.users.put({ id: 'carol', passwordHash: await hashPassword('carol-pw'), attributes: { department: 'sales' }, disabled: false, createdAt: now, updatedAt: now });
    home = await startGateway(
      {
        realm: 'home.example',
        store: homeStore,
        users: [
          { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { department: 'sales', role: 'admin', office: 'B2' } },
          { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: { department: 'research' } },
        ],
        peers: { 'visit.example': { secret: HOME_VISIT_SECRET }, 'region.example': { secret: HOME_REGION_SECRET } },
        servers: {
          pop3: [
            { host: '127.0.0.1', port: homePop3.port, for: 'user:alice' },
            { host: '127.0.0.1', port: homePop3.port, for: 'user:carol' },
          ],
          nntp: [{ host: '127.0.0.1', port: homeNntp.port, for: 'authenticated' }],
        },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    visited = await startGateway(
      {
        realm: 'visit.example',
        store: { path: visitedStorePath },
        peers: { 'home.example': { secret: HOME_VISIT_SECRET, url: urlOf(home), attributes: { keep: ['department'] }, routes: { nntp: 'home' }, refreshSeconds: 1, failureCacheSeconds: 0 } },
        adapters: { smtp: { port: 0, login: { allowCleartext: true } }, pop3: { port: 0, login: { allowCleartext: true } }, nntp: { port: 0, login: { allowCleartext: true } } },
        servers: { smtp: [{ host: '127.0.0.1', port: visitedSmtp.port, credentials: 'none' }] },
        access: [
          { subject: 'realm=home.example', service: '*', allow: true },
          { subject: 'department=research', service: 'nntp', allow: false, reason: 'news is not for research visitors here' },
        ],
      },
      true,
    );
    // A chain: far.example's visitors from home.example are vouched for by region.example, which asks home.
    region = await startGateway(
      {
        realm: 'region.example',
        peers: {
          'home.example': { secret: HOME_REGION_SECRET, url: urlOf(home), attributes: { keep: ['department'] } },
          'far.example': { secret: REGION_FAR_SECRET },
        },
        access: [{ subject: 'realm=home.example', service: '*', allow: true }],
      },
      true,
    );
    far = await startGateway(
      {
        realm: 'far.example',
        peers: { 'home.example': { secret: REGION_FAR_SECRET, url: urlOf(region), attributes: { keep: ['department'] } } },
        adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
        access: [{ subject: 'realm=home.example', service: '*', allow: true }],
      },
      true,
    );
  });

  afterAll(async () => {
    for (const gw of [far, region, visited, home]) await gw?.close();
    await homeStore?.close();
    await Promise.all([homePop3?.close(), homeNntp?.close(), visitedSmtp?.close()]);
  });

  async function login(gw: TestGateway, username: string, password: string) {
    return request(gw.app).post('/roamgate/login').send({ username, password });
  }

  test('alice@home.example logs in at the visited gateway: a visitor lease with the mapped attributes, no home address in sight', async () => {
    const response = await login(visited, 'alice@home.example', 'alice-pw');
    expect(response.status).toBe(201);
    expect(response.body.lease).toMatchObject({ userId: 'alice@home.example', attributes: { department: 'sales', realm: 'home.example' } });
    // role (admin at home) and office were not kept: a home cannot make admins here.
    expect(response.body.lease.attributes).toEqual({ department: 'sales', realm: 'home.example' });
    expect(JSON.stringify(response.body)).not.toContain(String(homePop3.port));
  });

  // Terminals that log in in-protocol connect from their own loopback addresses: 127.0.0.1 holds a lease from the API logins.
  test('in-protocol POP3 login at the visited adapter reads the home mailbox, logged in at home as alice', async () => {
    const client = await readMailboxAsAlice(visited.ports.pop3, '127.0.0.2');
    expect(homePop3.logins).toContain('alice');
    expect(client.received).not.toContain('home-pop3.internal');
    await waitUntil(() => visited.logger.records().some((record) => record.service === 'pop3' && record.outcome === 'relayed'));
    const records = visited.logger.records().filter((record) => record.service === 'pop3' && record.outcome === 'relayed');
    expect(records.at(-1)).toMatchObject({ identity: 'alice@home.example' });
    // The visited gateway's record names the home gateway it relayed to, never the home's server.
    expect(records.at(-1)!.server).toBe(`127.0.0.1:${(home.http!.address() as AddressInfo).port}`);
  });

  test('through the visited tunnel endpoint (a local proxy): POP3 goes home, SMTP stays on the visited relay', async () => {
    const { body } = await login(visited, 'alice@home.example', 'alice-pw');
    const pop = watch(await openTunnel(urlOf(visited), 'pop3', body.token, 5000));
    await pop.waitFor((text) => text.includes('+OK home-pop3.internal ready'));
    pop.send('QUIT\r\n');
    await pop.closed;

    const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: visited.ports.smtp, secure: false, ignoreTLS: true, localAddress: '127.0.0.2', auth: { user: 'alice@home.example', pass: 'alice-pw' } });
    await mailer.sendMail({ from: 'alice@home.example', to: 'someone@visit.example', subject: 'sent from the visited network', text: 'hello' });
    expect(visitedSmtp.messages.at(-1)!.raw.toString()).toContain('Subject: sent from the visited network');
  });

  test('NNTP is routed home by the peer route, and AUTHINFO reaches the home news server as alice', async () => {
    const client = await RawClient.open(visited.ports.nntp, '127.0.0.2');
    await client.waitFor((text) => text.startsWith('200'));
    client.send('AUTHINFO USER alice@home.example\r\n');
    await client.waitFor((text) => text.includes('381'));
    client.send('AUTHINFO PASS alice-pw\r\n');
    await client.waitFor((text) => text.includes('281'));
    client.send('GROUP local.test\r\n');
    await client.waitFor((text) => text.includes('211 1 1 1 local.test'));
    client.close();
    expect(homeNntp.logins).toContain('alice');
  });

  test("refusals: an unknown realm, a wrong home password, and a visited rule denying alice's department", async () => {
    const unknown = await login(visited, 'alice@nowhere.example', 'alice-pw');
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('unknown realm nowhere.example: this gateway trusts no home gateway for it');

    const wrong = await login(visited, 'alice@home.example', 'not-her-password');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('wrong user name or password');

    const pop = await RawClient.open(visited.ports.pop3, '127.0.0.3');
    await pop.waitFor((text) => text.startsWith('+OK'));
    pop.send('USER alice@nowhere.example\r\nPASS x\r\n');
    await pop.waitFor((text) => text.includes('-ERR'));
    expect(pop.received).toContain('unknown realm nowhere.example');
    pop.close();

    const news = await RawClient.open(visited.ports.nntp, '127.0.0.3');
    await news.waitFor((text) => text.startsWith('200'));
    news.send('AUTHINFO USER bob@home.example\r\nAUTHINFO PASS bob-pw\r\n');
    await news.waitFor((text) => text.includes('502'));
    expect(news.received).toMatch(/502 news is not for research visitors here/);
    await news.closed;
  });

  test('the home answers only signed, fresh, first-time requests from configured peers', async () => {
    const path = '/roamgate/federation/verify';
    const body = JSON.stringify({ username: 'alice', password: 'alice-pw' });
    const send = (headers: Record<string, string>, payload = body) => request(home.app).post(path).set({ ...headers, 'content-type': 'application/json' }).send(payload);

    const signed = signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now());
    const first = await send(signed);
    expect(first.status).toBe(200);
    expect(first.headers['x-roamgate-signature']).toBeDefined();
    expect(JSON.stringify(first.body)).not.toContain(String(homePop3.port));
    expect(first.body.services).toEqual(expect.arrayContaining([{ service: 'pop3', own: true }, { service: 'nntp', own: false }]));

    const replayed = await send(signed);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error).toMatch(/replayed request/);

    const forged = await send(signRequest('a-secret-that-is-not-the-shared-one-000000', { peer: 'visit.example', method: 'POST', path, body }, Date.now()));
    expect(forged.status).toBe(401);
    expect(forged.body.error).toMatch(/bad signature/);

    const altered = await send(signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now()), JSON.stringify({ username: 'bob', password: 'alice-pw' }));
    expect(altered.status).toBe(401);

    const stale = await send(signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now() - 5 * 60_000));
    expect(stale.status).toBe(401);
    expect(stale.body.error).toMatch(/timestamp/);

    const stranger = await send(signRequest(HOME_VISIT_SECRET, { peer: 'stranger.example', method: 'POST', path, body }, Date.now()));
    expect(stranger.status).toBe(401);
    expect(stranger.body.error).toMatch(/not a configured peer/);

    const unsigned = await send({});
    expect(unsigned.status).toBe(401);
  });

  test('a chain through three gateways: far -> region -> home -> the home POP3 server', async () => {
    const client = await readMailboxAsAlice(far.ports.pop3, '127.0.0.2');
    expect(client.received).not.toContain('home-pop3.internal');
    // Each hop saw only the next one.
    const hop = (gw: TestGateway) => gw.logger.records().filter((record) => record.service === 'pop3' && record.outcome === 'relayed').at(-1);
    await waitUntil(() => [far, region, home].every((gw) => hop(gw) !== undefined));
    expect(hop(far)).toMatchObject({ identity: 'alice@home.example', server: `127.0.0.1:${(region.http!.address() as AddressInfo).port}` });
    expect(hop(region)).toMatchObject({ identity: 'alice@home.example', server: `127.0.0.1:${(home.http!.address() as AddressInfo).port}` });
    expect(hop(home)).toMatchObject({ identity: 'alice', server: `127.0.0.1:${homePop3.port}` });
  });

  test('a user disabled at home loses the visited lease at the next refresh, and its open relay is cut', async () => {
    const { body, status } = await login(visited, 'carol@home.example', 'carol-pw');
    expect(status).toBe(201);
    const pop = watch(await openTunnel(urlOf(visited), 'pop3', body.token, 5000));
    await pop.waitFor((text) => text.includes('+OK home-pop3.internal ready'));
    const carol = (await homeStore.users.get('carol'))!;
    await homeStore.users.put({ ...carol, disabled: true, updatedAt: Date.now() });
    await pop.closed; // cut when the visited gateway's refresh (every second) learns the home lease is gone
    const leases = await request(visited.app).get('/roamgate/leases').set('authorization', `Bearer ${body.token}`);
    expect(leases.status).toBe(401);
  });

  test('nothing the visited gateway stores holds a home server address', async () => {
    await visited.gateway.close();
    const stored = readFileSync(visitedStorePath).toString('latin1');
    expect(stored).toContain('alice@home.example');
    expect(stored).not.toContain(String(homePop3.port));
    expect(stored).not.toContain(String(homeNntp.port));
    expect(stored).not.toContain('home-pop3.internal');
  });
});

describe('roaming: the home gateway is down', () => {
  test('home-routed services refuse in-protocol with the reason, the visited SMTP relay keeps working', async () => {
    const homePop3 = await startPop3('home-pop3.internal', { alice: 'alice-pw' });
    const relay = await startSmtpUpstream('visited-relay.internal');
    const home = await startGateway(
      {
        realm: 'home.example',
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
        peers: { 'visit.example': { secret: HOME_VISIT_SECRET } },
        servers: { pop3: [{ host: '127.0.0.1', port: homePop3.port, for: 'user:alice' }] },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    const visited = await startGateway(
      {
        realm: 'visit.example',
        peers: { 'home.example': { secret: HOME_VISIT_SECRET, url: urlOf(home) } },
        adapters: { smtp: { port: 0, login: { allowCleartext: true } }, pop3: { port: 0, login: { allowCleartext: true } } },
        servers: { smtp: [{ host: '127.0.0.1', port: relay.port, credentials: 'none' }] },
        access: [{ subject: 'realm=home.example', service: '*', allow: true }],
      },
      true,
    );
    try {
      const { body } = await request(visited.app).post('/roamgate/login').send({ username: 'alice@home.example', password: 'alice-pw' });
      await home.close();

      const refusal = '-ERR [SYS/TEMP] home gateway home.example cannot be reached; pop3 from there is unavailable\r\n';
      // The terminal that logged in (its lease is bound to 127.0.0.1) is refused at once, with the reason.
      const leased = await RawClient.open(visited.ports.pop3);
      await leased.closed;
      expect(leased.received).toBe(refusal);

      // Another terminal logs in in-protocol: the visited gateway still remembers home's yes, but home itself is gone.
      const pop = await RawClient.open(visited.ports.pop3, '127.0.0.4');
      await pop.waitFor((text) => text.startsWith('+OK'));
      pop.send('USER alice@home.example\r\nPASS alice-pw\r\n');
      await pop.waitFor((text) => text.includes('-ERR'));
      expect(pop.received).toContain(refusal);
      pop.close();

      await expect(openTunnel(urlOf(visited), 'pop3', body.token, 5000)).rejects.toMatchObject({ message: 'home gateway home.example cannot be reached; pop3 from there is unavailable' });

      const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: visited.ports.smtp, secure: false, ignoreTLS: true, localAddress: '127.0.0.4', auth: { user: 'alice@home.example', pass: 'alice-pw' } });
      await mailer.sendMail({ from: 'alice@home.example', to: 'x@visit.example', subject: 'home is down', text: 'still sending' });
      expect(relay.messages.at(-1)!.raw.toString()).toContain('Subject: home is down');

      // A new visitor cannot log in while home is away, and is told why (503: try again later).
      const fresh = await request(visited.app).post('/roamgate/login').send({ username: 'alice@home.example', password: 'another-try' });
      expect(fresh.status).toBe(503);
      expect(fresh.body.error).toMatch(/^home gateway home\.example cannot be reached/);
    } finally {
      await visited.close();
      await home.close();
      await homePop3.close();
      await relay.close();
    }
  });
});

describe('roaming: a home that reveals addresses to a peer', () => {
  test('the visited gateway relays straight to the home server, and the home gateway is not on the path', async () => {
    const homePop3 = await startPop3('home-pop3.internal', { alice: 'alice-pw' });
    const home = await startGateway(
      {
        realm: 'home.example',
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
        peers: { 'partner.example': { secret: HOME_VISIT_SECRET, revealAddresses: true } },
        servers: { pop3: [{ host: '127.0.0.1', port: homePop3.port, for: 'user:alice' }] },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    const partner = await startGateway(
      {
        realm: 'partner.example',
        peers: { 'home.example': { secret: HOME_VISIT_SECRET, url: urlOf(home) } },
        adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
        access: [{ subject: 'realm=home.example', service: '*', allow: true }],
      },
      true,
    );
    try {
      const { body } = await request(partner.app).post('/roamgate/login').send({ username: 'alice@home.example', password: 'alice-pw' });
      const pop = watch(await openTunnel(urlOf(partner), 'pop3', body.token, 5000));
      await pop.waitFor((text) => text.includes('+OK home-pop3.internal'));
      pop.send('QUIT\r\n');
      await pop.closed;
      await waitUntil(() => partner.logger.records().some((record) => record.service === 'pop3' && record.outcome === 'relayed'));
      expect(partner.logger.records().find((record) => record.service === 'pop3')).toMatchObject({ identity: 'alice@home.example', server: `127.0.0.1:${homePop3.port}` });
      expect(home.logger.records()).toEqual([]);
    } finally {
      await partner.close();
      await home.close();
      await homePop3.close();
    }
  });
});
