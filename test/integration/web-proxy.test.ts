import express from 'express';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import { hashPassword } from '../../plugin/password';
import { verifyAssertion } from '../../plugin/web/web-assertion';
import type { WebProxyHandler } from '../../plugin/web/web-proxy';
import { startBlackHole } from '../helpers/fault-servers';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp, refusedPort } from '../helpers/net';
import { until } from '../helpers/until';

const SECRET = 'a-web-assertion-secret-0123456789abcdef';
/** Logins come from here: a lease is bound to the address it was issued to too, and 127.0.0.1 must stay anonymous. */
const LOGIN_ADDRESS = '127.0.0.2';
/** The connect limit of the routes to a black-holed server (ms). */
const CONNECT_MS = 300;

/** What an upstream saw of one request (or upgrade). */
interface Seen {
  server: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Upstream {
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

/** A web server that answers every request with what it saw, as JSON; a WebSocket first gets the same, then an echo. */
async function startUpstream(name: string): Promise<Upstream> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const entry: Seen = { server: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(entry);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(entry));
    });
  });
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (socket, req) => {
    const entry: Seen = { server: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' };
    seen.push(entry);
    socket.send(JSON.stringify(entry));
    socket.on('message', (data) => socket.send(`echo: ${data.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      await new Promise((resolve) => sockets.close(resolve));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One request from `localAddress`; resolves with status, headers and body. */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A WebSocket's first message, or the status it was refused with. */
function openSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ socket: WebSocket; first: string } | { refused: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('message', (data) => resolve({ socket, first: data.toString() }));
    socket.once('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

describe('gw.web: a guarded reverse proxy on http-proxy-middleware', () => {
  let general: Upstream;
  let own: Upstream;
  let gw: TestGateway;
  let http: Server;
  let base: string;
  let wiki: WebProxyHandler;
  let refused: number;
  /** Accepts and never answers. */
  let silent: Awaited<ReturnType<typeof listenTcp>>;
  /** Accepts, reads the request, and resets the connection. */
  let resetting: Awaited<ReturnType<typeof listenTcp>>;
  /** Never answers a SYN: a connect there hangs until the route's connectTimeoutMs. */
  let hole: Awaited<ReturnType<typeof startBlackHole>>;
  const tokens: Record<string, string> = {};

  const records = (service: string) => gw.logger.records().filter((entry) => entry.service === service);
  const bearer = (user: string) => ({ Authorization: `Bearer ${tokens[user]}` });

  async function logIn(username: string, password: string): Promise<string> {
    const reply = await send(`${base}/roamgate/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      // Token-only: these tests identify by bearer token, and several users log in from one address.
      body: JSON.stringify({ username, password, bindAddress: false }),
      localAddress: LOGIN_ADDRESS,
    });
    expect(reply.status).toBe(201);
    return (JSON.parse(reply.body) as { token: string }).token;
  }

  beforeAll(async () => {
    general = await startUpstream('general');
    own = await startUpstream('alice-own');
    refused = await refusedPort();
    silent = await listenTcp(() => undefined);
    resetting = await listenTcp((socket) => socket.once('data', () => socket.resetAndDestroy()));
    hole = await startBlackHole();
    const at = (port: number, extra: { priority?: number; for?: string } = {}) => ({ host: '127.0.0.1', port, ...extra });
    gw = await startGateway({
      users: [
        { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { floor: '3', department: 'sales & marketing' } },
        { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: {} },
      ],
      access: [
        { subject: 'authenticated', service: 'wiki', allow: true },
        { subject: 'anonymous', service: 'public', allow: true },
        { subject: 'user:alice', service: '*', allow: true },
      ],
      servers: {
        wiki: [at(general.port), at(own.port, { for: 'user:alice' })],
        public: [at(general.port)],
        docs: [at(refused, { priority: 1 }), at(general.port, { priority: 2 })],
        upload: [at(refused, { priority: 1 }), at(general.port, { priority: 2 })],
        gone: [at(refused)],
        slow: [at(silent.port)],
        'flaky-get': [at(resetting.port, { priority: 1 }), at(general.port, { priority: 2 })],
        'flaky-post': [at(resetting.port, { priority: 1 }), at(general.port, { priority: 2 })],
        hole: [at(hole.port, { priority: 1 }), at(general.port, { priority: 2 })],
        'hole-only': [at(hole.port)],
      },
      web: { assertionSecret: SECRET },
    });
    wiki = gw.gateway.web('wiki');
    gw.app.use('/wiki', wiki);
    gw.app.use('/public', gw.gateway.web('public'));
    gw.app.use('/docs', gw.gateway.web('docs'));
    gw.app.use('/upload', gw.gateway.web('upload'));
    gw.app.use('/nowhere', gw.gateway.web('nowhere'));
    // The host parses JSON bodies before the route.
    gw.app.use('/api', express.json(), gw.gateway.web('wiki'));
    gw.app.use('/slow', gw.gateway.web('slow', { timeoutMs: 300 }));
    gw.app.use('/flaky-get', gw.gateway.web('flaky-get'));
    gw.app.use('/flaky-post', gw.gateway.web('flaky-post'));
    gw.app.use('/hole', gw.gateway.web('hole', { connectTimeoutMs: CONNECT_MS }));
    gw.app.use('/hole-only', gw.gateway.web('hole-only', { connectTimeoutMs: CONNECT_MS }));
    const gone = gw.gateway.web('gone');
    gw.app.use('/gone', gone);
    // A route with a `path`: gw.attach hands it the upgrades under that path.
    gw.app.use('/live', gw.gateway.web('wiki', { path: '/live' }));
    http = gw.app.listen(0, '127.0.0.1');
    await once(http, 'listening');
    gw.gateway.attach(http);
    // The routes without a path get their upgrades from the host, by hand.
    http.on('upgrade', (req, socket, head) => {
      if (req.url?.startsWith('/wiki/')) wiki.upgrade(req, socket, head);
      else if (req.url?.startsWith('/gone/')) gone.upgrade(req, socket, head);
      else if (!req.url?.startsWith('/live')) socket.destroy();
    });
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    tokens.alice = await logIn('alice', 'alice-pw');
    tokens.bob = await logIn('bob', 'bob-pw');
  });

  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await gw.close();
    await general.close();
    await own.close();
    await silent.close();
    await resetting.close();
    await hole.close();
  });

  test('a request from a user the rules allow reaches the server below the mount path, and is recorded once when it ends', async () => {
    const before = records('wiki').length;
    const reply = await request(base).get('/wiki/page?q=1').set(bearer('bob')).expect(200);
    const seen = reply.body as Seen;
    expect(seen).toMatchObject({ server: 'general', method: 'GET', url: '/page?q=1' });
    // changeOrigin: the server is asked for by its own name; the client is named in X-Forwarded-*.
    expect(seen.headers.host).toBe(`127.0.0.1:${general.port}`);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(base).host);
    expect(seen.headers['x-roamgate-user']).toBe('bob');
    await until(() => records('wiki').length > before, 'the request recorded');
    expect(records('wiki').slice(before)).toHaveLength(1);
    const [record] = records('wiki').slice(before);
    expect(record).toMatchObject({
      service: 'wiki',
      identity: 'bob',
      client: '127.0.0.1',
      server: `127.0.0.1:${general.port}`,
      outcome: 'relayed',
      status: 200,
    });
    expect(record.bytesFromClient).toBeGreaterThan(50);
    expect(record.bytesFromServer).toBeGreaterThan(reply.text.length);
  });

  test('refusals: a browser goes to the login page, a program gets 401, a user without the right 403; no server hears of them', async () => {
    const heard = general.seen.length;
    const browser = await request(base).get('/wiki/page?q=1').set('Accept', 'text/html,application/xhtml+xml').expect(303);
    expect(browser.headers.location).toBe(`/roamgate/login?return=${encodeURIComponent('/wiki/page?q=1')}`);
    const program = await request(base).get('/wiki/page').set('Accept', 'application/json').expect(401);
    expect(program.body).toEqual({ error: expect.any(String) });
    await request(base).get('/docs/x').set(bearer('bob')).expect(403);
    await request(base).get('/wiki/page').set('Authorization', 'Bearer not-a-lease-token').expect(401);
    expect(general.seen.length).toBe(heard);
    await until(() => records('docs').some((entry) => entry.outcome === 'refused'), 'the refusal of bob on docs recorded');
    expect(records('docs').find((entry) => entry.outcome === 'refused')).toMatchObject({ identity: 'bob', status: 403 });
    expect(
      records('wiki')
        .filter((entry) => entry.outcome === 'refused')
        .map((entry) => entry.status),
    ).toEqual([303, 401, 401]);
  });

  test("forged X-Roamgate-* headers never reach the server; the gateway's own are set, attributes encoded and sorted", async () => {
    const forged = {
      'X-Roamgate-User': 'root',
      'x-roamgate-attributes': 'role=admin',
      'X-ROAMGATE-Anything': 'set by the client',
      'X-Roamgate-Assertion': 'v1.forged.forged',
    };
    const alice = (await request(base).get('/wiki/').set(bearer('alice')).set(forged).expect(200)).body as Seen;
    // alice's own server (a `for: user:alice` entry), not the general one.
    expect(alice.server).toBe('alice-own');
    expect(alice.headers['x-roamgate-user']).toBe('alice');
    expect(alice.headers['x-roamgate-attributes']).toBe('department=sales%20%26%20marketing&floor=3');
    expect(alice.headers['x-roamgate-anything']).toBeUndefined();
    expect(alice.headers['x-roamgate-assertion']).not.toBe(forged['X-Roamgate-Assertion']);

    const anonymous = (await request(base).get('/public/').set(forged).expect(200)).body as Seen;
    expect(Object.keys(anonymous.headers).filter((name) => name.startsWith('x-roamgate-'))).toEqual(['x-roamgate-assertion']);
    expect(verifyAssertion(String(anonymous.headers['x-roamgate-assertion']), SECRET, { audience: 'public' })).toEqual({
      attributes: {},
      audience: 'public',
      expiresAt: expect.any(Number),
    });
  });

  test('the assertion verifies with the secret for its service; tampered, for another service or after a minute it does not', async () => {
    const seen = (await request(base).get('/wiki/').set(bearer('alice')).expect(200)).body as Seen;
    const assertion = String(seen.headers['x-roamgate-assertion']);
    const verified = verifyAssertion(assertion, SECRET, { audience: 'wiki' });
    expect(verified).toEqual({
      user: 'alice',
      attributes: { department: 'sales & marketing', floor: '3' },
      audience: 'wiki',
      expiresAt: expect.any(Number),
    });
    expect(verified!.expiresAt - Date.now()).toBeLessThanOrEqual(60_000);
    expect(verifyAssertion(assertion, SECRET, { audience: 'public' })).toBeUndefined();
    expect(verifyAssertion(assertion, SECRET, { audience: 'wiki', now: verified!.expiresAt })).toBeUndefined();
    const at = Math.floor(assertion.length / 2);
    const tampered = assertion.slice(0, at) + (assertion[at] === 'A' ? 'B' : 'A') + assertion.slice(at + 1);
    expect(verifyAssertion(tampered, SECRET, { audience: 'wiki' })).toBeUndefined();
  });

  test("roamgate's cookies and the lease token never reach the server; the host's own credentials do", async () => {
    const cookie = `theme=dark; roamgate.lease=${tokens.alice}; roamgate.sid=s%3Aabc.def; lang=en`;
    const byCookie = (await request(base).get('/wiki/').set('Cookie', cookie).expect(200)).body as Seen;
    expect(byCookie.headers['x-roamgate-user']).toBe('alice');
    expect(byCookie.headers.cookie).toBe('theme=dark; lang=en');
    const onlyOurs = (await request(base).get('/wiki/').set('Cookie', `roamgate.lease=${tokens.alice}`).expect(200)).body as Seen;
    expect(onlyOurs.headers.cookie).toBeUndefined();
    const byBearer = (await request(base).get('/wiki/').set(bearer('alice')).expect(200)).body as Seen;
    expect(byBearer.headers.authorization).toBeUndefined();
    expect(JSON.stringify(byBearer.headers)).not.toContain(tokens.alice);
    const basic = (await request(base).get('/public/').set('Authorization', 'Basic dXNlcjpwdw==').expect(200)).body as Seen;
    expect(basic.headers.authorization).toBe('Basic dXNlcjpwdw==');
  });

  test("a JSON body the host's parser read reaches the server intact", async () => {
    const payload = { title: 'Grüße', items: [1, 2, 3], nested: { ok: true } };
    const seen = (await request(base).post('/api/items').set(bearer('bob')).send(payload).expect(200)).body as Seen;
    expect(seen).toMatchObject({ server: 'general', method: 'POST', url: '/items' });
    expect(JSON.parse(seen.body)).toEqual(payload);
    expect(Number(seen.headers['content-length'])).toBe(Buffer.byteLength(seen.body));
    // Without a parser the body streams through untouched.
    const raw = '{"kept":"as sent" }';
    const streamed = (
      await request(base).post('/wiki/raw').set(bearer('bob')).set('Content-Type', 'application/json').send(raw).expect(200)
    ).body as Seen;
    expect(streamed.body).toBe(raw);
  });

  test('a server that refuses connections is passed over for the next; one with a body is not sent again; none left: 502', async () => {
    const heard = general.seen.length;
    const seen = (await request(base).get('/docs/page').set(bearer('alice')).expect(200)).body as Seen;
    expect(seen).toMatchObject({ server: 'general', url: '/page' });
    await until(() => records('docs').some((entry) => entry.outcome === 'relayed'), 'the docs request recorded');
    expect(records('docs').find((entry) => entry.outcome === 'relayed')).toMatchObject({
      server: `127.0.0.1:${general.port}`,
      status: 200,
    });

    const post = await request(base)
      .post('/upload/file')
      .set(bearer('alice'))
      .set('Content-Type', 'text/plain')
      .send('payload')
      .expect(502);
    expect(post.body).toEqual({ error: 'upload service unavailable: could not reach the server' });
    expect(general.seen.length).toBe(heard + 1);
    await until(() => records('upload').length === 1, 'the upload request recorded');
    expect(records('upload')[0]).toMatchObject({ outcome: 'unreachable', status: 502, reason: post.body.error });
  });

  test('no server that answers, or none at all: 502 with the reason, as JSON or as text for a browser', async () => {
    const json = await request(base).get('/gone/x').set(bearer('alice')).expect(502);
    expect(json.body).toEqual({ error: 'gone service unavailable: could not reach the server' });
    const html = await request(base).get('/gone/x').set(bearer('alice')).set('Accept', 'text/html').expect(502);
    expect(html.headers['content-type']).toMatch(/^text\/plain/);
    expect(html.text).toBe('gone service unavailable: could not reach the server\n');
    const none = await request(base).get('/nowhere/x').set(bearer('alice')).expect(502);
    expect(none.body).toEqual({ error: 'no server for nowhere' });
    await until(() => records('nowhere').length === 1, 'the nowhere request recorded');
    expect(records('nowhere')[0]).toMatchObject({ outcome: 'unreachable', status: 502, reason: 'no server for nowhere' });
  });

  test('WebSockets go through upgrade(): guarded, identified upstream, echoed, recorded; a revoked lease cuts them', async () => {
    expect(await openSocket(`${base.replace('http', 'ws')}/wiki/ws`)).toEqual({ refused: 401 });
    expect(await openSocket(`${base.replace('http', 'ws')}/gone/ws`, bearer('alice'))).toEqual({ refused: 502 });

    const before = records('wiki').length;
    const opened = await openSocket(`${base.replace('http', 'ws')}/wiki/ws`, {
      ...bearer('bob'),
      Cookie: `roamgate.lease=${tokens.bob}; theme=dark`,
      'X-Roamgate-User': 'root',
    });
    if (!('socket' in opened)) throw new Error(`upgrade refused with ${opened.refused}`);
    const seen = JSON.parse(opened.first) as Seen;
    expect(seen).toMatchObject({ server: 'general', url: '/wiki/ws' });
    expect(seen.headers['x-roamgate-user']).toBe('bob');
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.cookie).toBe('theme=dark');
    expect(verifyAssertion(String(seen.headers['x-roamgate-assertion']), SECRET, { audience: 'wiki' })?.user).toBe('bob');
    opened.socket.send('ping over the proxy');
    const [echo] = await once(opened.socket, 'message');
    expect(String(echo)).toBe('echo: ping over the proxy');

    // bob logs out: his lease ends, and with it the open WebSocket.
    const closed = once(opened.socket, 'close');
    const logout = await send(`${base}/roamgate/logout`, { method: 'POST', headers: bearer('bob'), localAddress: LOGIN_ADDRESS });
    expect(logout.status).toBe(204);
    await closed;
    await until(() => records('wiki').length > before, 'the WebSocket recorded when it closed');
    const [record] = records('wiki')
      .slice(before)
      .filter((entry: ConnectionRecord) => entry.status === 101);
    expect(record).toMatchObject({ identity: 'bob', outcome: 'relayed', server: `127.0.0.1:${general.port}` });
    expect(record.bytesFromServer).toBeGreaterThan(0);
    expect(record.reason).toEqual(expect.stringMatching(/revoked|logout|ended/));
  });

  test('a server silent for longer than timeoutMs: 504, recorded as unreachable', async () => {
    const reply = await request(base).get('/slow/x').set(bearer('alice')).expect(504);
    expect(reply.body).toEqual({ error: 'slow service unavailable: the server did not answer in time' });
    await until(() => records('slow').length === 1, 'the slow request recorded');
    expect(records('slow')[0]).toMatchObject({ outcome: 'unreachable', status: 504, server: `127.0.0.1:${silent.port}` });
  });

  test('a server that resets after reading the request: a GET goes on to the next server, a POST (even bodyless) does not', async () => {
    const seen = (await request(base).get('/flaky-get/x').set(bearer('alice')).expect(200)).body as Seen;
    expect(seen).toMatchObject({ server: 'general', url: '/x' });
    const heard = general.seen.length;
    const post = await request(base).post('/flaky-post/x').set(bearer('alice')).expect(502);
    expect(post.body).toEqual({ error: 'flaky-post service unavailable: could not reach the server' });
    expect(general.seen.length).toBe(heard);
  });

  test('WebSockets through gw.attach: upgrades under the route path reach the server with the path taken off', async () => {
    const opened = await openSocket(`${base.replace('http', 'ws')}/live/ws?room=1`, bearer('alice'));
    if (!('socket' in opened)) throw new Error(`upgrade refused with ${opened.refused}`);
    expect(JSON.parse(opened.first)).toMatchObject({ server: 'alice-own', url: '/ws?room=1' });
    opened.socket.send('through attach');
    const [echo] = await once(opened.socket, 'message');
    expect(String(echo)).toBe('echo: through attach');
    opened.socket.close();
    expect(await openSocket(`${base.replace('http', 'ws')}/live/ws`)).toEqual({ refused: 401 });
  });

  test('a server that never answers the connect: after connectTimeoutMs the next one is tried; with none left, 504', async () => {
    const since = Date.now();
    const seen = (await request(base).post('/hole/x').set(bearer('alice')).expect(200)).body as Seen;
    expect(Date.now() - since).toBeGreaterThanOrEqual(CONNECT_MS - 20);
    // Even a POST (bodyless) goes on: never connected, the black-holed server saw nothing of it.
    expect(seen).toMatchObject({ server: 'general', method: 'POST', url: '/x' });
    const failed = await request(base).get('/hole-only/x').set(bearer('alice')).expect(504);
    expect(failed.body).toEqual({ error: 'hole-only service unavailable: the server did not answer in time' });
    await until(() => records('hole-only').length === 1, 'the hole-only request recorded');
    expect(records('hole-only')[0]).toMatchObject({ outcome: 'unreachable', status: 504, server: `127.0.0.1:${hole.port}` });
  });
});
