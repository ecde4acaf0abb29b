import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalProxyNotice } from '../../local/proxy-notices';
import { startLocalProxy, type LocalProxy } from '../../local/local-proxy';
import { generateGatewayKey, parseQuery, signAnswer } from '../../protocols/discovery-message';
import { idle, until } from '../helpers/until';

/**
 * The local proxy against gateways that answer oddly: it must neither flood
 * them with requests nor hand one gateway's lease token to another.
 */

jest.setTimeout(20_000);

const ALL_EPHEMERAL = { smtp: 0, pop3: 0, imap: 0, nntp: 0, 'http-proxy': 0, pac: 0 };
/**
 * networkPollMs 0: these tests count attempts, and network namespaces that other suites create at the same time
 * would look like this machine's network changing (each change makes an attempt at once).
 */
const LIMITS = { reconnectMinMs: 100, reconnectMaxMs: 400, connectTimeoutMs: 2_000, requestTimeoutMs: 2_000, networkPollMs: 0 };

interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
}

/** What the fake gateway answers to /events. */
type EventsAnswer = 'stream' | 401 | 503;

/** A hand-made gateway API: /discover, /login, /leases, /events, renew, recording every request. */
async function fakeGateway(label: string, options: { events: EventsAnswer; expiresAt?: string; leasesStatus?: number }) {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const path = (req.url ?? '').replace(/^\/roamgate/, '').split('?')[0]!;
      seen.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const expiresAt = options.expiresAt ?? new Date(Date.now() + 3_600_000).toISOString();
      if (path === '/discover') return json(200, { mode: 'gateway', services: {} });
      if (path === '/login')
        return json(201, { token: `${label}-secret-token-${seen.length}`, lease: { id: `${label}-lease`, userId: 'alice', expiresAt } });
      if (path === '/leases') return json(options.leasesStatus ?? 200, { leases: [] });
      if (/^\/leases\/[^/]+\/renew$/.test(path)) return json(200, { lease: { expiresAt } });
      if (path === '/events') {
        if (options.events !== 'stream') return json(options.events, { error: 'refused' });
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': hello\n\n');
        return;
      }
      json(404, { error: 'no such route' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/roamgate`,
    seen,
    count: (method: string, path: string | RegExp) =>
      seen.filter((entry) => entry.method === method && (typeof path === 'string' ? entry.path === path : path.test(entry.path))).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the local proxy and a misbehaving gateway', () => {
  let proxy: LocalProxy | undefined;
  const closers: Array<() => Promise<void> | void> = [];
  const notices: string[] = [];
  const onEvent = (notice: LocalProxyNotice) => void notices.push(notice.text);
  const stateDir = () => mkdtempSync(join(tmpdir(), 'roamgate-odd-gateway-'));
  /** A local proxy for alice at the gateway at `url`, with short retry waits. */
  const startAt = (url: string) =>
    startLocalProxy({
      gateway: url,
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: stateDir(),
      limits: LIMITS,
      onEvent,
    });

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    for (const close of closers.splice(0)) await close();
    notices.length = 0;
  });

  test('an event stream refused (401) even to a fresh lease: logins back off instead of looping, and the user is told once', async () => {
    const gateway = await fakeGateway('A', { events: 401 });
    closers.push(gateway.close);
    proxy = await startAt(gateway.url);
    await idle(2_500, 'the assertion is how many logins a fixed span holds (the local proxy backs off on its own timers)');
    // Waits of 100, 200, 400, 400, ... ms: a handful of logins, not hundreds.
    expect(gateway.count('POST', '/login')).toBeGreaterThanOrEqual(2);
    expect(gateway.count('POST', '/login')).toBeLessThanOrEqual(10);
    expect(notices.filter((text) => text.includes('refuses its event stream even to a fresh lease'))).toHaveLength(1);
  });

  test('an event stream that fails at once (503) after every recovery: the waits keep growing', async () => {
    const gateway = await fakeGateway('A', { events: 503 });
    closers.push(gateway.close);
    proxy = await startAt(gateway.url);
    await idle(2_500, 'the assertion is how many stream attempts a fixed span holds (the waits between them grow)');
    expect(gateway.count('GET', '/events')).toBeGreaterThanOrEqual(2);
    expect(gateway.count('GET', '/events')).toBeLessThanOrEqual(8);
  });

  test('a lease whose expiry is not a date is a broken answer, not a renewal every millisecond', async () => {
    const gateway = await fakeGateway('A', { events: 'stream', expiresAt: 'soon' });
    closers.push(gateway.close);
    const failure = await startAt(gateway.url).catch((error: unknown) => error as Error);
    if (!(failure instanceof Error)) proxy = failure;
    await idle(500, 'no renewal may follow the broken answer');
    expect(gateway.count('POST', /\/renew$/)).toBe(0);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/sent a login answer this local proxy does not understand/);
  });

  test("moving to another network: the first gateway's lease token is never sent to the second; the proxy logs in there afresh", async () => {
    const first = await fakeGateway('A', { events: 'stream' });
    const second = await fakeGateway('B', { events: 'stream', leasesStatus: 401 });
    closers.push(second.close);
    const keys = { A: generateGatewayKey(), B: generateGatewayKey() };
    let answering = { name: 'home-lan', key: keys.A, url: first.url };
    const responder: UdpSocket = createSocket('udp4');
    responder.on('message', (data, from) => {
      const query = parseQuery(data);
      if (query)
        responder.send(
          JSON.stringify(
            signAnswer(answering.key.privateKeyPem, { name: answering.name, url: answering.url, nonce: query.nonce, issuedAt: Date.now() }),
          ),
          from.port,
          from.address,
        );
    });
    await new Promise<void>((resolve) => responder.bind(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => responder.close(() => resolve())));

    proxy = await startLocalProxy({
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: stateDir(),
      limits: LIMITS,
      discovery: { port: responder.address().port, addresses: ['127.0.0.1'], mdns: false, windowMs: 300 },
      onEvent,
    });
    await until(() => first.count('GET', '/events') > 0, 'the event stream at the first gateway');
    const firstToken = first.seen.find((entry) => entry.path === '/events')!.authorization;
    expect(firstToken).toMatch(/^Bearer A-secret-token-/);

    // The laptop moves: the first gateway is gone, another network's gateway answers discovery.
    answering = { name: 'cafe-lan', key: keys.B, url: second.url };
    await first.close();
    await until(() => second.count('GET', '/events') > 0, 'the event stream at the second gateway', 10_000);

    expect(second.seen.filter((entry) => entry.authorization === firstToken)).toEqual([]);
    expect(second.seen.some((entry) => (entry.authorization ?? '').includes('A-secret-token'))).toBe(false);
    expect(second.count('POST', '/login')).toBe(1);
    expect(second.seen.find((entry) => entry.path === '/events')?.authorization).toMatch(/^Bearer B-secret-token-/);
  });
});
