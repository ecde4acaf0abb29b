import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp, RawClient, refusedPort } from '../helpers/net';
import { selfSignedCert } from '../helpers/tls-cert';

const OPEN_PROXY = [{ subject: 'anonymous', service: 'http-proxy', allow: true }] as const;

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', '--noproxy', '', ...args], { env: { PATH: process.env.PATH } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('http-proxy adapter', () => {
  const tls = selfSignedCert();
  const certDir = mkdtempSync(join(tmpdir(), 'roamgate-ca-'));
  const caFile = join(certDir, 'ca.pem');
  writeFileSync(caFile, tls.cert);
  let httpsServer: Server;
  let httpsPort: number;
  let webServer: Server;
  let webPort: number;
  let gw: TestGateway | undefined;
  let upstreamGw: TestGateway | undefined;

  beforeAll(async () => {
    httpsServer = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => res.end(`secret page ${req.url}\n`));
    httpsPort = await listen(httpsServer);
    webServer = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('x-seen-proxy-auth', String(req.headers['proxy-authorization'] ?? 'none'));
        res.end(`${req.method} ${req.url} host=${req.headers.host} body=${Buffer.concat(chunks).length}\n`);
      });
    });
    webPort = await listen(webServer);
  });
  afterAll(async () => {
    await closeServer(httpsServer);
    await closeServer(webServer);
  });
  afterEach(async () => {
    await gw?.close();
    await upstreamGw?.close();
    gw = upstreamGw = undefined;
  });

  const allowLocal = () => [`127.0.0.1:${httpsPort}`, `localhost:${httpsPort}`, `127.0.0.1:${webPort}`, `localhost:${webPort}`];

  test("absolute-URI requests carry the URI's Host, never the client's, and a chunked body stays chunked whatever the method", async () => {
    // An origin that records the exact bytes of each request and answers once it has the whole of it.
    const requests: string[] = [];
    const origin = await listenTcp((socket) => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        const head = text.indexOf('\r\n\r\n');
        const chunked = /transfer-encoding: chunked/i.test(text.slice(0, head));
        if (head === -1 || (chunked && !text.endsWith('0\r\n\r\n'))) return;
        requests.push(text);
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      });
    });
    try {
      gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${origin.port}`] } }, access: [...OPEN_PROXY] });
      const ask = async (raw: string) => {
        const client = await RawClient.open(gw!.ports['http-proxy']!);
        client.send(raw);
        await client.waitFor((text) => text.endsWith('ok'));
        client.close();
      };
      await ask(`GET http://127.0.0.1:${origin.port}/page HTTP/1.1\r\nHost: admin.internal.example\r\n\r\n`);
      expect(requests[0]).toMatch(new RegExp(`^GET /page HTTP/1\\.1\\r\\nHost: 127\\.0\\.0\\.1:${origin.port}\\r\\n`));
      expect(requests[0]).not.toContain('admin.internal.example');
      // A body on a DELETE, chunked by the client: it reaches the origin still chunked, not as a second request.
      const inner = 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';
      const size = Buffer.byteLength(inner).toString(16);
      await ask(
        `DELETE http://127.0.0.1:${origin.port}/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n${inner}\r\n0\r\n\r\n`,
      );
      expect(requests[1]).toMatch(/^DELETE \/x HTTP\/1\.1\r\n/);
      expect(requests[1]).toMatch(/\r\nTransfer-Encoding: chunked\r\n/i);
      expect(requests[1]).toContain(`\r\n\r\n${size}\r\n${inner}\r\n0\r\n\r\n`);
    } finally {
      await origin.close();
    }
  });

  test('CONNECT tunnels to a local HTTPS server (curl -p -x), certificate verified end to end', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: allowLocal() } }, access: [...OPEN_PROXY] });
    const result = await curl([
      '-p',
      '-x',
      `http://127.0.0.1:${gw.ports['http-proxy']}`,
      '--cacert',
      caFile,
      `https://localhost:${httpsPort}/inside`,
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('secret page /inside\n');
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'http-proxy', outcome: 'relayed', server: `127.0.0.1:${httpsPort}` });
    expect(record.bytesFromServer).toBeGreaterThan(500);
  });

  test('bytes the client sends right behind the CONNECT head, in the same write, reach the destination', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: allowLocal() } }, access: [...OPEN_PROXY] });
    const client = await RawClient.open(gw.ports['http-proxy']);
    client.send(
      `CONNECT 127.0.0.1:${webPort} HTTP/1.1\r\nHost: 127.0.0.1:${webPort}\r\n\r\nGET /eager HTTP/1.1\r\nHost: eager\r\nConnection: close\r\n\r\n`,
    );
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(client.received).toMatch(/GET \/eager host=eager body=0\n$/);
  });

  test('CONNECT from Node, then TLS inside the tunnel', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: allowLocal() } }, access: [...OPEN_PROXY] });
    const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: gw!.ports['http-proxy'], method: 'CONNECT', path: `127.0.0.1:${httpsPort}` });
      req.on('connect', (res, s) => (res.statusCode === 200 ? resolve(s) : reject(new Error(`status ${res.statusCode}`))));
      req.on('error', reject);
      req.end();
    });
    const body = await new Promise<string>((resolve, reject) => {
      const secure = tlsConnect({ socket, ca: tls.cert, servername: 'localhost' }, () =>
        secure.write('GET /node HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      secure.on('data', (c: Buffer) => (text += c.toString()));
      secure.on('end', () => resolve(text));
      secure.on('error', reject);
    });
    expect(body).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(body).toMatch(/secret page \/node/);
  });

  test('absolute-URI requests are forwarded in origin form, hop-by-hop headers dropped, bodies streamed', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: allowLocal() } }, access: [...OPEN_PROXY] });
    const proxy = `http://127.0.0.1:${gw.ports['http-proxy']}`;
    const get = await curl([
      '-x',
      proxy,
      '-D',
      '-',
      '-H',
      'Proxy-Authorization: Basic Zm9vOmJhcg==',
      `http://127.0.0.1:${webPort}/page?q=1`,
    ]);
    expect(get.stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(get.stdout).toMatch(/x-seen-proxy-auth: none/i);
    expect(get.stdout).toMatch(new RegExp(`GET /page\\?q=1 host=127\\.0\\.0\\.1:${webPort} body=0`));
    const upload = join(certDir, 'upload.bin');
    writeFileSync(upload, Buffer.alloc(200_000, 'x'));
    const post = await curl(['-x', proxy, '--data-binary', `@${upload}`, `http://localhost:${webPort}/upload`]);
    expect(post.stdout).toBe(`POST /upload host=localhost:${webPort} body=200000\n`);
  });

  test.each([
    ['not on the allowlist', (port: number) => `127.0.0.1:${port + 1}`, /not on this gateway's allowlist/],
    ['link-local (metadata service)', () => '169.254.169.254:80', /link-local addresses are never proxied/],
  ])('a destination %s gets 403 with the reason', async (_name, target, reason) => {
    gw = await startGateway({
      adapters: { 'http-proxy': { port: 0, allow: [...allowLocal(), '169.254.169.254:80'] } },
      access: [...OPEN_PROXY],
    });
    const client = await RawClient.open(gw.ports['http-proxy']);
    client.send(`CONNECT ${target(webPort)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(client.received).toMatch(reason);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record.outcome).toBe('refused');
  });

  test("the gateway's own ports are never a destination, even when the allowlist says *", async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: ['*:*'] }, smtp: { port: 0 } }, access: [...OPEN_PROXY] }, true);
    const apiPort = (gw.http!.address() as AddressInfo).port;
    for (const port of [gw.ports['http-proxy'], gw.ports.smtp, apiPort]) {
      const result = await curl([
        '-x',
        `http://127.0.0.1:${gw.ports['http-proxy']}`,
        '-w',
        '%{http_code}',
        '-o',
        '/dev/null',
        `http://127.0.0.1:${port}/`,
      ]);
      expect(result.stdout).toBe('403');
    }
  });

  test('an unreachable destination gets 502; a non-proxy request 400; an oversized head 431', async () => {
    const dead = await refusedPort();
    gw = await startGateway({
      adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${dead}`], maxHeaderBytes: 2048 } },
      access: [...OPEN_PROXY],
    });
    const port = gw.ports['http-proxy'];
    const unreachable = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      '-w',
      '%{http_code}',
      '-o',
      '/dev/null',
      `http://127.0.0.1:${dead}/`,
    ]);
    expect(unreachable.stdout).toBe('502');
    const direct = await curl(['-w', '%{http_code}', '-o', '/dev/null', `http://127.0.0.1:${port}/not-a-proxy-request`]);
    expect(direct.stdout).toBe('400');
    const big = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      '-H',
      `X-Big: ${'y'.repeat(4000)}`,
      '-w',
      '%{http_code}',
      '-o',
      '/dev/null',
      `http://127.0.0.1:${dead}/`,
    ]);
    expect(big.stdout).toBe('431');
  });

  test('goes through the upstream web proxy the table names for http-proxy (a second gateway here)', async () => {
    upstreamGw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: allowLocal() } }, access: [...OPEN_PROXY] });
    gw = await startGateway({
      adapters: { 'http-proxy': { port: 0, allow: allowLocal() } },
      servers: { 'http-proxy': [{ host: '127.0.0.1', port: upstreamGw.ports['http-proxy'] }] },
      access: [...OPEN_PROXY],
    });
    const proxy = `http://127.0.0.1:${gw.ports['http-proxy']}`;
    const tunnel = await curl(['-p', '-x', proxy, '--cacert', caFile, `https://localhost:${httpsPort}/chained`]);
    expect(tunnel.stdout).toBe('secret page /chained\n');
    const plain = await curl(['-x', proxy, `http://127.0.0.1:${webPort}/chained-plain`]);
    expect(plain.stdout).toBe(`GET /chained-plain host=127.0.0.1:${webPort} body=0\n`);
    const upstreamRecords = await upstreamGw.logger.waitForRecords(2);
    expect(upstreamRecords.map((r) => r.outcome)).toEqual(['relayed', 'relayed']);
    const records = await gw.logger.waitForRecords(2);
    expect(records[0].server).toContain(`via 127.0.0.1:${upstreamGw.ports['http-proxy']}`);
  });

  test('an upstream proxy that refuses the tunnel gives the client 502 with its answer', async () => {
    upstreamGw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: [] } }, access: [...OPEN_PROXY] });
    gw = await startGateway({
      adapters: { 'http-proxy': { port: 0, allow: allowLocal() } },
      servers: { 'http-proxy': [{ host: '127.0.0.1', port: upstreamGw.ports['http-proxy'] }] },
      access: [...OPEN_PROXY],
    });
    const client = await RawClient.open(gw.ports['http-proxy']);
    client.send(`CONNECT 127.0.0.1:${httpsPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(client.received).toMatch(/upstream web proxy refused the tunnel: 403/);
  });

  test('an anonymous client without an allowing rule gets 407 (a login would help) and nothing is contacted', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, allow: allowLocal() } }, access: [] });
    const result = await curl(['-x', `http://127.0.0.1:${gw.ports['http-proxy']}`, '-D', '-', `http://127.0.0.1:${webPort}/`]);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 407 /);
    expect(result.stdout).toMatch(/proxy-authenticate: Basic realm="roamgate"/i);
    expect(result.stdout).toMatch(/no access rule lets anonymous clients use http-proxy\n$/);
  });
});
