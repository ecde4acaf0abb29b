import express from 'express';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { openTunnel } from '../../net/tunnel-client';
import { AuditLog } from '../../plugin/audit-log';
import { RoamingDirectory } from '../../plugin/roaming-directory';
import { LeaseManager } from '../../plugin/lease-manager';
import { LoginGuard } from '../../plugin/login-guard';
import { normalizeOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { PeerClient } from '../../plugin/peer-client';
import { ReplayGuard } from '../../plugin/replay-guard';
import { signRequest } from '../../protocols/peer-signature';
import { peerRoutes, UNVERIFIED_PEER_REQUEST } from '../../plugin/routes/peer-routes';
import { openSqliteStore } from '../../store/sqlite-store';
import type { Store } from '../../store/store';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { startNntp, startPop3 } from '../helpers/line-servers';
import { RawClient } from '../helpers/net';
import { until } from '../helpers/until';
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
      await until(
        () => predicate(data),
        () => `the expected text; received so far: ${JSON.stringify(data)}`,
        timeoutMs,
      );
      return data;
    },
  };
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
    homePop3 = await startPop3('home-pop3.internal ready', { alice: 'alice-pw', carol: 'carol-pw', erin: 'erin-pw' });
    homeNntp = await startNntp('home-news.internal ready');
    visitedSmtp = await startSmtpUpstream('visited-relay.internal');
    homeStore = openSqliteStore(':memory:');
    const now = Date.now();
    await homeStore.users.put({
      id: 'carol',
      passwordHash: await hashPassword('carol-pw'),
      attributes: { department: 'sales' },
      disabled: false,
      createdAt: now,
      updatedAt: now,
    });
    await homeStore.users.put({
      id: 'erin',
      passwordHash: await hashPassword('erin-pw'),
      attributes: { department: 'sales' },
      disabled: false,
      createdAt: now,
      updatedAt: now,
    });
    home = await startGateway(
      {
        realm: 'home.example',
        store: homeStore,
        users: [
          { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { department: 'sales', role: 'admin', office: 'B2' } },
          { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: { department: 'research' } },
          { id: 'frank', passwordHash: await hashPassword('frank-pw'), attributes: {} },
        ],
        peers: { 'visit.example': { secret: HOME_VISIT_SECRET }, 'region.example': { secret: HOME_REGION_SECRET } },
        // Home's own news adapter, for its own users: a peer's lease must never open it.
        adapters: { nntp: { port: 0 } },
        servers: {
          pop3: [
            { host: '127.0.0.1', port: homePop3.port, for: 'user:alice' },
            { host: '127.0.0.1', port: homePop3.port, for: 'user:carol' },
            { host: '127.0.0.1', port: homePop3.port, for: 'user:erin' },
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
        peers: {
          'home.example': {
            secret: HOME_VISIT_SECRET,
            url: urlOf(home),
            attributes: { keep: ['department'] },
            routes: { nntp: 'home' },
            refreshSeconds: 1,
            failureCacheSeconds: 0,
          },
        },
        adapters: {
          smtp: { port: 0, login: { allowCleartext: true } },
          pop3: { port: 0, login: { allowCleartext: true } },
          nntp: { port: 0, login: { allowCleartext: true } },
        },
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
          'far.example': { secret: REGION_FAR_SECRET, chain: true },
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

  /** Token-only, as a local proxy logs in: several visitors log in here from one address and go through tunnels. */
  async function login(gw: TestGateway, username: string, password: string) {
    return request(gw.app).post('/roamgate/login').send({ username, password, bindAddress: false });
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
    await until(
      () => visited.logger.records().some((record) => record.service === 'pop3' && record.outcome === 'relayed'),
      'the relayed pop3 record',
    );
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

    const mailer = nodemailer.createTransport({
      host: '127.0.0.1',
      port: visited.ports.smtp,
      secure: false,
      ignoreTLS: true,
      localAddress: '127.0.0.2',
      auth: { user: 'alice@home.example', pass: 'alice-pw' },
    });
    await mailer.sendMail({
      from: 'alice@home.example',
      to: 'someone@visit.example',
      subject: 'sent from the visited network',
      text: 'hello',
    });
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
    const send = (headers: Record<string, string>, payload = body) =>
      request(home.app)
        .post(path)
        .set({ ...headers, 'content-type': 'application/json' })
        .send(payload);

    const signed = signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now());
    const first = await send(signed);
    expect(first.status).toBe(200);
    expect(first.headers['x-roamgate-signature']).toBeDefined();
    expect(JSON.stringify(first.body)).not.toContain(String(homePop3.port));
    expect(first.body.services).toEqual(
      expect.arrayContaining([
        { service: 'pop3', own: true },
        { service: 'nntp', own: false },
      ]),
    );

    // The lease given to the peer opens the home's tunnel endpoint from the peer's address, and nothing else.
    const peerToken = first.body.lease.token as string;
    expect((await request(home.app).get('/roamgate/leases').set('authorization', `Bearer ${peerToken}`)).status).toBe(401);
    const homeHttp = (home.http!.address() as AddressInfo).port;
    const fromElsewhere = await RawClient.open(homeHttp, '127.0.0.9');
    fromElsewhere.send(`CONNECT pop3.roamgate:1 HTTP/1.1\r\nHost: pop3.roamgate:1\r\nProxy-Authorization: Bearer ${peerToken}\r\n\r\n`);
    await fromElsewhere.waitFor((text) => text.includes('\r\n\r\n'));
    expect(fromElsewhere.received).toMatch(/^HTTP\/1\.1 407 /);
    fromElsewhere.close();
    const tunnel = watch(await openTunnel(urlOf(home), 'pop3', peerToken, 5000));
    await tunnel.waitFor((text) => text.includes('+OK home-pop3.internal ready'));
    tunnel.send('QUIT\r\n');
    await tunnel.closed;
    // Nor does it make everyone behind the peer's address alice at home's own adapters.
    const behindPeer = await RawClient.open(home.ports.nntp);
    await behindPeer.closed;
    expect(behindPeer.received).toMatch(/^502 no access rule lets anonymous clients use nntp/);

    // A home vouches only for its own realm unless the peer is configured as a chain.
    const otherRealm = JSON.stringify({ username: 'dave@region.example', password: 'x' });
    const refusedRealm = await send(
      signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body: otherRealm }, Date.now()),
      otherRealm,
    );
    expect(refusedRealm.status).toBe(403);
    expect(refusedRealm.body.error).toBe('this gateway vouches only for users of home.example, not of region.example');

    const replayed = await send(signed);
    // 409, not 401: a visited gateway must not read a replay as a wrong password.
    expect(replayed.status).toBe(409);
    expect(replayed.body.error).toMatch(/replayed request/);

    const forged = await send(
      signRequest('a-secret-that-is-not-the-shared-one-000000', { peer: 'visit.example', method: 'POST', path, body }, Date.now()),
    );
    expect(forged.status).toBe(401);
    expect(forged.body.error).toBe(UNVERIFIED_PEER_REQUEST);

    const altered = await send(
      signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now()),
      JSON.stringify({ username: 'bob', password: 'alice-pw' }),
    );
    expect(altered.status).toBe(401);

    const stale = await send(
      signRequest(HOME_VISIT_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now() - 5 * 60_000),
    );
    expect(stale.status).toBe(401);
    expect(stale.body.error).toBe(UNVERIFIED_PEER_REQUEST);

    const stranger = await send(signRequest(HOME_VISIT_SECRET, { peer: 'stranger.example', method: 'POST', path, body }, Date.now()));
    expect(stranger.status).toBe(401);
    // The same answer for a stranger as for a wrong signature: nobody learns the peers' names; the audit trail has the reason.
    expect(stranger.body.error).toBe(UNVERIFIED_PEER_REQUEST);
    const reasons = async () =>
      (await homeStore.audit.list({ type: 'peer.refused', limit: 50 })).map((event) => String(event.detail.reason));
    await until(
      async () => (await reasons()).some((reason) => reason.includes('stranger.example is not a configured peer')),
      'the audit entry',
      5000,
      50,
    );
    expect(await reasons()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^bad signature/),
        expect.stringMatching(/^timestamp is more than 60 s/),
        'stranger.example is not a configured peer of this gateway',
      ]),
    );

    const unsigned = await send({});
    expect(unsigned.status).toBe(401);
  });

  test('a chain through three gateways: far -> region -> home -> the home POP3 server', async () => {
    const client = await readMailboxAsAlice(far.ports.pop3, '127.0.0.2');
    expect(client.received).not.toContain('home-pop3.internal');
    // Each hop saw only the next one.
    const hop = (gw: TestGateway) =>
      gw.logger
        .records()
        .filter((record) => record.service === 'pop3' && record.outcome === 'relayed')
        .at(-1);
    await until(() => [far, region, home].every((gw) => hop(gw) !== undefined), 'a record at every hop');
    expect(hop(far)).toMatchObject({ identity: 'alice@home.example', server: `127.0.0.1:${(region.http!.address() as AddressInfo).port}` });
    expect(hop(region)).toMatchObject({
      identity: 'alice@home.example',
      server: `127.0.0.1:${(home.http!.address() as AddressInfo).port}`,
    });
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

  test('a visitor logged in in-protocol (no lease here) and disabled at home: the open relay is cut at the next refresh', async () => {
    const client = await RawClient.open(visited.ports.pop3, '127.0.0.6');
    await client.waitFor((text) => text.startsWith('+OK'));
    client.send('USER erin@home.example\r\nPASS erin-pw\r\n');
    await client.waitFor((text) => text.split('\r\n').filter((line) => line.startsWith('+OK')).length >= 3);
    client.send('STAT\r\n');
    await client.waitFor((text) => text.includes('+OK 0 0'));
    const erin = (await homeStore.users.get('erin'))!;
    await homeStore.users.put({ ...erin, disabled: true, updatedAt: Date.now() });
    await client.closed;
    // And the remembered yes is gone: logging in again asks home, which says no.
    const again = await RawClient.open(visited.ports.pop3, '127.0.0.6');
    await again.waitFor((text) => text.startsWith('+OK'));
    again.send('USER erin@home.example\r\nPASS erin-pw\r\n');
    await again.waitFor((text) => text.includes('-ERR'));
    expect(again.received).toMatch(/-ERR \[AUTH\] wrong user name or password/);
    again.close();
  });

  test('a visitor who logs out at the visited gateway: home ends the lease it gave for them', async () => {
    const peerLeases = async () =>
      (await homeStore.leases.listLive(Date.now())).filter((lease) => lease.userId === 'frank' && lease.peer === 'visit.example');
    const { body, status } = await login(visited, 'frank@home.example', 'frank-pw');
    expect(status).toBe(201);
    expect(await peerLeases()).toHaveLength(1);
    expect((await request(visited.app).post('/roamgate/logout').set('authorization', `Bearer ${body.token}`)).status).toBe(204);
    await until(async () => (await peerLeases()).length === 0, 'the peer lease to go', 5000, 20);
    expect(await peerLeases()).toEqual([]);
    // Logging in again asks home afresh (the remembered answer went with the lease).
    expect((await login(visited, 'frank@home.example', 'frank-pw')).status).toBe(201);
    expect(await peerLeases()).toHaveLength(1);
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

      await expect(openTunnel(urlOf(visited), 'pop3', body.token, 5000)).rejects.toMatchObject({
        message: 'home gateway home.example cannot be reached; pop3 from there is unavailable',
      });

      const mailer = nodemailer.createTransport({
        host: '127.0.0.1',
        port: visited.ports.smtp,
        secure: false,
        ignoreTLS: true,
        localAddress: '127.0.0.4',
        auth: { user: 'alice@home.example', pass: 'alice-pw' },
      });
      await mailer.sendMail({ from: 'alice@home.example', to: 'x@visit.example', subject: 'home is down', text: 'still sending' });
      expect(relay.messages.at(-1)!.raw.toString()).toContain('Subject: home is down');

      // An in-protocol login home has not answered before: a temporary refusal, so the client keeps its password and retries.
      const fresh2 = await RawClient.open(visited.ports.pop3, '127.0.0.7');
      await fresh2.waitFor((text) => text.startsWith('+OK'));
      fresh2.send('USER alice@home.example\r\nPASS not-remembered\r\n');
      await fresh2.closed;
      expect(fresh2.received).toMatch(/\r\n-ERR \[SYS\/TEMP\] home gateway home\.example cannot be reached \(ECONNREFUSED\)\r\n$/);

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
        peers: { 'home.example': { secret: HOME_VISIT_SECRET, url: urlOf(home), acceptAddresses: true } },
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
      await until(
        () => partner.logger.records().some((record) => record.service === 'pop3' && record.outcome === 'relayed'),
        "the partner's relayed pop3 record",
      );
      expect(partner.logger.records().find((record) => record.service === 'pop3')).toMatchObject({
        identity: 'alice@home.example',
        server: `127.0.0.1:${homePop3.port}`,
      });
      expect(home.logger.records()).toEqual([]);
    } finally {
      await partner.close();
      await home.close();
      await homePop3.close();
    }
  });
});

describe('roaming: direct-mode discovery for a visitor', () => {
  test("a visitor's /discover names the servers their home reveals; a home that keeps them hidden, and anonymous clients, get none", async () => {
    const home = await startGateway(
      {
        realm: 'home.example',
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
        peers: {
          'partner.example': { secret: HOME_VISIT_SECRET, revealAddresses: true },
          'hidden.example': { secret: `${HOME_VISIT_SECRET}-hidden`, revealAddresses: false },
        },
        servers: { pop3: [{ host: '127.0.0.1', port: 2610, for: 'user:alice' }] },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    const visitedBy = (realm: string, secret: string) =>
      startGateway(
        {
          realm,
          mode: 'direct',
          peers: { 'home.example': { secret, url: urlOf(home), acceptAddresses: true } },
          servers: { smtp: [{ host: '127.0.0.1', port: 2600 }] },
          access: [{ subject: 'realm=home.example', service: '*', allow: true }],
        },
        true,
      );
    const partner = await visitedBy('partner.example', HOME_VISIT_SECRET);
    const hidden = await visitedBy('hidden.example', `${HOME_VISIT_SECRET}-hidden`);
    try {
      const discover = async (gw: TestGateway) => {
        const { body } = await login(gw, 'alice@home.example', 'alice-pw');
        return (await request(gw.app).get('/roamgate/discover').set('Authorization', `Bearer ${body.token}`).expect(200)).body.services;
      };
      expect(await discover(partner)).toEqual({ smtp: [{ host: '127.0.0.1', port: 2600 }], pop3: [{ host: '127.0.0.1', port: 2610 }] });
      // Hidden: the visitor's pop3 goes through the home's tunnel endpoint, which is no server to name.
      expect(await discover(hidden)).toEqual({ smtp: [{ host: '127.0.0.1', port: 2600 }] });
      expect((await request(partner.app).get('/roamgate/discover').expect(200)).body.services).toEqual({});
    } finally {
      await partner.close();
      await hidden.close();
      await home.close();
    }
  });

  async function login(gw: TestGateway, username: string, password: string) {
    return request(gw.app).post('/roamgate/login').send({ username, password, bindAddress: false });
  }
});

describe('roaming at the edges (found in review)', () => {
  const EDGE_SECRET = 'edge-home-and-visit-share-this-secret-01234';
  const quiet = { info() {}, warn() {}, error() {} };
  let pop3: Awaited<ReturnType<typeof startPop3>>;
  let homeStore: Store;
  let home: TestGateway;
  const opened: TestGateway[] = [];

  /** Reads alice's mailbox at `gw`'s POP3 adapter, logging in in the protocol. */
  const readMailbox = (gw: TestGateway) => readMailboxAsAlice(gw.ports.pop3, '127.0.0.2');
  const liveLeasesFor = async (peer: string) => (await homeStore.leases.listLive(Date.now())).filter((lease) => lease.peer === peer);
  const visitedFor = async (realm: string, cacheSeconds: number) => {
    const gw = await startGateway(
      {
        realm,
        peers: { 'home.example': { secret: EDGE_SECRET, url: urlOf(home), cacheSeconds, failureCacheSeconds: 0 } },
        adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
        access: [{ subject: 'realm=home.example', service: '*', allow: true }],
      },
      true,
    );
    opened.push(gw);
    return gw;
  };

  beforeAll(async () => {
    pop3 = await startPop3('edge-home-pop3.internal ready', { alice: 'alice-pw', gina: 'gina-pw' });
    homeStore = openSqliteStore(':memory:');
    const now = Date.now();
    await homeStore.users.put({
      id: 'gina',
      passwordHash: await hashPassword('gina-pw'),
      attributes: {},
      disabled: false,
      createdAt: now,
      updatedAt: now,
    });
    home = await startGateway(
      {
        realm: 'home.example',
        store: homeStore,
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { department: 'sales' } }],
        peers: { 'visit.example': { secret: EDGE_SECRET }, 'cached.example': { secret: EDGE_SECRET } },
        servers: {
          pop3: [
            { host: '127.0.0.1', port: pop3.port, for: 'user:alice' },
            { host: '127.0.0.1', port: pop3.port, for: 'user:gina' },
          ],
        },
        leases: { userCheckSeconds: 1 },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
  });
  afterAll(async () => {
    for (const gw of opened) await gw.close();
    await home.close();
    await homeStore.close();
    await pop3.close();
  });

  test('a home whose nonce share for the peer is full: the visitor hears "try again", never "wrong password"', async () => {
    const store = openSqliteStore(':memory:');
    const leases = new LeaseManager(store);
    const alice = { id: 'alice', attributes: {} };
    const app = express();
    app.use(
      peerRoutes({
        realm: 'home.example',
        peers: new Map([['visit.example', { secret: EDGE_SECRET, revealAddresses: false, chain: false }]]),
        // A share of zero: full from the start.
        replay: new ReplayGuard(store.nonces, 0),
        directory: { verify: async () => alice, get: async () => alice },
        leases,
        guard: new LoginGuard(normalizeOptions({}).login),
        audit: new AuditLog(store, quiet),
        offeredServices: async () => [],
      }),
    );
    const server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    try {
      const client = new PeerClient({
        self: 'visit.example',
        realm: 'home.example',
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        secret: EDGE_SECRET,
        timeoutMs: 2000,
      });
      await expect(client.verify('alice@home.example', 'alice-pw')).rejects.toMatchObject({
        code: 'ROAMGATE_UPSTREAM_REFUSED',
        message: expect.stringMatching(/too many peer requests/),
      });
      const directory = new RoamingDirectory({ verify: async () => false, get: async () => undefined }, 'visit.example', [
        {
          realm: 'home.example',
          client,
          attributes: { keep: [], set: {} },
          cacheSeconds: 300,
          failureCacheSeconds: 10,
          acceptAddresses: false,
        },
      ]);
      await expect(directory.verify('alice@home.example', 'alice-pw')).rejects.toMatchObject({ code: 'ROAMGATE_UPSTREAM_REFUSED' });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      leases.close();
      await store.close();
    }
  });

  test('a realm written in capitals names the same peer, on both sides', async () => {
    const visited = await visitedFor('Visit.Example', 0);
    const login = await request(visited.app).post('/roamgate/login').send({ username: 'alice@Home.Example', password: 'alice-pw' });
    expect(login.status).toBe(201);
    expect(login.body.lease.userId).toBe('alice@home.example');
  });

  test("logins in the client's protocol: with nothing remembered the home lease ends with the session", async () => {
    const visited = await visitedFor('visit.example', 0);
    const before = (await liveLeasesFor('visit.example')).length;
    for (let round = 0; round < 3; round++) expect((await readMailbox(visited)).received).toContain('+OK Logged in');
    await until(
      async () => (await liveLeasesFor('visit.example')).length === before,
      'the home leases of finished sessions to be released',
    );
  });

  test("logins in the client's protocol: a remembered answer keeps its home lease, which ends when the answer ages out", async () => {
    const visited = await visitedFor('cached.example', 1);
    await readMailbox(visited);
    await readMailbox(visited);
    // One home lease for both sessions: the second login used the remembered answer.
    expect(await liveLeasesFor('cached.example')).toHaveLength(1);
    await until(
      async () => (await liveLeasesFor('cached.example')).length === 0,
      'the home lease to be released when the answer ages out',
      5_000,
      50,
    );
  });

  /** A home lease for `username`, asked for as visit.example would. */
  const peerTokenFor = async (username: string, password: string) => {
    const path = '/roamgate/federation/verify';
    const body = JSON.stringify({ username, password });
    const answer = await request(home.app)
      .post(path)
      .set({
        ...signRequest(EDGE_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now()),
        'content-type': 'application/json',
      })
      .send(body);
    expect(answer.status).toBe(200);
    return answer.body.lease.token as string;
  };
  /** The first line of the home's answer to a tunnel request with `token`. */
  const tunnelAt = async (gw: TestGateway, token: string) => {
    const client = await RawClient.open((gw.http!.address() as AddressInfo).port);
    client.send(`CONNECT pop3.roamgate:1 HTTP/1.1\r\nHost: pop3.roamgate:1\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`);
    await client.waitFor((text) => text.includes('\r\n\r\n'));
    client.close();
    return client.received.split('\r\n')[0];
  };

  test('a user disabled at home loses the leases peers hold for them within userCheckSeconds, whatever the peer does', async () => {
    const token = await peerTokenFor('gina', 'gina-pw');
    expect(await tunnelAt(home, token)).toMatch(/^HTTP\/1\.1 200 /);
    const gina = (await homeStore.users.get('gina'))!;
    await homeStore.users.put({ ...gina, disabled: true, updatedAt: Date.now() });
    await until(async () => /^HTTP\/1\.1 407 /.test(await tunnelAt(home, token)), 'the tunnel to refuse her lease', 5_000, 100);
    // The audit trail is written in batches: give it its moment.
    const revokedForGina = async () =>
      (await homeStore.audit.list({ type: 'lease.revoked', limit: 10 })).some(
        (event) => event.actor === 'gina' && event.detail.by === 'user disabled or removed' && event.detail.peer === 'visit.example',
      );
    await until(revokedForGina, 'the audit event of the revocation', 3_000, 50);
  });

  test('a peer lease opens the tunnel only while its peer is still configured at home', async () => {
    const token = await peerTokenFor('alice', 'alice-pw');
    // The same store, a home that no longer trusts visit.example.
    const homeAfter = await startGateway(
      {
        realm: 'home.example',
        store: homeStore,
        peers: { 'cached.example': { secret: EDGE_SECRET } },
        servers: { pop3: [{ host: '127.0.0.1', port: pop3.port, for: 'user:alice' }] },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    opened.push(homeAfter);
    expect(await tunnelAt(home, token)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await tunnelAt(homeAfter, token)).toMatch(/^HTTP\/1\.1 407 /);
  });
});
