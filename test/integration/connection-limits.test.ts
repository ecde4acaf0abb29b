import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Adapter } from '../../adapters/adapter';
import type { ConnectionRecord, GatewayContext } from '../../adapters/gateway-context';
import { HttpProxyAdapter } from '../../adapters/http-proxy-adapter';
import type { LineAdapterOptions } from '../../adapters/line-adapter';
import { pop3Adapter } from '../../adapters/pop3-adapter';
import { smtpAdapter } from '../../adapters/smtp-adapter';
import { tunnelEndpoint, type TunnelCaps } from '../../adapters/tunnel-endpoint';
import type { Identity } from '../../identity';
import { parseAllowRule } from '../../protocols/http/allowlist';
import type { ServerInfo } from '../../server-info';
import { listenTcp, RawClient } from '../helpers/net';
import { until } from '../helpers/until';

// The limits under test are adapter options with defaults the plugin options do not expose yet,
// so the adapters are built here directly, around a gateway context that lets everyone through.

type TestContext = GatewayContext & { records: ConnectionRecord[] };

function openContext(servers: ServerInfo[] = [], overrides: Partial<GatewayContext> = {}): TestContext {
  const records: ConnectionRecord[] = [];
  return {
    records,
    identify: (socket) => ({ kind: 'anonymous', address: socket.remoteAddress ?? '' }),
    authorize: () => ({ allow: true, reason: 'open for the test' }),
    resolve: async () => servers,
    reportHealth: () => undefined,
    record: (entry) => void records.push(entry),
    ownPorts: () => new Set<number>(),
    verifyLogin: async () => ({ ok: false, reason: 'no logins in this test' }),
    track: () => () => undefined,
    ...overrides,
  };
}

const RELAY = { connectTimeoutMs: 2000, idleTimeoutMs: 60_000 };
const opened: Array<{ close(): Promise<void> }> = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

async function started(adapter: Adapter): Promise<number> {
  const [bound] = await adapter.listen();
  opened.push({ close: () => adapter.close(0) });
  return bound.address.port;
}

async function client(port: number, localAddress?: string): Promise<RawClient & { gone: () => boolean }> {
  const raw = await RawClient.open(port, localAddress);
  let gone = false;
  void raw.closed.then(() => (gone = true));
  clients.push(raw);
  return Object.assign(raw, { gone: () => gone });
}

/** A server that greets like a mail server and then says nothing. */
async function greetingServer(): Promise<ServerInfo> {
  const server = await listenTcp((socket) => socket.write('220 upstream ready\r\n'));
  opened.push(server);
  return { host: '127.0.0.1', port: server.port, priority: 10 };
}

describe('web proxy: an absolute deadline for each request head (408)', () => {
  const proxyOptions = {
    host: '127.0.0.1',
    port: 0,
    maxClients: 10,
    maxHeaderBytes: 16 * 1024,
    allow: [],
    headersTimeoutMs: 300,
    ...RELAY,
  };

  test('a head trickled in byte by byte is answered 408 at the deadline and closed, long before the idle timeout', async () => {
    const port = await started(new HttpProxyAdapter(proxyOptions, openContext()));
    const slow = await client(port);
    const start = Date.now();
    slow.send('GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nX-Slow: ');
    const trickle = setInterval(() => slow.socket.writable && slow.send('x'), 50);
    try {
      await until(slow.gone, 'the gateway to close the slow client', 3000);
    } finally {
      clearInterval(trickle);
    }
    expect(slow.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*request head not complete within 300 ms\n$/);
    expect(Date.now() - start).toBeLessThan(2000);
  });

  test('the deadline does not run while a request is served; it starts again for the next head on the connection', async () => {
    const origin: Server = createServer((req, res) => setTimeout(() => res.end(`slow ${req.url}\n`), 600));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    opened.push({ close: () => new Promise<void>((resolve) => (origin.closeAllConnections(), origin.close(() => resolve()))) });
    const originPort = (origin.address() as AddressInfo).port;
    const allow = [parseAllowRule(`127.0.0.1:${originPort}`)];
    const port = await started(new HttpProxyAdapter({ ...proxyOptions, allow }, openContext()));
    const browser = await client(port);
    const get = (path: string) =>
      browser.send(`GET http://127.0.0.1:${originPort}${path} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
    get('/first');
    await browser.waitFor((text) => text.includes('slow /first\n'));
    get('/second');
    await browser.waitFor((text) => text.includes('slow /second\n'));
    expect(browser.received).not.toMatch(/ 408 /);
    // Idle after its second response: the next head's deadline runs out.
    await until(browser.gone, 'the idle keep-alive connection to be closed at the deadline', 3000);
    expect(browser.received).toMatch(/HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*\n$/);
  });
});

describe('in-protocol login: an absolute deadline for the whole pre-login dialogue', () => {
  const loginOptions = (preLoginDeadlineMs: number): LineAdapterOptions => ({
    host: '127.0.0.1',
    port: 0,
    maxClients: 10,
    ...RELAY,
    login: {
      allowCleartext: true,
      pipelining: false,
      preLoginIdleMs: 5000,
      preLoginDeadlineMs,
      maxLineLength: 2048,
      maxUnauthenticatedCommands: 20,
      maxLoginAttempts: 3,
      hostname: 'gateway.test',
    },
  });
  const loginFirst = () => openContext([], { authorize: () => ({ allow: false, reason: 'log in first' }) });

  test.each([
    ['smtp', smtpAdapter, /^220 [^\r]*\r\n421 4\.4\.2 login not completed within 300 ms\r\n$/],
    ['pop3', pop3Adapter, /^\+OK [^\r]*\r\n-ERR \[SYS\/TEMP\] login not completed within 300 ms\r\n$/],
  ] as const)('%s: a client that keeps sending a byte at a time is refused and closed at the deadline', async (_name, build, refusal) => {
    const context = loginFirst();
    const port = await started(build(loginOptions(300), context));
    const slow = await client(port);
    await slow.waitFor((text) => text.includes('\r\n'));
    const start = Date.now();
    const trickle = setInterval(() => slow.socket.writable && slow.send('x'), 50);
    try {
      await until(slow.gone, 'the gateway to close the slow client', 3000);
    } finally {
      clearInterval(trickle);
    }
    expect(slow.received).toMatch(refusal);
    expect(Date.now() - start).toBeLessThan(2000);
    await until(() => context.records.length === 1, 'the record');
    expect(context.records[0]).toMatchObject({ outcome: 'refused', reason: 'not logged in within 300 ms' });
  });
});

describe('per-address connection cap on a listener', () => {
  const lineOptions = (extra: Partial<LineAdapterOptions>): LineAdapterOptions => ({
    host: '127.0.0.1',
    port: 0,
    maxClients: 10,
    ...RELAY,
    ...extra,
  });

  test('past maxClientsPerAddress one address is refused in the protocol, other addresses are not, and a freed place is taken again', async () => {
    const port = await started(
      smtpAdapter(lineOptions({ maxClientsPerAddress: 2, loopbackExempt: false }), openContext([await greetingServer()])),
    );
    const first = await client(port);
    const second = await client(port);
    await first.waitFor((text) => text.includes('220 upstream'));
    await second.waitFor((text) => text.includes('220 upstream'));
    const third = await client(port);
    await third.closed;
    expect(third.received).toBe('421 4.3.2 too many connections from your address (limit 2), try again later\r\n');
    const elsewhere = await client(port, '127.0.0.2');
    await elsewhere.waitFor((text) => text.includes('220 upstream'));
    first.close();
    await until(async () => {
      const again = await client(port);
      await until(() => again.received.includes('\r\n'), 'an answer');
      return again.received.includes('220 upstream');
    }, 'the freed place to be taken again');
  });

  test('loopback clients are exempt unless loopbackExempt is false (the default keeps a front proxy on loopback working)', async () => {
    const port = await started(smtpAdapter(lineOptions({ maxClientsPerAddress: 1 }), openContext([await greetingServer()])));
    const local = await Promise.all([client(port), client(port), client(port)]);
    for (const each of local) await each.waitFor((text) => text.includes('220 upstream'));
  });

  test('the web proxy answers 503 past the cap', async () => {
    const options = {
      host: '127.0.0.1',
      port: 0,
      maxClients: 10,
      maxHeaderBytes: 16 * 1024,
      allow: [],
      maxClientsPerAddress: 1,
      loopbackExempt: false,
      ...RELAY,
    };
    const port = await started(new HttpProxyAdapter(options, openContext()));
    await client(port);
    const second = await client(port);
    await second.closed;
    expect(second.received).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*too many connections from your address \(limit 1\)\n$/);
  });
});

describe('tunnel endpoint caps (503)', () => {
  /** Any token `lease-<name>` is a lease of user <name>. */
  const identityOfToken = (token: string, address: string): Identity | undefined =>
    token.startsWith('lease-') ? { kind: 'user', address, user: { id: token.slice(6), attributes: {} }, leaseId: token } : undefined;

  async function endpoint(caps: Partial<TunnelCaps>): Promise<number> {
    const upstream = await greetingServer();
    const handle = tunnelEndpoint({ context: openContext([upstream]), identityOfToken, limits: RELAY, caps });
    const server = createServer();
    server.on('connect', (req, socket: Socket, head: Buffer) => handle(req, socket, head) || socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    opened.push({ close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) });
    return (server.address() as AddressInfo).port;
  }

  async function tunnel(port: number, token: string, localAddress?: string): Promise<RawClient & { gone: () => boolean }> {
    const opening = await client(port, localAddress);
    opening.send(`CONNECT smtp.roamgate:1 HTTP/1.1\r\nHost: smtp.roamgate:1\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`);
    await opening.waitFor((text) => text.includes('220 upstream') || /^HTTP\/1\.1 [45]/.test(text));
    return opening;
  }

  const relayed = (opening: RawClient) => expect(opening.received).toMatch(/^HTTP\/1\.1 200 Tunnel established\r\n\r\n220 upstream/);
  const refused = async (opening: RawClient, text: string) => {
    await opening.closed;
    expect(opening.received).toMatch(new RegExp(`^HTTP/1\\.1 503 Service Unavailable\\r\\n[\\s\\S]*${text}, try again later\\n$`));
  };

  test('per lease and in all; a closed tunnel gives its place back', async () => {
    const port = await endpoint({ maxTunnels: 3, maxTunnelsPerLease: 2 });
    const [a1, a2] = [await tunnel(port, 'lease-alice'), await tunnel(port, 'lease-alice')];
    relayed(a1);
    relayed(a2);
    await refused(await tunnel(port, 'lease-alice'), 'too many tunnels open on this lease \\(limit 2\\)');
    relayed(await tunnel(port, 'lease-bob'));
    await refused(await tunnel(port, 'lease-carol'), 'too many tunnels open \\(limit 3\\)');
    a1.close();
    await until(async () => (await tunnel(port, 'lease-carol')).received.includes('220 upstream'), 'the freed place to be taken again');
  });

  test('per address, loopback included when not exempt', async () => {
    const port = await endpoint({ maxTunnelsPerAddress: 1, loopbackExempt: false });
    relayed(await tunnel(port, 'lease-alice'));
    await refused(await tunnel(port, 'lease-bob'), 'too many tunnels open from your address \\(limit 1\\)');
    relayed(await tunnel(port, 'lease-bob', '127.0.0.2'));
  });
});
