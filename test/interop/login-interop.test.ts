import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient } from '../helpers/net';
import { selfSignedCert } from '../helpers/tls-cert';
import { until } from '../helpers/until';
import { bodyOf, curl, deliveredMail, python, pythonTls, startServers, stopServers, swaks } from './helpers';

jest.setTimeout(60_000);

/**
 * In-protocol login with real clients and real servers: the adapters greet the
 * client, take its login (POP3 USER/PASS and AUTH PLAIN, SMTP AUTH, NNTP
 * AUTHINFO) in cleartext where allowed, after STLS/STARTTLS or on an
 * implicit-TLS port, pick the user's own server, log in there (dovecot) or
 * not (opensmtpd, inn2 take no login from 127.0.0.1) and relay.
 */

type Mode = 'cleartext' | 'starttls' | 'implicit';
type Pop3Result = { greeting: string; count: number; size: number; list: string[]; messages: string[]; tls?: string | null };
type Pop3Login = { tls: string | null; command?: string; error?: string; count?: number };
type SmtpAuth = { tls: string | null; auth?: [number, string]; refused?: object; exception?: string; code?: number; message?: string };
type NntpRead = { tls?: string | null; name: string; count: number; article: string; exception?: string; message?: string };
type NntpPost = { tls?: string | null; response?: string; exception?: string; message?: string };

const RULES = [{ subject: 'authenticated', service: '*', allow: true }];
const MODES: Mode[] = ['cleartext', 'starttls', 'implicit'];
const TLS_VERSION = /^TLSv1\.[23]$/;

describe('in-protocol login with real clients, through the gateway to Debian servers', () => {
  let env: Record<string, string>;
  let work: string;
  let caFile: string;
  /** `login: {}`: logins only over TLS (STLS/STARTTLS, or the implicit-TLS ports). */
  let secure: TestGateway;
  /** `login: { allowCleartext: true }`, no certificate: the cleartext case of each client, swaks (built without TLS) and the raw sockets. */
  let cleartext: TestGateway;

  beforeAll(async () => {
    env = startServers();
    work = mkdtempSync(join(tmpdir(), 'roamgate-login-interop-'));
    const tls = selfSignedCert();
    caFile = join(work, 'cert.pem');
    const keyFile = join(work, 'key.pem');
    writeFileSync(caFile, tls.cert);
    writeFileSync(keyFile, tls.key);
    const users = [
      { id: 'alice', passwordHash: await hashPassword('alice-pw') },
      { id: 'bob', passwordHash: await hashPassword('bob-pw') },
    ];
    const servers = {
      pop3: [
        { host: '127.0.0.1', port: Number(env.POP3_PORT_A), for: 'user:alice' },
        { host: '127.0.0.1', port: Number(env.POP3_PORT_B), for: 'user:bob' },
      ],
      // opensmtpd offers no AUTH (its STARTTLS is broken on Debian 12), inn2 wants no login from 127.0.0.1.
      smtp: [{ host: '127.0.0.1', port: Number(env.SMTP_PORT), credentials: 'none' as const }],
      nntp: [{ host: '127.0.0.1', port: Number(env.NNTP_PORT), credentials: 'none' as const }],
    };
    const tlsAdapter = { port: 0, tlsPort: 0, login: {}, tls: { cert: caFile, key: keyFile } };
    secure = await startGateway({ users, access: RULES, servers, adapters: { pop3: tlsAdapter, smtp: tlsAdapter, nntp: tlsAdapter } });
    const plainAdapter = { port: 0, login: { allowCleartext: true } };
    cleartext = await startGateway({
      users,
      access: RULES,
      servers,
      adapters: { pop3: plainAdapter, smtp: plainAdapter, nntp: plainAdapter },
    });
  });

  afterAll(async () => {
    await secure?.close();
    await cleartext?.close();
    stopServers();
  });

  /** Where a client connects for a mode, and clients.py with the matching TLS settings. */
  function via(mode: Mode, service: 'pop3' | 'smtp' | 'nntp') {
    const gw = mode === 'cleartext' ? cleartext : secure;
    const port = String(mode === 'implicit' ? secure.ports[`${service}-tls`] : gw.ports[service]);
    const run = <T>(...args: string[]): Promise<T> =>
      mode === 'cleartext' ? python<T>(...args) : pythonTls<T>({ mode, caFile, servername: 'localhost' }, ...args);
    return { gw, port, run };
  }

  /** The records of `service` written after `mark` (relays are recorded when they end), once there are `count`. */
  async function recordsSince(gw: TestGateway, service: string, mark: number, count: number): Promise<ConnectionRecord[]> {
    const since = () =>
      gw.logger
        .records()
        .slice(mark)
        .filter((record) => record.service === service);
    // After 10 s, whatever there is: the caller's expectations say what is missing.
    await until(() => since().length >= count, `${count} ${service} records`, 10_000, 20).catch(() => undefined);
    return since();
  }

  /** A session straight to a POP3 server, run once per set of arguments (nothing here DELEs, so the answer stays the same). */
  const sessions = new Map<string, Promise<unknown>>();
  function straight<T>(...args: string[]): Promise<T> {
    const key = args.join(' ');
    if (!sessions.has(key)) sessions.set(key, python<T>(...args));
    return sessions.get(key) as Promise<T>;
  }

  const expectTls = (mode: Mode, tls: string | null | undefined) =>
    mode === 'cleartext' ? expect(tls ?? null).toBeNull() : expect(tls).toMatch(TLS_VERSION);

  describe('POP3: one adapter, each user on their own dovecot', () => {
    const MAILBOXES = [
      { user: 'alice', port: () => env.POP3_PORT_A, subject: 'hello alice from A' },
      { user: 'bob', port: () => env.POP3_PORT_B, subject: 'hello bob from B' },
    ];

    test.each(MODES)(
      'poplib USER/PASS (%s): alice reads her mailbox on dovecot A, bob his on dovecot B, as straight from that dovecot',
      async (mode) => {
        const { gw, port, run } = via(mode, 'pop3');
        const mark = gw.logger.records().length;
        for (const mailbox of MAILBOXES) {
          const through = await run<Pop3Result>('pop3', '127.0.0.1', port, mailbox.user, `${mailbox.user}-pw`);
          const direct = await straight<Pop3Result>('pop3', '127.0.0.1', mailbox.port(), mailbox.user, `${mailbox.user}-pw`);
          expectTls(mode, through.tls);
          // The adapter greets (it must take the login before it knows the server); the rest is dovecot's.
          expect(through.greeting).toMatch(/^\+OK .*roamgate/);
          expect(direct.greeting).toMatch(/^\+OK Dovecot/);
          const { greeting: _through, tls: _tls, ...session } = through;
          const { greeting: _direct, ...expected } = direct;
          expect(session).toEqual(expected);
          expect(through.count).toBe(1);
          const message = Buffer.from(through.messages[0], 'base64').toString('latin1');
          expect(message).toContain(`\r\nSubject: ${mailbox.subject}\r\n`);
          expect(message).toContain('\r\n.dotted line\r\n');
        }
        const records = await recordsSince(gw, 'pop3', mark, 2);
        expect(records).toEqual([
          expect.objectContaining({ service: 'pop3', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.POP3_PORT_A}` }),
          expect.objectContaining({ service: 'pop3', identity: 'bob', outcome: 'relayed', server: `127.0.0.1:${env.POP3_PORT_B}` }),
        ]);
      },
    );

    test('curl logs in with AUTH PLAIN after STLS, and on the pop3s port; RETR gives the bytes dovecot gives', async () => {
      const mark = secure.logger.records().length;
      for (const mailbox of MAILBOXES) {
        const credentials = ['-u', `${mailbox.user}:${mailbox.user}-pw`];
        const direct = await curl([`pop3://127.0.0.1:${mailbox.port()}/1`, ...credentials]);
        expect(direct.code).toBe(0);
        expect(direct.stdout.toString()).toContain(`\r\nSubject: ${mailbox.subject}\r\n`);
        const stls = await curl(['-v', '--ssl-reqd', '--cacert', caFile, `pop3://127.0.0.1:${secure.ports.pop3}/1`, ...credentials]);
        expect(stls.code).toBe(0);
        expect(stls.stderr).toMatch(/^> STLS\r?$/m);
        // curl sends the PLAIN response after `+ ` (no SASL-IR for POP3 unless --sasl-ir).
        expect(stls.stderr).toMatch(/^> AUTH PLAIN\b/m);
        expect(stls.stdout.equals(direct.stdout)).toBe(true);
        const implicit = await curl([
          '-v',
          '--cacert',
          caFile,
          `pop3s://localhost:${secure.ports['pop3-tls']}/1`,
          '--resolve',
          `localhost:${secure.ports['pop3-tls']}:127.0.0.1`,
          ...credentials,
        ]);
        expect(implicit.code).toBe(0);
        expect(implicit.stderr).toMatch(/^> AUTH PLAIN\b/m);
        expect(implicit.stdout.equals(direct.stdout)).toBe(true);
      }
      const records = await recordsSince(secure, 'pop3', mark, 4);
      expect(records.map((record) => [record.identity, record.outcome, record.server])).toEqual([
        ['alice', 'relayed', `127.0.0.1:${env.POP3_PORT_A}`],
        ['alice', 'relayed', `127.0.0.1:${env.POP3_PORT_A}`],
        ['bob', 'relayed', `127.0.0.1:${env.POP3_PORT_B}`],
        ['bob', 'relayed', `127.0.0.1:${env.POP3_PORT_B}`],
      ]);
    });

    /** USER/PASS, then RETR 1 and QUIT in one write, on a raw socket; returns what came back after the login. */
    async function rawRetr(port: number, user: string): Promise<{ sent: string; afterLogin: string }> {
      const client = await RawClient.open(port);
      await client.waitFor((text) => /^\+OK[^\r]*\r\n$/.test(text));
      client.send(`USER ${user}\r\n`);
      await client.waitFor((text) => text.split('\r\n').length === 3);
      client.send(`PASS ${user}-pw\r\n`);
      await client.waitFor((text) => text.split('\r\n').length === 4);
      expect(client.received).toMatch(/\r\n\+OK Logged in\.?\r\n$/);
      const before = client.received.length;
      const sent = 'RETR 1\r\nQUIT\r\n';
      client.send(sent);
      await client.closed;
      return { sent, afterLogin: client.received.slice(before) };
    }

    test("a raw RETR reply through the adapter is dovecot's, byte for byte: dot-stuffing and terminator included", async () => {
      const through = await rawRetr(cleartext.ports.pop3, 'bob');
      const direct = await rawRetr(Number(env.POP3_PORT_B), 'bob');
      expect(through.afterLogin).toContain('\r\nSubject: hello bob from B\r\n');
      expect(through.afterLogin).toContain('\r\n..dotted line\r\n');
      expect(through.afterLogin).toMatch(/\r\n\.\r\n\+OK Logging out\.\r\n$/);
      expect(through.afterLogin).toBe(direct.afterLogin);
    });

    test('the record of a connection relayed after the login counts the bytes relayed', async () => {
      const mark = cleartext.logger.records().length;
      const { sent, afterLogin } = await rawRetr(cleartext.ports.pop3, 'alice');
      const [record] = await recordsSince(cleartext, 'pop3', mark, 1);
      expect(record).toMatchObject({ identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.POP3_PORT_A}` });
      expect(record.bytesFromClient).toBeGreaterThanOrEqual(sent.length);
      expect(record.bytesFromServer).toBeGreaterThanOrEqual(afterLogin.length);
    });

    test('a wrong password gets -ERR [AUTH]; USER/PASS before STLS is refused where cleartext is not allowed', async () => {
      const mark = secure.logger.records().length;
      const wrong = await pythonTls<Pop3Login>(
        { mode: 'starttls', caFile, servername: 'localhost' },
        'pop3-login',
        '127.0.0.1',
        String(secure.ports.pop3),
        'alice',
        'wrong',
      );
      expect(wrong).toEqual({ tls: expect.stringMatching(TLS_VERSION), command: 'PASS', error: expect.stringMatching(/^-ERR \[AUTH\] /) });
      const plain = await python<Pop3Login>('pop3-login', '127.0.0.1', String(secure.ports.pop3), 'alice', 'alice-pw');
      expect(plain).toEqual({ tls: null, command: 'USER', error: expect.stringMatching(/^-ERR .*STLS/) });
      const records = await recordsSince(secure, 'pop3', mark, 2);
      expect(records[0]).toMatchObject({
        service: 'pop3',
        identity: 'anonymous',
        outcome: 'refused',
        reason: 'wrong user name or password',
      });
      expect(records.every((record) => record.server === undefined)).toBe(true);
    });
  });

  describe('SMTP: AUTH at the adapter, opensmtpd behind it takes no login', () => {
    test.each(MODES)('smtplib logs in with AUTH (%s) and sends; opensmtpd delivers the message unchanged', async (mode) => {
      const { gw, port, run } = via(mode, 'smtp');
      const mark = gw.logger.records().length;
      const messageId = `<smtplib-${mode}-${Date.now()}@interop.example.test>`;
      const body = `.a line starting with a dot\r\n..and two\r\nsent over ${mode}\r\n`;
      const file = join(work, `smtplib-${mode}.eml`);
      writeFileSync(
        file,
        `From: alice@example.test\r\nTo: bob@example.test\r\nSubject: smtplib ${mode}\r\nMessage-ID: ${messageId}\r\n\r\n${body}`,
      );
      const sent = await run<SmtpAuth>('smtp-auth', '127.0.0.1', port, 'alice', 'alice-pw', 'alice@example.test', 'bob@example.test', file);
      expect(sent).toEqual(expect.objectContaining({ auth: [235, expect.any(String)], refused: {} }));
      expectTls(mode, sent.tls);
      const delivered = await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId);
      expect(bodyOf(delivered).toString('latin1')).toBe(body.replace(/\r\n/g, '\n'));
      const [record] = await recordsSince(gw, 'smtp', mark, 1);
      expect(record).toMatchObject({ service: 'smtp', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.SMTP_PORT}` });
    });

    test('swaks logs in with AUTH PLAIN where cleartext is allowed, and sends', async () => {
      const mark = cleartext.logger.records().length;
      const messageId = `<swaks-${Date.now()}@interop.example.test>`;
      const result = await swaks([
        '--server',
        `127.0.0.1:${cleartext.ports.smtp}`,
        '--auth',
        'PLAIN',
        '--auth-user',
        'bob',
        '--auth-password',
        'bob-pw',
        '--from',
        'bob@example.test',
        '--to',
        'alice@example.test',
        '--header',
        `Message-ID: ${messageId}`,
        '--body',
        'hello from swaks\n.dotted line\nbye',
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^ -> AUTH PLAIN /m);
      expect(result.stdout).toMatch(/^<- {2}235 /m);
      const delivered = await deliveredMail(env.SMTP_MAILDIR, 'alice', messageId);
      // swaks ends every body with two empty lines of its own (its transcript shows them too).
      expect(bodyOf(delivered).toString()).toBe('hello from swaks\n.dotted line\nbye\n\n\n');
      const [record] = await recordsSince(cleartext, 'smtp', mark, 1);
      expect(record).toMatchObject({ service: 'smtp', identity: 'bob', outcome: 'relayed', server: `127.0.0.1:${env.SMTP_PORT}` });
    });

    test('a wrong password is SMTPAuthenticationError 535; before STARTTLS no AUTH is offered and AUTH gets 538', async () => {
      const file = join(work, 'never-sent.eml');
      writeFileSync(file, 'Subject: never sent\r\n\r\nx\r\n');
      const wrong = await pythonTls<SmtpAuth>(
        { mode: 'starttls', caFile, servername: 'localhost' },
        'smtp-auth',
        '127.0.0.1',
        String(secure.ports.smtp),
        'bob',
        'wrong',
        'bob@example.test',
        'alice@example.test',
        file,
      );
      expect(wrong).toMatchObject({ tls: expect.stringMatching(TLS_VERSION), exception: 'SMTPAuthenticationError', code: 535 });
      const plain = await python<SmtpAuth>(
        'smtp-auth',
        '127.0.0.1',
        String(secure.ports.smtp),
        'bob',
        'bob-pw',
        'bob@example.test',
        'alice@example.test',
        file,
      );
      expect(plain).toMatchObject({ exception: 'SMTPNotSupportedError' });
      const raw = await RawClient.open(secure.ports.smtp);
      await raw.waitFor((text) => /^220 [^\r]*\r\n$/.test(text));
      raw.send('EHLO raw.example.test\r\n');
      await raw.waitFor((text) => /\r\n250 [^\r]*\r\n$/.test(text));
      expect(raw.received).toMatch(/^250[- ]STARTTLS\r$/m);
      expect(raw.received).not.toMatch(/AUTH/);
      raw.send(`AUTH PLAIN ${Buffer.from('\0bob\0bob-pw').toString('base64')}\r\n`);
      await raw.waitFor((text) => /\r\n538 [^\r]*\r\n$/.test(text));
      expect(raw.received).toMatch(/\r\n538 5\.7\.11 [^\r]*\r\n$/);
      raw.close();
    });

    // opensmtpd offers no PIPELINING, and the adapter cannot know the server before the login:
    // so by default (login.pipelining off) it does not offer PIPELINING either, and a client
    // speaks one command at a time (RFC 2920). Pipelining through a server that supports it is
    // tested with smtp-server in test/integration/in-protocol-login.test.ts.
    test('without login.pipelining, PIPELINING is not offered, and a command-at-a-time session reaches opensmtpd', async () => {
      const mark = cleartext.logger.records().length;
      const messageId = `<one-by-one-${Date.now()}@interop.example.test>`;
      const client = await RawClient.open(cleartext.ports.smtp);
      const replies = () => client.received.split('\r\n').filter((line) => /^\d{3} /.test(line)).length;
      const step = async (line: string) => {
        const before = replies();
        client.send(line);
        await client.waitFor(() => replies() > before, 10_000);
      };
      await client.waitFor((text) => /^220 [^\r]*\r\n$/.test(text));
      await step('EHLO one.example.test\r\n');
      expect(client.received).not.toMatch(/PIPELINING/);
      await step(`AUTH PLAIN ${Buffer.from('\0alice\0alice-pw').toString('base64')}\r\n`);
      await step('MAIL FROM:<alice@example.test>\r\n');
      await step('RCPT TO:<bob@example.test>\r\n');
      await step('DATA\r\n');
      await step(
        `From: alice@example.test\r\nTo: bob@example.test\r\nMessage-ID: ${messageId}\r\nSubject: one by one\r\n\r\n..a dot-stuffed line\r\nbye\r\n.\r\n`,
      );
      await step('QUIT\r\n');
      const finals = client.received
        .split('\r\n')
        .filter((line) => /^\d{3} /.test(line))
        .map((line) => line.slice(0, 3));
      expect(finals).toEqual(['220', '250', '235', '250', '250', '354', '250', '221']);
      client.close();
      const delivered = await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId);
      expect(bodyOf(delivered).toString()).toBe('.a dot-stuffed line\nbye\n');
      const [record] = await recordsSince(cleartext, 'smtp', mark, 1);
      expect(record).toMatchObject({ service: 'smtp', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.SMTP_PORT}` });
    });
  });

  describe('NNTP: AUTHINFO at the adapter, inn2 behind it takes no login', () => {
    test.each(MODES)(
      'nntplib with AUTHINFO (%s) reads GROUP and ARTICLE as inn2 serves them, and POSTs an article that reads back unchanged',
      async (mode) => {
        const { gw, port, run } = via(mode, 'nntp');
        const mark = gw.logger.records().length;
        const read = await run<NntpRead>('nntp-auth-read', '127.0.0.1', port, 'alice', 'alice-pw', 'local.test', env.NNTP_SEED_MSGID);
        const direct = await python<NntpRead>('nntp-read', '127.0.0.1', env.NNTP_PORT, 'local.test', env.NNTP_SEED_MSGID);
        expectTls(mode, read.tls);
        expect(read.name).toBe('local.test');
        expect(read.count).toBe(direct.count);
        expect(read.article).toBe(direct.article);
        expect(Buffer.from(read.article, 'base64').toString()).toContain('\r\n.dotted line');

        const messageId = `<post-${mode}-${Date.now()}@interop.example.test>`;
        const body = `.a line starting with a dot\r\n..two dots\r\n.\r\nposted over ${mode}\r\n`;
        const file = join(work, `post-${mode}.txt`);
        writeFileSync(
          file,
          `From: alice@example.test\r\nNewsgroups: local.test\r\nSubject: posted over ${mode}\r\nMessage-ID: ${messageId}\r\n\r\n${body}`,
        );
        const posted = await run<NntpPost>('nntp-auth-post', '127.0.0.1', port, 'alice', 'alice-pw', file);
        expect(posted.response).toMatch(/^240 /);
        expectTls(mode, posted.tls);
        const back = await run<NntpRead>('nntp-auth-read', '127.0.0.1', port, 'alice', 'alice-pw', 'local.test', messageId);
        expect(bodyOf(Buffer.from(back.article, 'base64')).toString() + '\r\n').toBe(body);

        const records = await recordsSince(gw, 'nntp', mark, 3);
        expect(records).toEqual(
          Array(3).fill(
            expect.objectContaining({ service: 'nntp', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.NNTP_PORT}` }),
          ),
        );
      },
    );

    test('a wrong password is 481; AUTHINFO before STARTTLS is refused (483) where cleartext is not allowed', async () => {
      const wrong = await pythonTls<NntpRead>(
        { mode: 'starttls', caFile, servername: 'localhost' },
        'nntp-auth-read',
        '127.0.0.1',
        String(secure.ports.nntp),
        'bob',
        'wrong',
        'local.test',
        env.NNTP_SEED_MSGID,
      );
      expect(wrong.exception).toMatch(/^NNTP(Temporary|Permanent)Error$/);
      expect(wrong.message).toMatch(/^481 /);
      const plain = await python<NntpRead>(
        'nntp-auth-read',
        '127.0.0.1',
        String(secure.ports.nntp),
        'bob',
        'bob-pw',
        'local.test',
        env.NNTP_SEED_MSGID,
      );
      expect(plain.exception).toBe('NNTPTemporaryError');
      expect(plain.message).toMatch(/^483 /);
    });
  });
});
