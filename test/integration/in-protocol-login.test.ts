import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { REFUSAL_LINGER_MS } from '../../net/last-word';
import { RawClient } from '../helpers/net';
import { until } from '../helpers/until';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { selfSignedCert } from '../helpers/tls-cert';

jest.setTimeout(20_000);

const tls = selfSignedCert();
const dir = mkdtempSync(join(tmpdir(), 'roamgate-login-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');
writeFileSync(certFile, tls.cert);
writeFileSync(keyFile, tls.key);

let users: Array<{ id: string; passwordHash: string; attributes: Record<string, string> }>;
beforeAll(async () => {
  users = [
    { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { department: 'sales' } },
    { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: { department: 'research' } },
  ];
});

const RULES = [{ subject: 'authenticated', service: '*', allow: true }];

function mailer(port: number, user: string, pass: string, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    auth: { user, pass },
    tls: { ca: tls.cert, servername: 'localhost' },
    ...extra,
  });
}

/** The first line a TLS client hears from `port` (empty when the connection closes first). */
function firstLineOverTls(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: tls.cert, servername: 'localhost' });
    let heard = '';
    const done = () => {
      socket.destroy();
      resolve(heard.split('\r\n')[0]!);
    };
    socket.on('data', (chunk: Buffer) => {
      heard += chunk.toString('latin1');
      if (heard.includes('\r\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}

const message = (subject: string) => ({ from: 'alice@example.test', to: 'bob@example.test', subject, text: 'hello' });

describe('SMTP in-protocol login', () => {
  let gw: TestGateway | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    while (cleanups.length) await cleanups.pop()!();
  });

  async function upstreamFor(accounts: Record<string, string>, banner = 'upstream') {
    const upstream = await startSmtpUpstream({ users: accounts, banner });
    cleanups.push(upstream.close);
    return upstream;
  }

  test.each(['PLAIN', 'LOGIN'])(
    'AUTH %s over cleartext (allowed): the user is logged in at the server with their own credentials',
    async (method) => {
      const upstream = await upstreamFor({ alice: 'alice-pw' });
      gw = await startGateway({
        users,
        access: RULES,
        adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
        servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      });
      await mailer(gw.ports.smtp, 'alice', 'alice-pw', { authMethod: method, ignoreTLS: true }).sendMail(message(`auth ${method}`));
      expect(upstream.messages).toHaveLength(1);
      expect(upstream.messages[0].user).toBe('alice');
      const [record] = await gw.logger.waitForRecords(1);
      expect(record).toMatchObject({ service: 'smtp', identity: 'alice', outcome: 'relayed' });
    },
  );

  test('a wrong password is a proper login failure (535), never reaching a server', async () => {
    const upstream = await upstreamFor({ alice: 'alice-pw' });
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    const error = (await mailer(gw.ports.smtp, 'alice', 'wrong', { ignoreTLS: true })
      .sendMail(message('x'))
      .catch((e: unknown) => e)) as { responseCode?: number; code?: string };
    expect(error.code).toBe('EAUTH');
    expect(error.responseCode).toBe(535);
    expect(upstream.logins).toEqual([]);
  });

  test("the server's refusal of the user's credentials reaches the client as a login failure, not a hang", async () => {
    const upstream = await upstreamFor({ alice: 'another-password' });
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    const error = (await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true })
      .sendMail(message('x'))
      .catch((e: unknown) => e)) as { responseCode?: number; code?: string };
    expect(error.code).toBe('EAUTH');
    expect(error.responseCode).toBe(535);
  });

  test('cleartext logins are refused by default; STARTTLS then AUTH works (certificate verified by the client)', async () => {
    const upstream = await upstreamFor({ alice: 'alice-pw' });
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: {}, tls: { cert: certFile, key: keyFile } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    const plain = (await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true })
      .sendMail(message('x'))
      .catch((e: unknown) => e)) as Error;
    expect(plain).toBeInstanceOf(Error);
    expect(upstream.logins).toEqual([]);
    await mailer(gw.ports.smtp, 'alice', 'alice-pw', { requireTLS: true }).sendMail(message('over STARTTLS'));
    expect(upstream.messages.map((m) => m.user)).toEqual(['alice']);
  });

  test('an implicit-TLS port (465 style) logs in and relays', async () => {
    const upstream = await upstreamFor({ alice: 'alice-pw' });
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, tlsPort: 0, login: {}, tls: { cert: certFile, key: keyFile } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    // Port 0 twice would clash in validation only for fixed ports; the TLS listener got its own port.
    const tlsPort = gw.ports['smtp-tls'];
    expect(tlsPort).toBeGreaterThan(0);
    await mailer(tlsPort, 'alice', 'alice-pw', { secure: true }).sendMail(message('implicit TLS'));
    expect(upstream.messages.map((m) => m.user)).toEqual(['alice']);
  });

  test.each([
    ['with in-protocol login', { login: {} }],
    ['relayed transparently', {}],
  ])('implicit TLS, %s: a failed handshake gives its place back (maxClients: 1), and the next client is served', async (_, extra) => {
    const upstream = await upstreamFor({ alice: 'alice-pw' });
    gw = await startGateway({
      users,
      access: [...RULES, { subject: 'anonymous', service: 'smtp', allow: true }],
      adapters: { smtp: { port: 0, tlsPort: 0, maxClients: 1, tls: { cert: certFile, key: keyFile }, ...extra } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    const tlsPort = gw.ports['smtp-tls']!;
    // Not a TLS client: the handshake fails, and the gateway closes the connection.
    const garbage = connect({ host: '127.0.0.1', port: tlsPort });
    garbage.on('error', () => undefined);
    garbage.write('EHLO not-tls\r\n'.repeat(20));
    await new Promise((resolve) => garbage.once('close', resolve));
    // Served (a greeting, the gateway's or the upstream's), not turned away as the one client too many.
    const greetings: string[] = [];
    await until(
      async () => {
        greetings.push(await firstLineOverTls(tlsPort));
        return greetings.at(-1)!.startsWith('220 ');
      },
      () => `a greeting over TLS, got ${JSON.stringify(greetings)}`,
    );
  });

  test("per-user servers: alice's own server for alice, the general one for bob; per-server credentials used at the server", async () => {
    const alicesServer = await upstreamFor({ alice: 'alice-pw' }, 'alice server');
    const general = await upstreamFor({ relay: 'relay-secret' }, 'general server');
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: {
        smtp: [
          { host: '127.0.0.1', port: general.port, credentials: { username: 'relay', password: 'relay-secret' } },
          { host: '127.0.0.1', port: alicesServer.port, for: 'user:alice' },
        ],
      },
    });
    await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true }).sendMail(message('alice'));
    await mailer(gw.ports.smtp, 'bob', 'bob-pw', { ignoreTLS: true }).sendMail(message('bob'));
    expect(alicesServer.logins).toEqual(['alice']);
    expect(general.logins).toEqual(['relay']);
  });

  test('with login.pipelining, commands pipelined behind AUTH and after 235 pass in order (RFC 2920)', async () => {
    const upstream = await upstreamFor({ alice: 'alice-pw' });
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true, pipelining: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    const client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 '));
    client.send('EHLO pipeliner\r\n');
    await client.waitFor((text) => /PIPELINING/.test(text) && /\r\n250 [^\r]*\r\n$/.test(text));
    // AUTH and the whole transaction in one write: the adapter holds the rest while it checks the login.
    client.send(
      `AUTH PLAIN ${Buffer.from('\0alice\0alice-pw').toString('base64')}\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n`,
    );
    await client.waitFor((text) => text.includes('354 '));
    client.send('Subject: pipelined\r\n\r\n..dotted\r\nbody\r\n.\r\nQUIT\r\n');
    await client.closed;
    const finals = client.received
      .split('\r\n')
      .filter((line) => /^\d{3} /.test(line))
      .map((line) => line.slice(0, 3));
    expect(finals).toEqual(['220', '250', '235', '250', '250', '354', '250', '221']);
    expect(upstream.messages[0].raw.toString()).toBe('Subject: pipelined\r\n\r\n.dotted\r\nbody\r\n');
    expect(upstream.messages[0].user).toBe('alice');
  });

  test('a custom ServerInfoSource decides per user, as nginx auth_http does', async () => {
    const forAlice = await upstreamFor({ alice: 'alice-pw' }, 'chosen for alice');
    const forOthers = await upstreamFor({ bob: 'bob-pw' }, 'chosen for others');
    const seen: string[] = [];
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: {
        resolve: (service, identity) => {
          seen.push(`${service}:${identity.kind === 'user' ? identity.user.id : 'anonymous'}`);
          const port = identity.kind === 'user' && identity.user.id === 'alice' ? forAlice.port : forOthers.port;
          return Promise.resolve([{ host: '127.0.0.1', port, priority: 10 }]);
        },
      },
    });
    await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true }).sendMail(message('alice'));
    await mailer(gw.ports.smtp, 'bob', 'bob-pw', { ignoreTLS: true }).sendMail(message('bob'));
    expect(forAlice.logins).toEqual(['alice']);
    expect(forOthers.logins).toEqual(['bob']);
    expect(seen).toEqual(['smtp:alice', 'smtp:bob']);
  });

  test('a server reached over STARTTLS with its certificate verified against the configured CA', async () => {
    const upstream = await startSmtpUpstream({ users: { alice: 'alice-pw' }, tls });
    cleanups.push(upstream.close);
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port, tls: { mode: 'starttls', ca: certFile, servername: 'localhost' } }] },
    });
    await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true }).sendMail(message('to a TLS server'));
    expect(upstream.logins).toEqual(['alice']);
    expect(upstream.messages.map((m) => m.secure)).toEqual([true]);
  });

  test('a server reached with implicit TLS (465 style), its certificate verified', async () => {
    const upstream = await startSmtpUpstream({ users: { alice: 'alice-pw' }, tls, implicitTls: true });
    cleanups.push(upstream.close);
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port, tls: { mode: 'implicit', ca: certFile, servername: 'localhost' } }] },
    });
    await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true }).sendMail(message('to an implicit-TLS server'));
    expect(upstream.logins).toEqual(['alice']);
    expect(upstream.messages.map((m) => m.secure)).toEqual([true]);
  });

  test('a server whose certificate does not verify is never sent the password', async () => {
    const other = selfSignedCert();
    const upstream = await startSmtpUpstream({ users: { alice: 'alice-pw' }, tls: other });
    cleanups.push(upstream.close);
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port, tls: { mode: 'starttls', ca: certFile, servername: 'localhost' } }] },
    });
    const error = (await mailer(gw.ports.smtp, 'alice', 'alice-pw', { ignoreTLS: true })
      .sendMail(message('x'))
      .catch((e: unknown) => e)) as { responseCode?: number };
    expect(error.responseCode).toBe(421);
    expect(upstream.logins).toEqual([]);
  });

  test('pre-login limits: too many commands without login, and an overlong line, end with a protocol error and a close', async () => {
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true, maxUnauthenticatedCommands: 3, maxLineLength: 512 } } },
      servers: {},
    });
    const chatty = await RawClient.open(gw.ports.smtp);
    await chatty.waitFor((text) => text.startsWith('220 '));
    chatty.send('NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n');
    await chatty.closed;
    expect(chatty.received).toMatch(/\r\n421 4\.7\.0 [^\r]*\r\n$/);
    const long = await RawClient.open(gw.ports.smtp);
    await long.waitFor((text) => text.startsWith('220 '));
    long.send(`EHLO ${'x'.repeat(600)}\r\n`);
    await long.closed;
    expect(long.received).toMatch(/\r\n500 5\.5\.6 [^\r]*\r\n$/);
  });

  test('a client with a lease is relayed transparently: the greeting is the server\u2019s own', async () => {
    const upstream = await upstreamFor({ alice: 'alice-pw' }, 'the real server');
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
    });
    let client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.includes('\r\n'));
    expect(client.received).toMatch(/roamgate/);
    client.close();
    const { default: request } = await import('supertest');
    await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201);
    client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.includes('\r\n'));
    expect(client.received).toMatch(/the real server/);
    client.close();
  });
});

describe('a login session that has said its last word', () => {
  test('keeps its place among maxClients until its socket is gone, and a client that trickles bytes is still cut', async () => {
    const upstream = await startSmtpUpstream();
    const gw = await startGateway({
      adapters: { smtp: { port: 0, maxClients: 1, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      users,
      access: RULES,
    });
    try {
      // QUIT before logging in: the gateway answers 221 and ends its side; the client never closes its own.
      const stubborn = connect({ host: '127.0.0.1', port: gw.ports.smtp, allowHalfOpen: true });
      let received = '';
      let closedAt = 0;
      const started = Date.now();
      stubborn.setEncoding('latin1');
      stubborn.on('data', (chunk: string) => (received += chunk));
      stubborn.on('error', () => undefined);
      stubborn.on('close', () => (closedAt = Date.now()));
      await until(() => received.startsWith('220 '), 'the greeting');
      stubborn.write('QUIT\r\n');
      await until(() => received.includes('\r\n221 '), 'the 221');
      // It keeps sending, which would keep re-arming an idle timer.
      const trickle = setInterval(() => stubborn.writable && stubborn.write('x'), 300);
      try {
        const second = await RawClient.open(gw.ports.smtp);
        await second.closed;
        expect(second.received).toMatch(/^421 4\.3\.2 too many clients \(limit 1\)/);
        await until(() => closedAt > 0, 'the lingering client to be cut', REFUSAL_LINGER_MS + 3_000, 50);
        expect(closedAt - started).toBeLessThan(REFUSAL_LINGER_MS + 3_000);
      } finally {
        clearInterval(trickle);
      }
      // Its place is free again.
      const third = await RawClient.open(gw.ports.smtp);
      await third.waitFor((text) => text.startsWith('220 '));
      third.close();
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('web proxy Basic login', () => {
  let web: Server;
  let webPort: number;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    web = createServer((_req, res) => res.end('behind the proxy\n'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => web.close(() => resolve())));
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  const curl = (args: string[]) =>
    new Promise<string>((resolve) =>
      execFile('curl', ['-s', '--noproxy', '', '-o', '/dev/null', '-w', '%{http_code}', ...args], (_error, stdout) => resolve(stdout)),
    );

  test('407 challenges a client without credentials; curl --proxy-user answers it; a wrong password gets 407 again', async () => {
    gw = await startGateway({
      users,
      access: RULES,
      adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${webPort}`], login: { allowCleartext: true } } },
    });
    const proxy = `http://127.0.0.1:${gw.ports['http-proxy']}`;
    expect(await curl(['-x', proxy, `http://127.0.0.1:${webPort}/`])).toBe('407');
    expect(await curl(['-x', proxy, '--proxy-user', 'alice:alice-pw', `http://127.0.0.1:${webPort}/`])).toBe('200');
    expect(await curl(['-x', proxy, '--proxy-user', 'alice:wrong', `http://127.0.0.1:${webPort}/`])).toBe('407');
    expect(await curl(['-p', '-x', proxy, '--proxy-user', 'bob:bob-pw', `http://127.0.0.1:${webPort}/`])).toBe('200');
  });

  test('without login.allowCleartext, Basic credentials over the cleartext port are refused (403)', async () => {
    gw = await startGateway({ users, access: RULES, adapters: { 'http-proxy': { port: 0, allow: [`127.0.0.1:${webPort}`] } } });
    expect(
      await curl(['-x', `http://127.0.0.1:${gw.ports['http-proxy']}`, '--proxy-user', 'alice:alice-pw', `http://127.0.0.1:${webPort}/`]),
    ).toBe('403');
  });
});
