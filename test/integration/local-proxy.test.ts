import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { isRoamgateError, type RoamgateError } from '../../errors';
import { startLocalProxy, type LocalProxy, type StartLocalProxyOptions } from '../../local/local-proxy';
import type { LocalProxyNotice } from '../../local/proxy-notices';
import { forgetNetwork } from '../../local/state-dir';
import { readStatus as readStatusFile } from '../../local/status-file';
import { DiscoveryResponder } from '../../plugin/discovery-responder';
import { hashPassword } from '../../plugin/password';
import { generateGatewayKey, parseQuery, signAnswer } from '../../protocols/discovery-message';
import { CapturingLogger, startGateway, type TestGateway } from '../helpers/gateway';
import { roamgate } from '../../plugin/roamgate';
import type { RoamgateOptions } from '../../plugin/options';
import express from 'express';
import { listenTcp, RawClient, refusedPort } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { selfSignedCert } from '../helpers/tls-cert';
import { until } from '../helpers/until';

const ADMIN = 'local-proxy-admin-token-0123456789';
const admin = { Authorization: `Bearer ${ADMIN}` };
const ALL_EPHEMERAL = { smtp: 0, pop3: 0, imap: 0, nntp: 0, 'http-proxy': 0, pac: 0 };
/** Short enough that recovery in these tests takes well under a second. */
const FAST = { reconnectMinMs: 50, reconnectMaxMs: 300, connectTimeoutMs: 2_000, requestTimeoutMs: 2_000 };

jest.setTimeout(15_000);

let aliceHash: string;
beforeAll(async () => {
  aliceHash = await hashPassword('alice-pw');
});

function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

function python(script: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return run('python3', ['-W', 'ignore', '-c', script]);
}

/** A POP3 server that takes any login and has an empty mailbox. */
function fakePop3(banner: string) {
  return listenTcp((socket) => {
    socket.write(`+OK ${banner}\r\n`);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let at = buffer.indexOf('\r\n'); at !== -1; at = buffer.indexOf('\r\n')) {
        const verb = buffer.slice(0, at).split(' ')[0].toUpperCase();
        buffer = buffer.slice(at + 2);
        if (verb === 'QUIT') return void socket.end('+OK bye\r\n');
        socket.write(verb === 'STAT' ? '+OK 0 0\r\n' : '+OK\r\n');
      }
    });
  });
}

/** An NNTP server that greets, refuses every command but QUIT. */
function fakeNntp(banner: string) {
  return listenTcp((socket) => {
    socket.write(`200 ${banner}\r\n`);
    socket.on('data', (chunk: Buffer) => {
      if (/^QUIT/im.test(chunk.toString('latin1'))) socket.end('205 bye\r\n');
      else socket.write('500 what?\r\n');
    });
  });
}

function sendMail(port: number, subject: string) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5_000 });
  return transport.sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject, text: `${subject} body` });
}

class Notices {
  readonly all: LocalProxyNotice[] = [];
  readonly add = (notice: LocalProxyNotice) => void this.all.push(notice);
  text(): string {
    return this.all.map((notice) => notice.text).join('\n');
  }
  async waitFor(predicate: (notice: LocalProxyNotice) => boolean, what: string, from = 0): Promise<LocalProxyNotice> {
    await until(() => this.all.slice(from).some(predicate), `${what}; notices so far:\n${this.text()}`, 8_000);
    return this.all.slice(from).find(predicate)!;
  }
}

/** A gateway on a chosen HTTP port (0: any), so that a test can bring it back where it was. */
async function gatewayOnPort(port: number, options: RoamgateOptions): Promise<{ port: number; close(): Promise<void> }> {
  const gateway = roamgate({ health: { enabled: false }, logger: new CapturingLogger(), ...options });
  const app = express();
  app.use('/roamgate', gateway.router);
  const http = await new Promise<Server>((resolve) => {
    const server = app.listen(port, '127.0.0.1', () => resolve(server));
  });
  gateway.attach(http);
  await gateway.listen();
  return {
    port: (http.address() as AddressInfo).port,
    close: async () => {
      await gateway.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

function readFileSyncOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'roamgate-local-'));
}

describe('local proxy in gateway mode (tunnels to the gateway with the lease token)', () => {
  let gw: TestGateway;
  let gatewayUrl: string;
  let smtp: Awaited<ReturnType<typeof startSmtpUpstream>>;
  let pop3: Awaited<ReturnType<typeof listenTcp>>;
  let nntp: Awaited<ReturnType<typeof listenTcp>>;
  let web: Server;
  let webPort: number;
  let proxy: LocalProxy | undefined;
  let notices: Notices;
  let dir: string;

  beforeEach(async () => {
    smtp = await startSmtpUpstream('hidden-smtp.internal');
    pop3 = await fakePop3('hidden-pop3.internal');
    nntp = await fakeNntp('hidden-nntp.internal');
    web = createServer((req, res) => res.end(`web page ${req.url}\n`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as AddressInfo).port;
    gw = await startGateway(
      {
        adminToken: ADMIN,
        users: [{ id: 'alice', passwordHash: aliceHash, attributes: { department: 'sales' } }],
        adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${webPort}`] } },
        servers: {
          smtp: [{ host: '127.0.0.1', port: smtp.port }],
          pop3: [{ host: '127.0.0.1', port: pop3.port }],
          nntp: [{ host: '127.0.0.1', port: nntp.port }],
        },
        access: [{ subject: 'department=sales', service: '*', allow: true }],
      },
      true,
    );
    gatewayUrl = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
    notices = new Notices();
    dir = stateDir();
    proxy = undefined;
  });
  afterEach(async () => {
    await proxy?.close();
    await gw.close();
    await smtp.close();
    await pop3.close();
    await nntp.close();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });

  const start = (extra: Partial<StartLocalProxyOptions> = {}) =>
    startLocalProxy({
      gateway: gatewayUrl,
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: dir,
      limits: FAST,
      onEvent: notices.add,
      ...extra,
    });

  test('real clients reach the real servers through it; nothing it says names a server', async () => {
    proxy = await start();
    const ports = proxy.listeners;
    expect(proxy.status()).toMatchObject({ gateway: gatewayUrl, mode: 'gateway', lease: 'live', user: 'alice' });

    // SMTP with nodemailer
    await sendMail(ports.smtp!.port, 'through the tunnel');
    expect(smtp.messages.map((message) => message.raw.toString())).toEqual([expect.stringContaining('Subject: through the tunnel')]);

    // POP3 and NNTP with python's poplib and nntplib
    const pop = await python(
      `import poplib\nbox = poplib.POP3('127.0.0.1', ${ports.pop3!.port}, timeout=5)\nprint(box.getwelcome().decode())\nbox.user('alice'); box.pass_('x')\nprint(box.stat())\nbox.quit()`,
    );
    expect(pop.stdout).toBe('+OK hidden-pop3.internal\n(0, 0)\n');
    const news = await python(
      `import nntplib\ns = nntplib.NNTP('127.0.0.1', ${ports.nntp!.port}, timeout=5)\nprint(s.getwelcome())\ns.quit()`,
    );
    expect(news.stdout).toBe('200 hidden-nntp.internal\n');

    // The web with curl: the tunnel carries proxy requests to the gateway's web proxy, allowlist and all
    const page = await run('curl', ['-sS', '-x', `http://127.0.0.1:${ports['http-proxy']!.port}`, `http://127.0.0.1:${webPort}/inside`]);
    expect(page.stdout).toBe('web page /inside\n');
    const refused = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-x',
      `http://127.0.0.1:${ports['http-proxy']!.port}`,
      `http://127.0.0.1:${webPort + 1}/`,
    ]);
    expect(refused.stdout).toBe('403');

    // The PAC file, for browsers
    const pac = await run('curl', ['-sS', '-D', '-', `http://127.0.0.1:${ports.pac!.port}/proxy.pac`]);
    expect(pac.stdout).toMatch(/Content-Type: application\/x-ns-proxy-autoconfig/i);
    expect(pac.stdout).toContain(`return "PROXY 127.0.0.1:${ports['http-proxy']!.port}";`);

    const records = await gw.logger.waitForRecords(4);
    expect(records.filter((record) => record.outcome === 'relayed').map((record) => record.identity)).toEqual(
      expect.arrayContaining(['alice']),
    );

    // Clear words: one line per service, naming the gateway and never a server.
    const routes = notices.all.filter((notice) => notice.type === 'route');
    const line = (service: string, port: number) =>
      `${service.padEnd(10)} ${`127.0.0.1:${port}`.padEnd(15)} gateway -> through the gateway ${gatewayUrl}`;
    expect(routes.map((notice) => notice.text)).toEqual([
      line('smtp', ports.smtp!.port),
      line('pop3', ports.pop3!.port),
      line('imap', ports.imap!.port),
      line('nntp', ports.nntp!.port),
      line('http-proxy', ports['http-proxy']!.port),
    ]);
    expect(notices.text()).toContain(
      `browsers: set the automatic proxy configuration URL to http://127.0.0.1:${ports.pac!.port}/proxy.pac`,
    );
    for (const port of [smtp.port, pop3.port, nntp.port, gw.ports['http-proxy']]) expect(notices.text()).not.toContain(`:${port}`);
    expect(notices.text()).not.toMatch(/hidden-/);
  });

  test('a revoked lease: its connections are cut, roamgate local logs in again without a restart, and the next client gets through', async () => {
    proxy = await start();
    const ports = proxy.listeners;
    const leases = () => JSON.parse(readFileSync(join(dir, 'leases.json'), 'utf8'))[gatewayUrl];
    const leaseId = leases().id as string;
    const open = await RawClient.open(ports.smtp!.port);
    await open.waitFor((text) => text.startsWith('220 '));
    const mark = notices.all.length;

    await request(gw.app).delete(`/roamgate/leases/${leaseId}`).set(admin).expect(204);
    const ended = await notices.waitFor((notice) => notice.type === 'lease-ended', 'the lease-ended notice', mark);
    expect(ended).toMatchObject({ level: 'warn', state: 'revoked' });
    expect(ended.text).toBe('the gateway revoked the lease of alice and cut its connections; logging in again');
    await open.closed; // the gateway closes the revoked lease's relays
    const login = await notices.waitFor((notice) => notice.type === 'login', 'a new login', mark);
    expect(login).toMatchObject({ user: 'alice', reused: false });
    expect(proxy.status()).toMatchObject({ lease: 'live', user: 'alice' });
    expect(leases().id).not.toBe(leaseId);

    await sendMail(ports.smtp!.port, 'after the revocation');
    expect(smtp.messages.map((message) => message.raw.toString())).toEqual([expect.stringContaining('Subject: after the revocation')]);
    const status = readStatusFile(dir);
    expect(status).toMatchObject({ state: 'running', gateway: gatewayUrl, mode: 'gateway', lease: { state: 'live', user: 'alice' } });
  });

  test('a revoked lease of a user the gateway gives no lease any more: every client is refused in its own protocol, saying why', async () => {
    proxy = await start();
    const ports = proxy.listeners;
    const leaseId = JSON.parse(readFileSync(join(dir, 'leases.json'), 'utf8'))[gatewayUrl].id as string;
    const open = await RawClient.open(ports.smtp!.port);
    await open.waitFor((text) => text.startsWith('220 '));

    // The admin takes alice's rights away (no rights, no lease), then revokes the lease she holds.
    await request(gw.app).post('/roamgate/access/rules').set(admin).send({ subject: 'user:alice', service: '*', allow: false }).expect(201);
    await request(gw.app).delete(`/roamgate/leases/${leaseId}`).set(admin).expect(204);
    await notices.waitFor((notice) => notice.type === 'lease-ended', 'the lease-ended notice');
    const refused = await notices.waitFor((notice) => notice.type === 'error', 'the refused login');
    expect(refused.text).toMatch(/^the gateway at .* gives alice no lease: alice may use no service here$/);
    await open.closed;

    const mail = await python(
      `import smtplib\ntry:\n    smtplib.SMTP('127.0.0.1', ${ports.smtp!.port}, timeout=5)\nexcept smtplib.SMTPConnectError as e:\n    print(e.smtp_code, e.smtp_error.decode())`,
    );
    expect(mail.stdout).toMatch(/^554 5\.7\.1 the gateway at .* gives alice no lease: .*restart roamgate local once it does\n$/);
    const pop = await RawClient.open(ports.pop3!.port);
    await pop.closed;
    expect(pop.received).toMatch(/^-ERR \[SYS\/PERM\] the gateway at .* gives alice no lease/);
    const news = await RawClient.open(ports.nntp!.port);
    await news.closed;
    expect(news.received).toMatch(/^502 the gateway at .* gives alice no lease/);
    const web = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-x',
      `http://127.0.0.1:${ports['http-proxy']!.port}`,
      `http://127.0.0.1:${webPort}/`,
    ]);
    expect(web.stdout).toBe('403');
    expect(smtp.messages).toHaveLength(0);
    expect(proxy.status().lease).toBe('revoked');
    // The revoked token is not kept for the next start.
    expect(JSON.parse(readFileSync(join(dir, 'leases.json'), 'utf8'))[gatewayUrl]).toBeUndefined();
    expect(readStatusFile(dir)?.lease).toEqual({ state: 'revoked', user: 'alice' });
  });

  test('a saved lease is reused across restarts (no password needed); the file is 0600', async () => {
    proxy = await start();
    await proxy.close();
    expect(statSync(join(dir, 'leases.json')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const second = new Notices();
    proxy = await startLocalProxy({ gateway: gatewayUrl, listen: ALL_EPHEMERAL, stateDir: dir, limits: FAST, onEvent: second.add });
    expect(second.text()).toMatch(/using the saved lease of alice at /);
    await sendMail(proxy.listeners.smtp!.port, 'with the saved lease');
    expect(smtp.messages).toHaveLength(1);
  });

  test('wrong password: start fails saying so', async () => {
    const failure = await start({ password: 'not-the-password' }).catch((error: unknown) => error);
    expect(isRoamgateError(failure)).toBe(true);
    expect((failure as RoamgateError).code).toBe('ROAMGATE_LOGIN_FAILED');
    expect((failure as Error).message).toMatch(
      /refused the login of alice: wrong user name or password \(check --user, and --password-file or ROAMGATE_PASSWORD\)/,
    );
  });

  test('a port in use: start fails naming the port and what to pass instead', async () => {
    const taken = await listenTcp(() => undefined);
    try {
      const failure = await start({ listen: { ...ALL_EPHEMERAL, pop3: taken.port } }).catch((error: unknown) => error);
      expect((failure as RoamgateError).code).toBe('ROAMGATE_PORT_IN_USE');
      expect((failure as Error).message).toBe(
        `pop3: port ${taken.port} on 127.0.0.1 (given for pop3) is in use by another program: stop that program, or pass --listen pop3=PORT with another port (e.g. --listen pop3=1110)`,
      );
    } finally {
      await taken.close();
    }
  });

  test('ports chosen automatically are remembered and used again', async () => {
    const free = await refusedPort();
    writeFileSync(join(dir, 'ports.json'), JSON.stringify({ smtp: free }));
    proxy = await start({ listen: { pop3: 0, imap: 0, nntp: 0, 'http-proxy': 0, pac: 0 }, tryStandardPorts: false });
    expect(proxy.listeners.smtp).toEqual({ host: '127.0.0.1', port: free });
    await sendMail(free, 'on the remembered port');
    expect(smtp.messages).toHaveLength(1);
  });
});

describe('local proxy with a configured gateway that goes away and comes back', () => {
  test('clients are refused in their protocol while it is gone; then it logs in again and carries on', async () => {
    const smtp = await startSmtpUpstream('comeback.internal');
    const options = {
      adminToken: ADMIN,
      users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
      servers: { smtp: [{ host: '127.0.0.1', port: smtp.port }] },
      access: [{ subject: 'authenticated' as const, service: '*', allow: true }],
    };
    let gw = await gatewayOnPort(0, options);
    const gatewayUrl = `http://127.0.0.1:${gw.port}/roamgate`;
    const notices = new Notices();
    const proxy = await startLocalProxy({
      gateway: gatewayUrl,
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: stateDir(),
      limits: FAST,
      onEvent: notices.add,
    });
    try {
      const port = proxy.listeners.smtp!.port;
      await sendMail(port, 'before');
      const mark = notices.all.length;
      await gw.close();
      await notices.waitFor((notice) => notice.type === 'gateway-lost', 'gateway-lost', mark);
      const refused = await RawClient.open(port);
      await refused.closed;
      expect(refused.received).toBe(`421 4.3.0 cannot reach the gateway at ${gatewayUrl} (ECONNREFUSED)\r\n`);

      gw = await gatewayOnPort(gw.port, options);
      await notices.waitFor((notice) => notice.type === 'login', 'a new login', mark);
      await sendMail(port, 'after');
      expect(smtp.messages.map((message) => message.raw.toString())).toEqual([
        expect.stringContaining('Subject: before'),
        expect.stringContaining('Subject: after'),
      ]);
    } finally {
      await proxy.close();
      await gw.close();
      await smtp.close();
    }
  });
});

describe('local proxy in direct mode (straight to the servers the gateway names)', () => {
  let gw: TestGateway;
  let gatewayUrl: string;
  let first: Awaited<ReturnType<typeof startSmtpUpstream>>;
  let second: Awaited<ReturnType<typeof startSmtpUpstream>>;
  let proxy: LocalProxy | undefined;
  let notices: Notices;

  beforeEach(async () => {
    first = await startSmtpUpstream('first.example');
    second = await startSmtpUpstream('second.example');
    gw = await startGateway(
      {
        mode: 'direct',
        adminToken: ADMIN,
        users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
        // Anonymous clients may send mail here (direct mode tells them the smtp servers, and nothing else).
        access: [
          { subject: 'authenticated', service: '*', allow: true },
          { subject: 'anonymous', service: 'smtp', allow: true },
        ],
      },
      true,
    );
    gatewayUrl = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
    notices = new Notices();
    proxy = undefined;
  });
  afterEach(async () => {
    await proxy?.close();
    await gw.close();
    await first.close();
    await second.close();
  });

  test('a server moved in the table: the next connection goes to the new one, an open one is undisturbed', async () => {
    const added = await request(gw.app)
      .post('/roamgate/servers')
      .set(admin)
      .send({ service: 'smtp', host: '127.0.0.1', port: first.port, priority: 10 })
      .expect(201);
    proxy = await startLocalProxy({
      gateway: gatewayUrl,
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: stateDir(),
      limits: FAST,
      onEvent: notices.add,
    });
    const port = proxy.listeners.smtp!.port;
    expect(notices.all.find((notice) => notice.type === 'route' && notice.service === 'smtp')!.text).toMatch(
      new RegExp(`direct  -> 127\\.0\\.0\\.1:${first.port}$`),
    );

    await sendMail(port, 'to the first');
    const open = await RawClient.open(port);
    await open.waitFor((text) => /^220 .*first\.example/.test(text));

    const mark = notices.all.length;
    await request(gw.app)
      .post('/roamgate/servers')
      .set(admin)
      .send({ service: 'smtp', host: '127.0.0.1', port: second.port, priority: 10 })
      .expect(201);
    await request(gw.app).delete(`/roamgate/servers/${added.body.id}`).set(admin).expect(204);
    await notices.waitFor(
      (notice) => notice.type === 'route' && notice.text.endsWith(`-> 127.0.0.1:${second.port}`),
      'the route to the second server',
      mark,
    );

    await sendMail(port, 'to the second');
    expect(first.messages.map((message) => message.raw.toString())).toEqual([expect.stringContaining('Subject: to the first')]);
    expect(second.messages.map((message) => message.raw.toString())).toEqual([expect.stringContaining('Subject: to the second')]);
    // The connection opened before the move still talks to the first server.
    open.send('NOOP\r\n');
    await open.waitFor((text) => /\r\n250 /.test(text));
    expect(open.socket.destroyed).toBe(false);
    open.close();
  });

  test('a server that refuses: the next one the gateway names takes the connection; none answering is refused in the protocol', async () => {
    const down = await refusedPort();
    await request(gw.app)
      .post('/roamgate/servers')
      .set(admin)
      .send({ service: 'smtp', host: '127.0.0.1', port: down, priority: 10 })
      .expect(201);
    const live = await request(gw.app)
      .post('/roamgate/servers')
      .set(admin)
      .send({ service: 'smtp', host: '127.0.0.1', port: second.port, priority: 20 })
      .expect(201);
    proxy = await startLocalProxy({
      gateway: gatewayUrl,
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: stateDir(),
      limits: FAST,
      onEvent: notices.add,
    });
    expect(notices.all.find((notice) => notice.type === 'route' && notice.service === 'smtp')!.text).toMatch(
      new RegExp(`direct  -> 127\\.0\\.0\\.1:${down} \\(then 127\\.0\\.0\\.1:${second.port}\\)$`),
    );
    await sendMail(proxy.listeners.smtp!.port, 'past the refusing server');
    expect(second.messages).toHaveLength(1);

    const mark = notices.all.length;
    await request(gw.app)
      .post('/roamgate/servers')
      .set(admin)
      .send({ service: 'smtp', host: '127.0.0.1', port: await refusedPort(), priority: 30 })
      .expect(201);
    await request(gw.app).delete(`/roamgate/servers/${live.body.id}`).set(admin).expect(204);
    await notices.waitFor(
      (notice) => notice.type === 'route' && notice.service === 'smtp' && !notice.text.includes(`:${second.port}`),
      'the smtp route without the live server',
      mark,
    );
    const refused = await RawClient.open(proxy.listeners.smtp!.port);
    await refused.closed;
    expect(refused.received).toBe('421 4.3.0 smtp service unavailable: could not reach all 2 servers\r\n');
  });

  test('without a login it still works, and a service the gateway names no server for is refused in its protocol', async () => {
    await request(gw.app).post('/roamgate/servers').set(admin).send({ service: 'smtp', host: '127.0.0.1', port: first.port }).expect(201);
    proxy = await startLocalProxy({ gateway: gatewayUrl, listen: ALL_EPHEMERAL, stateDir: stateDir(), limits: FAST, onEvent: notices.add });
    expect(proxy.status().lease).toBe('none');
    await sendMail(proxy.listeners.smtp!.port, 'no login needed');
    expect(first.messages).toHaveLength(1);
    const pop = await RawClient.open(proxy.listeners.pop3!.port);
    await pop.closed;
    expect(pop.received).toBe('-ERR [SYS/TEMP] pop3 service unavailable: the gateway names no pop3 server for this network\r\n');
    expect(notices.text()).toMatch(
      /pop3 .* direct {2}-> nowhere: the gateway names no pop3 server for this network \(pop3 clients are told so\)/,
    );
  });
});

/** A hand-made discovery responder on 127.0.0.1 (signAnswer), answering for a network with any key: a genuine gateway or an impostor. */
async function startResponder(
  privateKeyPem: string,
  answer: { name: string; url: string },
): Promise<{ port: number; answer: { name: string; url: string }; close(): Promise<void> }> {
  const socket: UdpSocket = createSocket('udp4');
  socket.on('message', (data, from) => {
    const query = parseQuery(data);
    if (!query) return;
    socket.send(
      JSON.stringify(signAnswer(privateKeyPem, { ...answer, nonce: query.nonce, issuedAt: Date.now() })),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, answer, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

/** These tests are about UDP discovery: mDNS, which would ask on every interface, is left out (see local-proxy-mdns.test.ts). */
describe('local proxy finding its gateway by discovery', () => {
  const key = generateGatewayKey();
  let smtp: Awaited<ReturnType<typeof startSmtpUpstream>>;
  let gateways: TestGateway[];
  let proxy: LocalProxy | undefined;
  let notices: Notices;
  let dir: string;

  const gatewayOptions = () => ({
    adminToken: ADMIN,
    users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
    servers: { smtp: [{ host: '127.0.0.1', port: smtp.port }] },
    access: [{ subject: 'authenticated' as const, service: '*', allow: true }],
  });
  const urlOf = (gw: TestGateway) => `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;

  beforeEach(async () => {
    smtp = await startSmtpUpstream('discovered.internal');
    gateways = [];
    notices = new Notices();
    dir = stateDir();
    proxy = undefined;
  });
  afterEach(async () => {
    await proxy?.close();
    for (const gw of gateways) await gw.close();
    await smtp.close();
  });

  test('pins the key on first use; when the gateway comes back on another port it finds it again and carries on', async () => {
    gateways.push(await startGateway(gatewayOptions(), true));
    // The gateway's own responder, answering with whichever gateway is current.
    const responder = new DiscoveryResponder({
      name: 'testnet',
      url: () => urlOf(gateways.at(-1)!),
      privateKeyPem: key.privateKeyPem,
      host: '127.0.0.1',
      port: 0,
    });
    const { port: discoveryPort } = await responder.start();
    try {
      proxy = await startLocalProxy({
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: dir,
        limits: FAST,
        discovery: { port: discoveryPort, addresses: ['127.0.0.1'], mdns: false, windowMs: 300 },
        onEvent: notices.add,
      });
      expect(notices.text()).toContain(`gateway ${urlOf(gateways[0])}, found on network "testnet", key SHA256:`);
      expect(notices.text()).toContain('pinned on first use');
      expect(JSON.parse(readFileSync(join(dir, 'networks.json'), 'utf8')).testnet.publicKey).toBe(key.publicKey);
      const port = proxy.listeners.smtp!.port;
      await sendMail(port, 'before the restart');

      // The gateway goes away and comes back on another port (in-memory store: the lease is gone too).
      const mark = notices.all.length;
      await gateways[0].close();
      gateways.push(await startGateway(gatewayOptions(), true));
      await notices.waitFor((notice) => notice.type === 'gateway-lost', 'gateway-lost', mark);
      await notices.waitFor(
        (notice) => notice.type === 'route' && notice.text.endsWith(urlOf(gateways[1])) && notice.service === 'smtp',
        'the route through the new gateway',
        mark,
      );
      expect(notices.all.slice(mark).map((notice) => notice.type)).toEqual(
        expect.arrayContaining(['gateway-lost', 'gateway', 'login', 'route']),
      );
      expect(notices.all.slice(mark).find((notice) => notice.type === 'gateway')!.text).toMatch(/key SHA256:\S+ as pinned$/);

      await sendMail(port, 'after the restart');
      expect(smtp.messages.map((message) => message.raw.toString())).toEqual([
        expect.stringContaining('before the restart'),
        expect.stringContaining('after the restart'),
      ]);
      for (const notice of notices.all) expect(notice.text).not.toContain(`:${smtp.port}`);
    } finally {
      await responder.close();
    }
  });

  test('an answer for a pinned network with another key is rejected loudly', async () => {
    gateways.push(await startGateway(gatewayOptions(), true));
    const genuine = await startResponder(key.privateKeyPem, { name: 'testnet', url: urlOf(gateways[0]) });
    const discovery = { port: genuine.port, addresses: ['127.0.0.1'], mdns: false, windowMs: 300 };
    proxy = await startLocalProxy({
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: dir,
      limits: FAST,
      discovery,
      onEvent: notices.add,
    });
    await proxy.close();
    proxy = undefined;
    await genuine.close();

    const impostor = await startResponder(generateGatewayKey().privateKeyPem, { name: 'testnet', url: 'http://127.0.0.1:9/roamgate' });
    try {
      const loud = new Notices();
      const failure = await startLocalProxy({
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: dir,
        limits: FAST,
        discovery: { ...discovery, port: impostor.port },
        onEvent: loud.add,
      }).catch((error: unknown) => error);
      expect((failure as RoamgateError).code).toBe('ROAMGATE_NO_GATEWAY');
      expect((failure as Error).message).toMatch(/^no trusted gateway found: .*--forget-network NAME/);
      const rejected = loud.all.find((notice) => notice.type === 'discovery-rejected')!;
      expect(rejected.level).toBe('error');
      expect(rejected.text).toMatch(
        /^REJECTED a gateway answer for network "testnet" from 127\.0\.0\.1:\d+: the key of network "testnet" changed: pinned SHA256:/,
      );
      expect(rejected.text).toContain('roamgate local --forget-network testnet');
      expect(JSON.parse(readFileSync(join(dir, 'networks.json'), 'utf8')).testnet.publicKey).toBe(key.publicKey);

      // Forgetting the network pins the next key it answers with.
      expect(forgetNetwork(dir, 'testnet')).toBe(true);
      const again = await startLocalProxy({
        listen: ALL_EPHEMERAL,
        stateDir: dir,
        limits: FAST,
        mode: 'direct',
        discovery: { ...discovery, port: impostor.port },
      }).catch((error: unknown) => error);
      // The impostor's URL leads nowhere, but its key was accepted as new: the failure is reaching it.
      expect((again as RoamgateError).code).toBe('ROAMGATE_GATEWAY_LOST');
      expect((again as Error).message).toMatch(/cannot reach the gateway at http:\/\/127\.0\.0\.1:9\/roamgate/);
      expect(JSON.parse(readFileSync(join(dir, 'networks.json'), 'utf8')).testnet.publicKey).not.toBe(key.publicKey);
    } finally {
      await impostor.close();
    }
  });

  test('two keys answering for one new network: neither is pinned', async () => {
    gateways.push(await startGateway(gatewayOptions(), true));
    const one = await startResponder(key.privateKeyPem, { name: 'cafe', url: urlOf(gateways[0]) });
    // Same port on another loopback address, so that one query list reaches both.
    const socket = createSocket('udp4');
    const rival = generateGatewayKey().privateKeyPem;
    socket.on('message', (data, from) => {
      const query = parseQuery(data);
      if (query)
        socket.send(
          JSON.stringify(signAnswer(rival, { name: 'cafe', url: urlOf(gateways[0]), nonce: query.nonce, issuedAt: Date.now() })),
          from.port,
          from.address,
        );
    });
    await new Promise<void>((resolve) => socket.bind(one.port, '127.0.0.2', resolve));
    try {
      const failure = await startLocalProxy({
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: dir,
        limits: FAST,
        discovery: { port: one.port, addresses: ['127.0.0.1', '127.0.0.2'], mdns: false, windowMs: 300 },
        onEvent: notices.add,
      }).catch((error: unknown) => error);
      expect((failure as Error).message).toMatch(/^no trusted gateway found/);
      expect(notices.all.filter((notice) => notice.type === 'discovery-rejected').map((notice) => notice.text)).toEqual([
        expect.stringMatching(
          /^REJECTED a gateway answer for network "cafe" from 127\.0\.0\.[12]:\d+: several gateways answered as network "cafe" with different keys; none was pinned \(pass --gateway-key KEY to choose\)\./,
        ),
        expect.stringMatching(/^REJECTED a gateway answer for network "cafe" from 127\.0\.0\.[12]:\d+: several gateways/),
      ]);
      expect(readFileSyncOrNull(join(dir, 'networks.json'))).toBeNull();
    } finally {
      await one.close();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  });

  test('a configured --gateway-key accepts only that key', async () => {
    gateways.push(await startGateway(gatewayOptions(), true));
    const other = await startResponder(generateGatewayKey().privateKeyPem, { name: 'elsewhere', url: urlOf(gateways[0]) });
    try {
      const failure = await startLocalProxy({
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: dir,
        limits: FAST,
        discovery: { port: other.port, addresses: ['127.0.0.1'], mdns: false, windowMs: 300, gatewayKey: key.publicKey },
        onEvent: notices.add,
      }).catch((error: unknown) => error);
      expect((failure as Error).message).toMatch(/^no roamgate gateway answered on this network/);
      expect(notices.text()).toMatch(/ignored a gateway answer for network "elsewhere" .*not the configured --gateway-key/);
    } finally {
      await other.close();
    }
  });

  test('no gateway on the network: start fails saying what to do', async () => {
    const silent = await refusedPort();
    const failure = await startLocalProxy({
      listen: ALL_EPHEMERAL,
      stateDir: dir,
      discovery: { port: silent, addresses: ['127.0.0.1'], mdns: false, windowMs: 200 },
    }).catch((error: unknown) => error);
    expect((failure as RoamgateError).code).toBe('ROAMGATE_NO_GATEWAY');
    expect((failure as Error).message).toBe(
      `no roamgate gateway answered on this network (UDP port ${silent} at 127.0.0.1, for 200 ms): pass --gateway URL, or ask the network's administrator whether its gateway answers discovery`,
    );
  });
});

describe('a browser-style CONNECT through the proxy the PAC file names', () => {
  test.each(['gateway', 'direct'] as const)(
    '%s mode: curl reads the PAC file, then fetches an HTTPS page through a CONNECT tunnel; other destinations get 403',
    async (mode) => {
      const tls = selfSignedCert();
      const dir = mkdtempSync(join(tmpdir(), 'roamgate-connect-'));
      const caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, tls.cert);
      const secure = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => res.end(`secure page ${req.url}\n`));
      await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
      const securePort = (secure.address() as AddressInfo).port;
      const gw = await startGateway(
        {
          mode,
          users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
          adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${securePort}`] } },
          access: [{ subject: 'authenticated', service: '*', allow: true }],
        },
        true,
      );
      const gatewayUrl = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
      const proxy = await startLocalProxy({
        gateway: gatewayUrl,
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: stateDir(),
        limits: FAST,
        onEvent: () => undefined,
      });
      try {
        const pac = await run('curl', ['-sS', `http://127.0.0.1:${proxy.listeners.pac!.port}/proxy.pac`]);
        const named = /PROXY (127\.0\.0\.1:\d+)/.exec(pac.stdout);
        expect(named).not.toBeNull();
        const page = await run('curl', [
          '-sS',
          '-v',
          '--cacert',
          caFile,
          '-x',
          `http://${named![1]}`,
          `https://127.0.0.1:${securePort}/inbox`,
        ]);
        expect(page.stdout).toBe('secure page /inbox\n');
        expect(page.stderr).toContain(`CONNECT 127.0.0.1:${securePort}`);
        const elsewhere = await run('curl', [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_connect}',
          '--cacert',
          caFile,
          '-x',
          `http://${named![1]}`,
          `https://127.0.0.1:${securePort + 1}/`,
        ]);
        expect(elsewhere.stdout).toBe('403');
        // The gateway's web proxy records the CONNECT itself, with the destination and who asked.
        await until(() => gw.logger.records().some((record) => record.server === `127.0.0.1:${securePort}`), 'the CONNECT record', 8_000);
        expect(gw.logger.records().find((record) => record.server === `127.0.0.1:${securePort}`)).toMatchObject({
          service: 'http-proxy',
          identity: 'alice',
          outcome: 'relayed',
        });
      } finally {
        await proxy.close();
        await gw.close();
        await new Promise<void>((resolve) => secure.close(() => resolve()));
      }
    },
  );
});
