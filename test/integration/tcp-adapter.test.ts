import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import { startLocalProxy, type LocalProxy } from '../../local/local-proxy';
import { REFUSAL_LINGER_MS } from '../../net/last-word';
import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp, RawClient, refusedPort } from '../helpers/net';
import { until } from '../helpers/until';

jest.setTimeout(20_000);

/**
 * Generic TCP adapters (`adapters.tcp.<name>`) with real clients: a
 * telnet-style line service (python's telnetlib, raw sockets) and an HTTP
 * server (curl), chosen by arrival port, identified by the lease on the
 * client's address, authorized, resolved per user, relayed byte for byte; a
 * refusal is the configured line and a close. And the local proxy forwarding
 * a service it does not speak, through the gateway's tunnel and directly.
 */

const dir = mkdtempSync(join(tmpdir(), 'roamgate-tcp-'));
/** Each terminal on its own loopback address, so that address-bound leases tell them apart. */
const ALICE = '127.0.0.2';
const BOB = '127.0.0.3';
const STRANGER = '127.0.0.4';
const CAROL = '127.0.0.5';

/** A telnet-style line service: greets with its name, answers each line with `<name>: <line>`; `quit` says bye and closes. */
async function startLineService(name: string) {
  const connections = { count: 0 };
  const server = await listenTcp((socket) => {
    connections.count++;
    socket.write(`${name} ready\r\n`);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let at = buffer.indexOf('\n'); at !== -1; at = buffer.indexOf('\n')) {
        const line = buffer.slice(0, at).replace(/\r$/, '');
        buffer = buffer.slice(at + 1);
        if (line === 'quit') return void socket.end(`${name}: bye\r\n`);
        socket.write(`${name}: ${line}\r\n`);
      }
    });
  });
  return { ...server, connections };
}

/** An HTTP server (node's http): GET answers who it is and what was asked; POST echoes the body. */
async function startHttpServer(name: string): Promise<{ port: number; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.setHeader('X-Served-By', name);
      res.end(req.method === 'POST' ? Buffer.concat(chunks) : `hello from ${name}: ${req.method} ${req.url}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 15_000, encoding: 'buffer', maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() }),
    );
  });
}

/** python's telnetlib from `source`: reads the first line, then sends each line and reads one answer, then reads to the close. */
const TELNET_CLIENT = `
import json, socket, sys, telnetlib
host, port, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
session = telnetlib.Telnet()
session.sock = socket.create_connection((host, port), 5, source_address=(source, 0))
first = session.read_until(b'\\r\\n', 5).decode()
answers = []
for line in sys.argv[4:]:
    session.write(line.encode() + b'\\r\\n')
    answers.append(session.read_until(b'\\r\\n', 5).decode())
print(json.dumps({'first': first, 'answers': answers, 'rest': session.read_all().decode()}))
`;

type TelnetSession = { first: string; answers: string[]; rest: string };

async function telnet(port: number, source: string, ...lines: string[]): Promise<TelnetSession> {
  const result = await run('python3', ['-W', 'ignore', '-c', TELNET_CLIENT, '127.0.0.1', String(port), source, ...lines]);
  if (result.code !== 0) throw new Error(`telnetlib client failed: ${result.stderr}`);
  return JSON.parse(result.stdout.toString()) as TelnetSession;
}

/** curl from `source`; never throws. */
function curl(source: string, args: string[]) {
  return run('curl', ['-sS', '--max-time', '10', '--noproxy', '*', '--interface', source, ...args]);
}

/** POST /login from `address`: a lease bound to that address. */
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
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
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

/** The first record of `identity` after `mark` (an earlier test's relay may be recorded in between: relays are recorded when they end). */
async function recordOf(gw: TestGateway, mark: number, identity: string): Promise<ConnectionRecord> {
  const find = () =>
    gw.logger
      .records()
      .slice(mark)
      .find((record) => record.identity === identity);
  await until(() => find() !== undefined, `a record of ${identity}`);
  return find()!;
}

let users: RoamgateOptions['users'];
beforeAll(async () => {
  users = [
    { id: 'alice', passwordHash: await hashPassword('alice-pw') },
    { id: 'bob', passwordHash: await hashPassword('bob-pw') },
    { id: 'carol', passwordHash: await hashPassword('carol-pw') },
  ];
});

const RULES: RoamgateOptions['access'] = [
  { subject: 'user:alice', service: '*', allow: true },
  { subject: 'user:bob', service: '*', allow: true },
  // carol may use the web service only, so she gets a lease but no line service.
  { subject: 'user:carol', service: 'web', allow: true },
  { subject: 'anonymous', service: 'echo', allow: false, reason: 'log in at the gateway first' },
];

describe('a generic TCP adapter in front of a telnet-style line service', () => {
  let gw: TestGateway;
  let alices: Awaited<ReturnType<typeof startLineService>>;
  let general: Awaited<ReturnType<typeof startLineService>>;

  beforeAll(async () => {
    alices = await startLineService('alice-echo');
    general = await startLineService('echo');
    gw = await startGateway(
      {
        users,
        access: RULES,
        servers: {
          echo: [
            { host: '127.0.0.1', port: alices.port, for: 'user:alice' },
            { host: '127.0.0.1', port: general.port },
          ],
        },
        adapters: { tcp: { echo: { port: 0, refusal: 'roamgate: {reason}' }, quiet: { port: 0 } } },
      },
      true,
    );
    expect(await loginFrom(gw, ALICE, 'alice')).toBe(201);
    expect(await loginFrom(gw, BOB, 'bob')).toBe(201);
  });

  afterAll(async () => {
    await gw?.close();
    await alices?.close();
    await general?.close();
  });

  test("telnetlib: alice reaches her own server, bob the general one; the server's own words, untouched", async () => {
    const mark = gw.logger.records().length;
    const alice = await telnet(gw.ports.echo, ALICE, 'hello', 'quit');
    expect(alice).toEqual({ first: 'alice-echo ready\r\n', answers: ['alice-echo: hello\r\n', 'alice-echo: bye\r\n'], rest: '' });
    const bob = await telnet(gw.ports.echo, BOB, 'hi there', 'quit');
    expect(bob).toEqual({ first: 'echo ready\r\n', answers: ['echo: hi there\r\n', 'echo: bye\r\n'], rest: '' });
    await gw.logger.waitForRecords(mark + 2);
    expect(gw.logger.records().slice(mark)).toEqual([
      expect.objectContaining({ service: 'echo', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${alices.port}` }),
      expect.objectContaining({ service: 'echo', identity: 'bob', outcome: 'relayed', server: `127.0.0.1:${general.port}` }),
    ]);
    const [aliceRecord] = gw.logger.records().slice(mark);
    expect(aliceRecord.bytesFromClient).toBe('hello\r\nquit\r\n'.length);
    expect(aliceRecord.bytesFromServer).toBe('alice-echo ready\r\nalice-echo: hello\r\nalice-echo: bye\r\n'.length);
  });

  test('a raw socket that speaks first: what it sent before the server was reached waits for it, in order', async () => {
    const client = await RawClient.open(gw.ports.echo, BOB);
    client.send('one\r\ntwo\r\n');
    await client.waitFor((text) => text.endsWith('echo: two\r\n'));
    expect(client.received).toBe('echo ready\r\necho: one\r\necho: two\r\n');
    client.send('quit\r\n');
    await client.closed;
  });

  test('an anonymous client is refused with the configured line and closed; no server is reached', async () => {
    const mark = gw.logger.records().length;
    const before = alices.connections.count + general.connections.count;
    const refused = await telnet(gw.ports.echo, STRANGER);
    expect(refused).toEqual({ first: 'roamgate: log in at the gateway first\r\n', answers: [], rest: '' });
    expect(alices.connections.count + general.connections.count).toBe(before);
    const record = await recordOf(gw, mark, 'anonymous');
    expect(record).toMatchObject({ service: 'echo', outcome: 'refused', reason: 'log in at the gateway first' });
    expect(record.server).toBeUndefined();
  });

  test('without a refusal line, a refused client is closed without a word', async () => {
    const mark = gw.logger.records().length;
    const client = await RawClient.open(gw.ports.quiet, STRANGER);
    await client.closed;
    expect(client.received).toBe('');
    const record = await recordOf(gw, mark, 'anonymous');
    // Nobody is allowed `quiet` (the access table denies by default), and the table names no server for it.
    expect(record).toMatchObject({ service: 'quiet', identity: 'anonymous', outcome: 'refused' });
  });

  test("a user the access table does not allow is refused with the rule's reason (carol may use web only)", async () => {
    expect(await loginFrom(gw, CAROL, 'carol')).toBe(201);
    const mark = gw.logger.records().length;
    const refused = await telnet(gw.ports.echo, CAROL);
    expect(refused.first).toMatch(/^roamgate: .+\r\n$/);
    expect(refused.rest).toBe('');
    expect(await recordOf(gw, mark, 'carol')).toMatchObject({ service: 'echo', outcome: 'refused' });
  });
});

describe('a generic TCP adapter in front of an HTTP server, with curl', () => {
  let gw: TestGateway;
  let alices: Awaited<ReturnType<typeof startHttpServer>>;
  let general: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    alices = await startHttpServer('alice-web');
    general = await startHttpServer('web');
    gw = await startGateway(
      {
        users,
        access: RULES,
        servers: {
          web: [
            { host: '127.0.0.1', port: alices.port, for: 'user:alice' },
            // The first general server refuses connections: the adapter fails over to the next.
            { host: '127.0.0.1', port: await refusedPort(), priority: 1 },
            { host: '127.0.0.1', port: general.port, priority: 2 },
          ],
        },
        adapters: { tcp: { web: { port: 0, refusal: 'HTTP/1.0 403 {reason}' } } },
      },
      true,
    );
    expect(await loginFrom(gw, ALICE, 'alice')).toBe(201);
    expect(await loginFrom(gw, BOB, 'bob')).toBe(201);
  });

  afterAll(async () => {
    await gw?.close();
    await alices?.close();
    await general?.close();
  });

  test('GET: each user reaches their own server; two requests on one kept-alive connection', async () => {
    const base = `http://127.0.0.1:${gw.ports.web}`;
    const mark = gw.logger.records().length;
    const alice = await curl(ALICE, [`${base}/a`, `${base}/b`]);
    expect(alice.stderr).toBe('');
    expect(alice.stdout.toString()).toBe('hello from alice-web: GET /a\nhello from alice-web: GET /b\n');
    const bob = await curl(BOB, ['-D', '-', `${base}/c`]);
    expect(bob.stdout.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*X-Served-By: web\r\n[\s\S]*\r\n\r\nhello from web: GET \/c\n$/);
    // curl kept its connection: one relay for alice's two requests.
    await gw.logger.waitForRecords(mark + 2);
    expect(gw.logger.records().slice(mark)).toEqual([
      expect.objectContaining({ service: 'web', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${alices.port}` }),
      expect.objectContaining({ service: 'web', identity: 'bob', outcome: 'relayed', server: `127.0.0.1:${general.port}` }),
    ]);
  });

  test('POST of 1 MB comes back byte for byte', async () => {
    const body = randomBytes(1024 * 1024);
    const file = join(dir, 'upload.bin');
    const answer = join(dir, 'answer.bin');
    writeFileSync(file, body);
    const result = await curl(BOB, [
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Type: application/octet-stream',
      '-o',
      answer,
      `http://127.0.0.1:${gw.ports.web}/upload`,
    ]);
    expect(result.code).toBe(0);
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    expect(sha(readFileSync(answer))).toBe(sha(body));
    expect(general.requests).toContain('POST /upload');
  });

  test('an anonymous curl gets the refusal line (here an HTTP status line, which curl -i shows) and the connection closes', async () => {
    const result = await curl(STRANGER, ['-i', '-w', '%{http_code}', `http://127.0.0.1:${gw.ports.web}/`]);
    expect(result.stdout.toString()).toMatch(/^HTTP\/1\.0 403 [^\r\n]+\r\n403$/);
    expect(alices.requests.concat(general.requests)).not.toContain('GET /');
  });
});

describe('limits of a generic TCP adapter', () => {
  let gw: TestGateway | undefined;
  let service: Awaited<ReturnType<typeof startLineService>>;
  beforeAll(async () => {
    service = await startLineService('limited');
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });
  afterAll(async () => {
    await service?.close();
  });

  const start = (limits: Record<string, unknown>) =>
    startGateway({
      access: [{ subject: 'anonymous', service: 'limited', allow: true }],
      servers: { limited: [{ host: '127.0.0.1', port: service.port }] },
      adapters: { tcp: { limited: { port: 0, refusal: 'busy: {reason}', ...limits } } },
    });

  test('past maxClients, the refusal line says so and the client is closed; a place freed is taken again', async () => {
    gw = await start({ maxClients: 1 });
    const first = await RawClient.open(gw.ports.limited);
    await first.waitFor((text) => text === 'limited ready\r\n');
    const second = await RawClient.open(gw.ports.limited);
    await second.closed;
    expect(second.received).toBe('busy: too many clients (limit 1), try again later\r\n');
    first.send('quit\r\n');
    await first.closed;
    await until(async () => {
      const third = await RawClient.open(gw!.ports.limited);
      const text = await third.waitFor((received) => received.endsWith('\r\n')).catch(() => '');
      third.close();
      return text === 'limited ready\r\n';
    }, 'a place again after the first client left');
  });

  test('past maxClientsPerAddress (loopback not exempt), that address is refused while another is served', async () => {
    gw = await start({ maxClientsPerAddress: 1, loopbackExempt: false });
    const first = await RawClient.open(gw.ports.limited, ALICE);
    await first.waitFor((text) => text === 'limited ready\r\n');
    const again = await RawClient.open(gw.ports.limited, ALICE);
    await again.closed;
    expect(again.received).toBe('busy: too many connections from your address (limit 1), try again later\r\n');
    const other = await RawClient.open(gw.ports.limited, BOB);
    await other.waitFor((text) => text === 'limited ready\r\n');
    first.close();
    other.close();
  });

  test('a client silent past idleTimeoutMs is cut, and the record says so', async () => {
    gw = await start({ idleTimeoutMs: 300 });
    const client = await RawClient.open(gw.ports.limited);
    await client.waitFor((text) => text === 'limited ready\r\n');
    const started = Date.now();
    await client.closed;
    expect(Date.now() - started).toBeLessThan(REFUSAL_LINGER_MS);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'limited', outcome: 'relayed' });
  });

  test('no server for the service: the refusal line names it unavailable', async () => {
    gw = await startGateway({
      access: [{ subject: 'anonymous', service: 'nowhere', allow: true }],
      adapters: { tcp: { nowhere: { port: 0, refusal: 'sorry: {reason}' } } },
    });
    const client = await RawClient.open(gw.ports.nowhere);
    await client.closed;
    expect(client.received).toMatch(/^sorry: .*nowhere.*\r\n$/);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'nowhere', outcome: 'unreachable' });
  });
});

describe('the local proxy forwards a service it does not speak', () => {
  let service: Awaited<ReturnType<typeof startLineService>>;
  let alices: Awaited<ReturnType<typeof startLineService>>;
  let gw: TestGateway | undefined;
  let proxy: LocalProxy | undefined;
  beforeAll(async () => {
    service = await startLineService('echo');
    alices = await startLineService('alice-echo');
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await gw?.close();
    gw = undefined;
  });
  afterAll(async () => {
    await service?.close();
    await alices?.close();
  });

  const gatewayUrl = () => `http://127.0.0.1:${(gw!.http!.address() as AddressInfo).port}/roamgate`;
  const limits = { reconnectMinMs: 50, reconnectMaxMs: 300, connectTimeoutMs: 2_000, requestTimeoutMs: 2_000 };

  test("gateway mode: through the gateway's tunnel endpoint to the user's own server", async () => {
    gw = await startGateway(
      {
        users,
        access: RULES,
        servers: {
          echo: [
            { host: '127.0.0.1', port: alices.port, for: 'user:alice' },
            { host: '127.0.0.1', port: service.port },
          ],
        },
      },
      true,
    );
    proxy = await startLocalProxy({
      gateway: gatewayUrl(),
      mode: 'gateway',
      user: 'alice',
      password: 'alice-pw',
      services: ['echo'],
      listen: { echo: 0 },
      stateDir: mkdtempSync(join(dir, 'state-')),
      limits,
    });
    const address = proxy.listeners.echo!;
    const session = await telnet(address.port, '127.0.0.1', 'through the tunnel', 'quit');
    expect(session).toEqual({
      first: 'alice-echo ready\r\n',
      answers: ['alice-echo: through the tunnel\r\n', 'alice-echo: bye\r\n'],
      rest: '',
    });
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'echo', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${alices.port}` });
  });

  test('gateway mode, a user without the right: the gateway refuses the tunnel, the client is closed without a word', async () => {
    gw = await startGateway({ users, access: RULES, servers: { echo: [{ host: '127.0.0.1', port: service.port }] } }, true);
    proxy = await startLocalProxy({
      gateway: gatewayUrl(),
      mode: 'gateway',
      user: 'carol',
      password: 'carol-pw',
      listen: { echo: 0 },
      services: ['echo'],
      stateDir: mkdtempSync(join(dir, 'state-')),
      limits,
    });
    const before = service.connections.count;
    const client = await RawClient.open(proxy.listeners.echo!.port);
    await client.closed;
    expect(client.received).toBe('');
    expect(service.connections.count).toBe(before);
  });

  test('direct mode: straight to the server the gateway names', async () => {
    gw = await startGateway(
      {
        mode: 'direct',
        users,
        access: [...RULES.filter((rule) => rule.subject !== 'anonymous'), { subject: 'anonymous', service: 'echo', allow: true }],
        servers: { echo: [{ host: '127.0.0.1', port: service.port }] },
      },
      true,
    );
    proxy = await startLocalProxy({
      gateway: gatewayUrl(),
      listen: { echo: 0 },
      services: ['echo'],
      stateDir: mkdtempSync(join(dir, 'state-')),
      limits,
    });
    expect(proxy.status()).toMatchObject({ mode: 'direct' });
    const session = await telnet(proxy.listeners.echo!.port, '127.0.0.1', 'direct', 'quit');
    expect(session).toEqual({ first: 'echo ready\r\n', answers: ['echo: direct\r\n', 'echo: bye\r\n'], rest: '' });
    // Direct: the gateway relays nothing.
    expect(gw.logger.records()).toEqual([]);
  });
});
