import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { refusedPort } from '../helpers/net';
import { untilValue } from '../helpers/until';
import { selfSignedCert } from '../helpers/tls-cert';
import { STATE_DIR, bodyOf, curl, deliveredMail, python, startServers, stopServers } from './helpers';

jest.setTimeout(60_000);

type Pop3Result = { greeting: string; count: number; list: string[]; messages: string[] };
type NntpRead = { groups: string[]; count: number; name: string; article: string };

const OPEN = [{ subject: 'anonymous', service: '*', allow: true }] as const;

/** A 1 MB message body whose lines often start with dots, with CRLF line ends. */
function bigBody(): string {
  let body = '';
  for (let i = 0; body.length < 1024 * 1024; i++)
    body += `${i % 5 === 0 ? '.' : ''}${i % 11 === 0 ? '..' : ''}line ${i} ${'0123456789'.repeat(6)}\r\n`;
  return body + '.\r\n..\r\nlast line\r\n';
}

describe('interop with Debian servers through the gateway', () => {
  let env: Record<string, string>;
  let gw: TestGateway;
  let work: string;
  let web: Server;
  let webPort: number;
  let secure: Server;
  let securePort: number;
  let caFile: string;

  beforeAll(async () => {
    env = startServers();
    work = mkdtempSync(join(tmpdir(), 'roamgate-interop-'));
    web = createServer((req, res) => res.end(`web page ${req.url}\n`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as AddressInfo).port;
    const tls = selfSignedCert();
    caFile = join(work, 'ca.pem');
    writeFileSync(caFile, tls.cert);
    secure = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => res.end(`secure page ${req.url}\n`));
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    securePort = (secure.address() as AddressInfo).port;
    gw = await startGateway({
      adapters: {
        smtp: { port: 0 },
        pop3: { port: 0 },
        nntp: { port: 0 },
        'http-proxy': { port: 0, allow: [`127.0.0.1:${webPort}`, `localhost:${webPort}`, `localhost:${securePort}`] },
      },
      servers: {
        smtp: [{ host: '127.0.0.1', port: Number(env.SMTP_PORT) }],
        // The first POP3 server is down: every connection fails over to dovecot A.
        pop3: [
          { host: '127.0.0.1', port: await refusedPort(), priority: 10 },
          { host: '127.0.0.1', port: Number(env.POP3_PORT_A), priority: 20 },
        ],
        nntp: [{ host: '127.0.0.1', port: Number(env.NNTP_PORT) }],
        'http-proxy': [{ host: '127.0.0.1', port: Number(env.SQUID_PORT) }],
      },
      access: [...OPEN],
    });
  });

  afterAll(async () => {
    await gw?.close();
    web?.close();
    secure?.close();
    stopServers();
  });

  describe('POP3 (dovecot)', () => {
    test('poplib USER/PASS, LIST and RETR through the adapter equal the same session straight to dovecot, byte for byte', async () => {
      const through = await python<Pop3Result>('pop3', '127.0.0.1', String(gw.ports.pop3), 'alice', 'alice-pw');
      const direct = await python<Pop3Result>('pop3', '127.0.0.1', env.POP3_PORT_A, 'alice', 'alice-pw');
      expect(through.greeting).toMatch(/^\+OK Dovecot/);
      expect(through.count).toBe(1);
      expect(through).toEqual(direct);
      const message = Buffer.from(through.messages[0], 'base64').toString();
      expect(message).toContain('Subject: hello alice from A');
      expect(message).toContain('\r\n.dotted line\r\n');
    });

    test('curl pop3:// lists and retrieves the same message', async () => {
      const list = await curl([`pop3://127.0.0.1:${gw.ports.pop3}/`, '-u', 'bob:bob-pw']);
      expect(list.code).toBe(0);
      expect(list.stdout.toString()).toMatch(/^1 \d+\r\n$/);
      const through = await curl([`pop3://127.0.0.1:${gw.ports.pop3}/1`, '-u', 'bob:bob-pw']);
      const direct = await curl([`pop3://127.0.0.1:${env.POP3_PORT_A}/1`, '-u', 'bob:bob-pw']);
      expect(through.stdout.toString()).toContain('Subject: hello bob from A');
      expect(through.stdout.equals(direct.stdout)).toBe(true);
    });

    test("dovecot's own login failure reaches the client unchanged", async () => {
      const result = await python<{ error: string }>('pop3-wrong-password', '127.0.0.1', String(gw.ports.pop3), 'alice', 'wrong');
      expect(result.error).toMatch(/^-ERR \[AUTH\]/);
    });
  });

  describe('SMTP (opensmtpd)', () => {
    test('smtplib sends a 1 MB message with dot-leading lines; opensmtpd delivers it unchanged', async () => {
      const messageId = `<big-${Date.now()}@interop.example.test>`;
      const body = bigBody();
      const file = join(work, 'big.eml');
      writeFileSync(file, `From: sender@example.test\r\nTo: alice@example.test\r\nSubject: big\r\nMessage-ID: ${messageId}\r\n\r\n${body}`);
      const sent = await python<{ refused: object }>(
        'smtp',
        '127.0.0.1',
        String(gw.ports.smtp),
        'sender@example.test',
        'alice@example.test',
        file,
      );
      expect(sent.refused).toEqual({});
      const delivered = await deliveredMail(env.SMTP_MAILDIR, 'alice', messageId);
      // opensmtpd stores LF line ends; the body is otherwise exactly what was sent.
      expect(bodyOf(delivered).equals(Buffer.from(body.replace(/\r\n/g, '\n')))).toBe(true);
    });

    test('curl smtp:// sends through the adapter', async () => {
      const messageId = `<curl-${Date.now()}@interop.example.test>`;
      const file = join(work, 'curl.eml');
      writeFileSync(
        file,
        `From: sender@example.test\r\nTo: bob@example.test\r\nSubject: via curl\r\nMessage-ID: ${messageId}\r\n\r\n.starts with a dot\r\nbye\r\n`,
      );
      const result = await curl([
        `smtp://127.0.0.1:${gw.ports.smtp}`,
        '--mail-from',
        'sender@example.test',
        '--mail-rcpt',
        'bob@example.test',
        '-T',
        file,
      ]);
      expect(result.stderr).toBe('');
      const delivered = await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId);
      expect(bodyOf(delivered).toString()).toBe('.starts with a dot\nbye\n');
    });

    test("opensmtpd's refusal of a foreign recipient reaches smtplib", async () => {
      const file = join(work, 'foreign.eml');
      writeFileSync(file, 'Subject: x\r\n\r\nx\r\n');
      const result = await python<{ exception?: string; message?: string }>(
        'smtp',
        '127.0.0.1',
        String(gw.ports.smtp),
        'sender@example.test',
        'someone@example.com',
        file,
      );
      expect(result.exception).toBe('SMTPRecipientsRefused');
      expect(result.message).toMatch(/550/);
    });
  });

  describe('NNTP (inn2)', () => {
    test('nntplib LIST, GROUP and ARTICLE through the adapter equal the same straight to inn2', async () => {
      const through = await python<NntpRead>('nntp-read', '127.0.0.1', String(gw.ports.nntp), 'local.test', env.NNTP_SEED_MSGID);
      const direct = await python<NntpRead>('nntp-read', '127.0.0.1', env.NNTP_PORT, 'local.test', env.NNTP_SEED_MSGID);
      expect(through.groups).toEqual(expect.arrayContaining(['local.test', 'local.other']));
      expect(through.name).toBe('local.test');
      expect(through).toEqual(direct);
      expect(Buffer.from(through.article, 'base64').toString()).toContain('\r\n.dotted line');
    });

    test('nntplib POSTs a 1 MB dot-stuffed article through the adapter and reads it back unchanged', async () => {
      const messageId = `<post-${Date.now()}@interop.example.test>`;
      const body = bigBody();
      const file = join(work, 'article.txt');
      writeFileSync(
        file,
        `From: poster@example.test\r\nNewsgroups: local.test\r\nSubject: big post\r\nMessage-ID: ${messageId}\r\n\r\n${body}`,
      );
      const posted = await python<{ response?: string; message?: string }>('nntp-post', '127.0.0.1', String(gw.ports.nntp), file);
      expect(posted.response).toMatch(/^240 /);
      const read = await python<NntpRead>('nntp-read', '127.0.0.1', String(gw.ports.nntp), 'local.test', messageId);
      expect(bodyOf(Buffer.from(read.article, 'base64')).toString() + '\r\n').toBe(body);
    });
  });

  describe('web proxy through squid as the upstream proxy', () => {
    test('curl -x (absolute URI) and curl -p -x (CONNECT to HTTPS) go through the gateway and then squid', async () => {
      const proxy = `http://127.0.0.1:${gw.ports['http-proxy']}`;
      const plain = await curl(['-x', proxy, `http://127.0.0.1:${webPort}/via-squid`]);
      expect(plain.stdout.toString()).toBe('web page /via-squid\n');
      const tunnel = await curl(['-p', '-x', proxy, '--cacert', caFile, `https://localhost:${securePort}/tunnel-via-squid`]);
      expect(tunnel.stderr).toBe('');
      expect(tunnel.stdout.toString()).toBe('secure page /tunnel-via-squid\n');
      const accessLog = await waitForFile(
        join(STATE_DIR, 'squid', 'access.log'),
        (text) => text.includes('/via-squid') && text.includes(`:${securePort}`),
      );
      expect(accessLog).toMatch(new RegExp(`GET http://127\\.0\\.0\\.1:${webPort}/via-squid`));
      expect(accessLog).toMatch(new RegExp(`CONNECT (localhost|127\\.0\\.0\\.1):${securePort}`));
    });

    test('a destination off the allowlist is refused by the gateway before squid sees it', async () => {
      const result = await curl([
        '-x',
        `http://127.0.0.1:${gw.ports['http-proxy']}`,
        '-w',
        '%{http_code}',
        '-o',
        '/dev/null',
        `http://127.0.0.1:${env.POP3_PORT_A}/`,
      ]);
      expect(result.stdout.toString()).toBe('403');
    });
  });
});

/** The file's text once `ready` accepts it; else, after `timeoutMs`, what it holds then (the caller's expectations say what is missing). */
async function waitForFile(path: string, ready: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  let text = '';
  const read = () => {
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      // not written yet
    }
    return text;
  };
  return untilValue(read, ready, `${path} to be written`, timeoutMs, 100).catch(() => text);
}
