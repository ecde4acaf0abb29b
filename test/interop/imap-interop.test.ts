import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import { startLocalProxy } from '../../local/local-proxy';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient } from '../helpers/net';
import { selfSignedCert } from '../helpers/tls-cert';
import { until } from '../helpers/until';
import { curl, python, pythonTls, startServers, stopServers } from './helpers';

jest.setTimeout(60_000);

/**
 * The imap adapter with real clients (python imaplib, curl) and Debian's
 * dovecot-imapd: the adapter greets, takes LOGIN or AUTHENTICATE PLAIN in
 * cleartext where allowed, after STARTTLS or on the implicit-TLS port, picks
 * the user's own dovecot (alice on A, bob on B), logs in there and relays:
 * SELECT, FETCH of a 1 MiB message, APPEND with a literal and IDLE are
 * dovecot's, byte for byte.
 */

type Mode = 'cleartext' | 'starttls' | 'implicit';
type Mechanism = 'login' | 'plain';
interface ImapRead {
  greeting: string;
  tls: string | null;
  login: [string, string];
  loginCapabilities: string;
  capabilities: string;
  count: number;
  messages: string[];
}
type ImapLogin = { tls: string | null; login?: [string, string]; exception?: string; message?: string };
type ImapAppend = { tls: string | null; append: [string, string]; message: string };
type ImapIdle = { continuation: string; seen: string[]; done: string };

const RULES = [{ subject: 'authenticated', service: '*', allow: true }];
const MODES: Mode[] = ['cleartext', 'starttls', 'implicit'];
const TLS_VERSION = /^TLSv1\.[23]$/;

describe('the imap adapter with python imaplib and curl, to dovecot-imapd', () => {
  let env: Record<string, string>;
  let work: string;
  let caFile: string;
  /** `login: {}`: logins only over TLS (STARTTLS, or the implicit-TLS port). */
  let secure: TestGateway;
  /** `login: { allowCleartext: true }`, no certificate. */
  let cleartext: TestGateway;

  beforeAll(async () => {
    env = startServers();
    work = mkdtempSync(join(tmpdir(), 'roamgate-imap-interop-'));
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
      imap: [
        { host: '127.0.0.1', port: Number(env.IMAP_PORT_A), for: 'user:alice' },
        { host: '127.0.0.1', port: Number(env.IMAP_PORT_B), for: 'user:bob' },
      ],
    };
    secure = await startGateway({
      users,
      access: RULES,
      servers,
      adapters: { imap: { port: 0, tlsPort: 0, login: {}, tls: { cert: caFile, key: keyFile } } },
    });
    cleartext = await startGateway({ users, access: RULES, servers, adapters: { imap: { port: 0, login: { allowCleartext: true } } } });
  });

  afterAll(async () => {
    await secure?.close();
    await cleartext?.close();
    stopServers();
  });

  /** Where a client connects for a mode, and clients.py with the matching TLS settings. */
  function via(mode: Mode) {
    const gw = mode === 'cleartext' ? cleartext : secure;
    const port = String(mode === 'implicit' ? secure.ports['imap-tls'] : gw.ports.imap);
    const run = <T>(...args: string[]): Promise<T> =>
      mode === 'cleartext' ? python<T>(...args) : pythonTls<T>({ mode, caFile, servername: 'localhost' }, ...args);
    return { gw, port, run };
  }

  async function recordsSince(gw: TestGateway, mark: number, count: number): Promise<ConnectionRecord[]> {
    const since = () =>
      gw.logger
        .records()
        .slice(mark)
        .filter((record) => record.service === 'imap');
    await until(() => since().length >= count, `${count} imap records`, 10_000, 20).catch(() => undefined);
    return since();
  }

  const expectTls = (mode: Mode, tls: string | null | undefined) =>
    mode === 'cleartext' ? expect(tls ?? null).toBeNull() : expect(tls).toMatch(TLS_VERSION);
  const message = (base64: string) => Buffer.from(base64, 'base64');

  /** The 1 MiB message as dovecot stores it (LF), as IMAP gives it (CRLF). */
  const bigMessage = () => Buffer.from(readFileSync(env.IMAP_BIG_MESSAGE, 'latin1').replace(/\n/g, '\r\n'), 'latin1');

  describe.each(MODES)('%s', (mode) => {
    test.each<Mechanism>(['login', 'plain'])(
      'imaplib (%s): alice reads her 1 MiB message on dovecot A byte for byte, bob his INBOX on dovecot B',
      async (mechanism) => {
        const { gw, port, run } = via(mode);
        const mark = gw.logger.records().length;
        const alice = await run<ImapRead>('imap-read', '127.0.0.1', port, 'alice', 'alice-pw', mechanism, 'Big');
        const aliceDirect = await python<ImapRead>('imap-read', '127.0.0.1', env.IMAP_PORT_A, 'alice', 'alice-pw', mechanism, 'Big');
        expectTls(mode, alice.tls);
        expect(alice.greeting).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 .*\] .*roamgate/);
        expect(aliceDirect.greeting).toMatch(/Dovecot/);
        expect(alice.login).toEqual(aliceDirect.login);
        // The login's OK carries dovecot's own capabilities after login, and CAPABILITY says the same as straight to dovecot.
        expect(alice.loginCapabilities).toBe(aliceDirect.loginCapabilities);
        expect(alice.loginCapabilities).toMatch(/\bIDLE\b/);
        expect(alice.capabilities).toBe(aliceDirect.capabilities);
        expect(alice.count).toBe(1);
        const big = message(alice.messages[0]);
        expect(big.length).toBeGreaterThan(1024 * 1024);
        expect(big.equals(message(aliceDirect.messages[0]))).toBe(true);
        expect(big.equals(bigMessage())).toBe(true);

        const bob = await run<ImapRead>('imap-read', '127.0.0.1', port, 'bob', 'bob-pw', mechanism, 'INBOX');
        const bobDirect = await python<ImapRead>('imap-read', '127.0.0.1', env.IMAP_PORT_B, 'bob', 'bob-pw', mechanism, 'INBOX');
        expect(bob.messages).toEqual(bobDirect.messages);
        expect(message(bob.messages[0]).toString('latin1')).toContain('\r\nSubject: hello bob from B\r\n');
        const records = await recordsSince(gw, mark, 2);
        expect(records.map((record) => [record.identity, record.outcome, record.server])).toEqual([
          ['alice', 'relayed', `127.0.0.1:${env.IMAP_PORT_A}`],
          ['bob', 'relayed', `127.0.0.1:${env.IMAP_PORT_B}`],
        ]);
        expect(records[0].bytesFromServer).toBeGreaterThan(1024 * 1024);
      },
    );

    test('APPEND with a literal lands in dovecot unchanged, and IDLE hears a second session append', async () => {
      const { port, run } = via(mode);
      const user = mode === 'starttls' ? 'bob' : 'alice';
      const messageId = `<append-${mode}-${Date.now()}@interop.example.test>`;
      const appended = `From: ${user}@example.test\r\nSubject: appended over ${mode}\r\nMessage-ID: ${messageId}\r\n\r\n.a dot\r\n\u00e9t\u00e9 in UTF-8\r\nbye\r\n`;
      const file = join(work, `append-${mode}.eml`);
      writeFileSync(file, appended);
      const append = await run<ImapAppend>('imap-append', '127.0.0.1', port, user, `${user}-pw`, 'Drafts', file);
      expectTls(mode, append.tls);
      expect(append.append[0]).toBe('OK');
      expect(message(append.message).equals(Buffer.from(appended))).toBe(true);
      const home = user === 'alice' ? env.IMAP_PORT_A : env.IMAP_PORT_B;
      const direct = await python<ImapRead>('imap-read', '127.0.0.1', home, user, `${user}-pw`, 'login', 'Drafts');
      expect(direct.messages.map((text) => message(text).toString())).toContain(appended);

      const idle = await run<ImapIdle>('imap-idle', '127.0.0.1', port, user, `${user}-pw`, 'Drafts', file);
      expect(idle.continuation).toMatch(/^\+ /);
      expect(idle.seen).toContainEqual(expect.stringMatching(/^\* \d+ EXISTS$/));
      expect(idle.done).toMatch(/^\S+ OK Idle completed/);
    });
  });

  test('curl: AUTHENTICATE PLAIN with SASL-IR in cleartext, after STARTTLS and on the imaps port; FETCH as from dovecot', async () => {
    const mark = secure.logger.records().length;
    const credentials = ['-u', 'alice:alice-pw'];
    const url = (scheme: string, host: string, port: number | string) => `${scheme}://${host}:${port}/Big;MAILINDEX=1`;
    const direct = await curl([url('imap', '127.0.0.1', env.IMAP_PORT_A), ...credentials]);
    expect(direct.code).toBe(0);
    expect(direct.stdout.equals(bigMessage())).toBe(true);
    const stls = await curl(['-v', '--ssl-reqd', '--cacert', caFile, url('imap', '127.0.0.1', secure.ports.imap), ...credentials]);
    expect(stls.code).toBe(0);
    expect(stls.stderr).toMatch(/^> \S+ STARTTLS\r?$/m);
    // curl uses the SASL-IR the adapter offers: the PLAIN response on the AUTHENTICATE line.
    expect(stls.stderr).toMatch(/^> \S+ AUTHENTICATE PLAIN \S+\r?$/m);
    expect(stls.stdout.equals(direct.stdout)).toBe(true);
    const implicit = await curl([
      '-v',
      '--cacert',
      caFile,
      url('imaps', 'localhost', secure.ports['imap-tls']),
      '--resolve',
      `localhost:${secure.ports['imap-tls']}:127.0.0.1`,
      ...credentials,
    ]);
    expect(implicit.code).toBe(0);
    expect(implicit.stdout.equals(direct.stdout)).toBe(true);
    const plain = await curl(['-v', url('imap', '127.0.0.1', cleartext.ports.imap), ...credentials]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/^> \S+ AUTHENTICATE PLAIN \S+\r?$/m);
    expect(plain.stdout.equals(direct.stdout)).toBe(true);
    const records = await recordsSince(secure, mark, 2);
    expect(records.map((record) => [record.identity, record.outcome, record.server])).toEqual([
      ['alice', 'relayed', `127.0.0.1:${env.IMAP_PORT_A}`],
      ['alice', 'relayed', `127.0.0.1:${env.IMAP_PORT_A}`],
    ]);
  });

  test('a wrong password is NO [AUTHENTICATIONFAILED] from dovecot; LOGIN before STARTTLS is NO [PRIVACYREQUIRED]', async () => {
    const mark = secure.logger.records().length;
    const wrong = await pythonTls<ImapLogin>(
      { mode: 'starttls', caFile, servername: 'localhost' },
      'imap-login',
      '127.0.0.1',
      String(secure.ports.imap),
      'alice',
      'wrong',
      'login',
    );
    expect(wrong).toEqual({
      tls: expect.stringMatching(TLS_VERSION),
      exception: 'error',
      message: expect.stringContaining('[AUTHENTICATIONFAILED]'),
    });
    const plain = await python<ImapLogin>('imap-login', '127.0.0.1', String(secure.ports.imap), 'alice', 'alice-pw', 'login');
    expect(plain).toEqual({ tls: null, exception: 'error', message: expect.stringContaining('[PRIVACYREQUIRED]') });
    const records = await recordsSince(secure, mark, 2);
    expect(records[0]).toMatchObject({ identity: 'anonymous', outcome: 'refused', reason: 'wrong user name or password' });
    expect(records.every((record) => record.server === undefined)).toBe(true);
  });

  test('the local proxy serves IMAP: imaplib at its loopback port reads alice’s mailbox on dovecot A through the gateway', async () => {
    const users = [{ id: 'alice', passwordHash: await hashPassword('alice-pw') }];
    const servers = { imap: [{ host: '127.0.0.1', port: Number(env.IMAP_PORT_A), for: 'user:alice' }] };
    const gw = await startGateway({ users, access: RULES, servers }, true);
    const url = `http://127.0.0.1:${(gw.http!.address() as { port: number }).port}/roamgate`;
    const notices: string[] = [];
    const proxy = await startLocalProxy({
      gateway: url,
      user: 'alice',
      password: 'alice-pw',
      services: ['imap'],
      listen: { imap: 0 },
      stateDir: mkdtempSync(join(work, 'local-state-')),
      onEvent: (notice) => notices.push(notice.text),
    });
    try {
      const port = String(proxy.listeners.imap!.port);
      // Through the tunnel with alice's lease: the greeting and the login are dovecot's own.
      const read = await python<ImapRead>('imap-read', '127.0.0.1', port, 'alice', 'alice-pw', 'login', 'INBOX');
      expect(read.greeting).toMatch(/Dovecot/);
      expect(message(read.messages[0]).toString('latin1')).toContain('\r\nSubject: hello alice from A\r\n');
      expect(notices.join('\n')).toMatch(/^imap +127\.0\.0\.1:\d+ +gateway -> through the gateway /m);
      expect(notices.join('\n')).not.toContain(`:${env.IMAP_PORT_A}`);
    } finally {
      await proxy.close();
      await gw.close();
    }
  });

  /** LOGIN with a literal and a LITERAL+ literal, then commands; what came back after the login, and the login's answer. */
  async function rawSession(port: number): Promise<{ login: string; afterLogin: string }> {
    const client = await RawClient.open(port);
    await client.waitFor((text) => /^\* OK [^\r]*\r\n$/.test(text));
    client.send('a1 LOGIN {5}\r\n');
    await client.waitFor((text) => /\r\n\+ [^\r]*\r\n$/.test(text));
    client.send('alice {8+}\r\nalice-pw\r\n');
    await client.waitFor((text) => /\r\na1 OK [^\r]*\r\n$/.test(text));
    const login = /\r\n(a1 OK [^\r]*)\r\n$/.exec(client.received)![1];
    const before = client.received.length;
    client.send('a2 SELECT Big\r\na3 FETCH 1 (BODY.PEEK[]<0.200>)\r\na4 ID NIL\r\na5 LOGOUT\r\n');
    await client.closed;
    // dovecot says how long each command took: `Select completed (0.002 + 0.000 + 0.001 secs).`
    return { login, afterLogin: client.received.slice(before).replace(/ \([0-9.+ ]+ secs\)/g, '') };
  }

  test('towards dovecot: STARTTLS (alice) and imaps (bob), certificates verified; a certificate that does not verify gets no password', async () => {
    const users = [
      { id: 'alice', passwordHash: await hashPassword('alice-pw') },
      { id: 'bob', passwordHash: await hashPassword('bob-pw') },
    ];
    const ca = env.IMAP_CA_FILE;
    const wrongCa = join(work, 'other-ca.pem');
    writeFileSync(wrongCa, selfSignedCert().cert);
    const gw = await startGateway({
      users,
      access: RULES,
      adapters: { imap: { port: 0, login: { allowCleartext: true } } },
      servers: {
        imap: [
          { host: '127.0.0.1', port: Number(env.IMAP_PORT_A), for: 'user:alice', tls: { mode: 'starttls', ca, servername: 'localhost' } },
          { host: '127.0.0.1', port: Number(env.IMAPS_PORT_B), for: 'user:bob', tls: { mode: 'implicit', ca } },
        ],
      },
    });
    const log = (instance: 'a' | 'b') => readFileSync(join(env.STATE_DIR, `pop3-${instance}`, 'dovecot.log'), 'utf8');
    const logins = (instance: 'a' | 'b') =>
      log(instance)
        .split('\n')
        .filter((line) => /imap-login: Info: Login: user=<\w+>/.test(line));
    const before = { a: logins('a').length, b: logins('b').length };
    try {
      const alice = await python<ImapRead>('imap-read', '127.0.0.1', String(gw.ports.imap), 'alice', 'alice-pw', 'login', 'INBOX');
      expect(message(alice.messages[0]).toString('latin1')).toContain('\r\nSubject: hello alice from A\r\n');
      const bob = await python<ImapRead>('imap-read', '127.0.0.1', String(gw.ports.imap), 'bob', 'bob-pw', 'plain', 'INBOX');
      expect(message(bob.messages[0]).toString('latin1')).toContain('\r\nSubject: hello bob from B\r\n');
      // dovecot says how each login arrived: `TLS` after STARTTLS or on its imaps port.
      await until(() => logins('a').length > before.a && logins('b').length > before.b, 'the logins in the dovecot logs', 5_000, 50);
      expect(logins('a').slice(before.a)).toEqual([expect.stringMatching(/user=<alice>.*\bTLS\b/)]);
      expect(logins('b').slice(before.b)).toEqual([expect.stringMatching(/user=<bob>.*\bTLS\b/)]);
    } finally {
      await gw.close();
    }

    const untrusting = await startGateway({
      users,
      access: RULES,
      adapters: { imap: { port: 0, login: { allowCleartext: true } } },
      servers: {
        imap: [{ host: '127.0.0.1', port: Number(env.IMAP_PORT_A), tls: { mode: 'starttls', ca: wrongCa, servername: 'localhost' } }],
      },
    });
    try {
      const loginsBefore = logins('a').length;
      const refused = await python<ImapLogin>('imap-login', '127.0.0.1', String(untrusting.ports.imap), 'alice', 'alice-pw', 'login');
      expect(refused).toEqual({ tls: null, exception: 'error', message: expect.stringContaining('[UNAVAILABLE]') });
      // dovecot saw a TLS handshake fail, and no login (nothing was sent after the failed handshake).
      expect(logins('a').length).toBe(loginsBefore);
    } finally {
      await untrusting.close();
    }
  });

  test("a raw session with literals in LOGIN: the login's answer and everything after it are dovecot's, byte for byte", async () => {
    const through = await rawSession(cleartext.ports.imap);
    const direct = await rawSession(Number(env.IMAP_PORT_A));
    expect(through.login).toBe(direct.login);
    expect(through.afterLogin).toContain('\r\na5 OK Logout completed');
    expect(through.afterLogin).toBe(direct.afterLogin);
  });
});
