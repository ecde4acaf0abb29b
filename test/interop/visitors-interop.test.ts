import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient } from '../helpers/net';
import { bodyOf, deliveredMail, pythonFrom, startServers, stopServers } from './helpers';

jest.setTimeout(60_000);

// Each visitor's terminal is a loopback address of its own: a lease is bound to the address the login came from.
const ALICE = '127.0.0.2'; // department sales: smtp, pop3 and the web proxy, but not news
const BOB = '127.0.0.3'; // department research: smtp, pop3 and news
const STRANGER = '127.0.0.4'; // never logs in

/** POSTs JSON to the management API from a given source address. */
function postFrom(
  source: string,
  url: string,
  body: unknown,
  token?: string,
  method = 'POST',
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method,
        localAddress: source,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe('visitors with different attributes, through real clients and real servers', () => {
  let env: Record<string, string>;
  let gw: TestGateway;
  let api: string;
  let work: string;
  const tokens: Record<string, { token: string; lease: { id: string } }> = {};

  beforeAll(async () => {
    env = startServers();
    work = mkdtempSync(join(tmpdir(), 'roamgate-visitors-'));
    gw = await startGateway(
      {
        users: [
          { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { department: 'sales' } },
          { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: { department: 'research' } },
        ],
        adapters: { smtp: { port: 0 }, pop3: { port: 0 }, nntp: { port: 0 } },
        servers: {
          smtp: [{ host: '127.0.0.1', port: Number(env.SMTP_PORT) }],
          pop3: [{ host: '127.0.0.1', port: Number(env.POP3_PORT_A) }],
          nntp: [{ host: '127.0.0.1', port: Number(env.NNTP_PORT) }],
        },
        access: [
          { subject: 'authenticated', service: 'smtp', allow: true },
          { subject: 'authenticated', service: 'pop3', allow: true },
          { subject: 'department=sales', service: 'http-proxy', allow: true },
          { subject: 'department=sales', service: 'nntp', allow: false, reason: 'news is for the research department' },
          { subject: 'department=research', service: 'nntp', allow: true },
        ],
      },
      true,
    );
    api = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
    for (const [user, source] of [
      ['alice', ALICE],
      ['bob', BOB],
    ] as const) {
      const login = await postFrom(source, `${api}/login`, { username: user, password: `${user}-pw` });
      expect(login.status).toBe(201);
      tokens[user] = login.body as (typeof tokens)[string];
    }
  });

  afterAll(async () => {
    await gw?.close();
    stopServers();
  });

  test('alice sends mail with smtplib through the adapter (sales may use SMTP)', async () => {
    const messageId = `<alice-${Date.now()}@interop.example.test>`;
    const file = join(work, 'alice.eml');
    writeFileSync(
      file,
      `From: alice@example.test\r\nTo: bob@example.test\r\nSubject: from alice\r\nMessage-ID: ${messageId}\r\n\r\nhello bob\r\n`,
    );
    const sent = await pythonFrom<{ refused?: object; exception?: string }>(
      ALICE,
      'smtp',
      '127.0.0.1',
      String(gw.ports.smtp),
      'alice@example.test',
      'bob@example.test',
      file,
    );
    expect(sent).toEqual(expect.objectContaining({ refused: {} }));
    expect(bodyOf(await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId)).toString()).toBe('hello bob\n');
  });

  test("alice's newsreader is refused: nntplib shows 502 with the reason", async () => {
    const result = await pythonFrom<{ exception?: string; message?: string }>(
      ALICE,
      'nntp-read',
      '127.0.0.1',
      String(gw.ports.nntp),
      'local.test',
      env.NNTP_SEED_MSGID,
    );
    expect(result.exception).toBe('NNTPPermanentError');
    expect(result.message).toBe('502 news is for the research department');
  });

  test('bob reads news with nntplib (research may use NNTP)', async () => {
    const result = await pythonFrom<{ name?: string; exception?: string }>(
      BOB,
      'nntp-read',
      '127.0.0.1',
      String(gw.ports.nntp),
      'local.test',
      env.NNTP_SEED_MSGID,
    );
    expect(result.name).toBe('local.test');
  });

  test('an anonymous client is refused in its own protocol: poplib and nodemailer show why', async () => {
    const pop = await pythonFrom<{ exception?: string; message?: string }>(STRANGER, 'pop3-greeting', '127.0.0.1', String(gw.ports.pop3));
    expect(pop.message ?? (pop as { error?: string }).error).toMatch(/^-ERR \[SYS\/PERM\] no access rule lets anonymous clients use pop3/);
    const mailer = nodemailer.createTransport({
      host: '127.0.0.1',
      port: gw.ports.smtp,
      localAddress: STRANGER,
      secure: false,
      ignoreTLS: true,
    });
    const error = (await mailer.sendMail({ from: 'x@example.test', to: 'bob@example.test', text: 'x' }).catch((e: unknown) => e)) as {
      response?: string;
    };
    expect(error.response).toBe('554 5.7.1 no access rule lets anonymous clients use smtp');
  });

  test("revoking alice's lease closes her live POP3 session with dovecot", async () => {
    const client = await RawClient.open(gw.ports.pop3, ALICE);
    await client.waitFor((text) => text.startsWith('+OK Dovecot'));
    client.send('USER alice\r\n');
    await client.waitFor((text) => text.split('\r\n').length >= 3);
    client.send('PASS alice-pw\r\n');
    await client.waitFor((text) => /\+OK Logged in/.test(text));
    client.send('STAT\r\n');
    await client.waitFor((text) => /\+OK 1 \d+\r\n$/.test(text));
    const revoked = await postFrom(ALICE, `${api}/leases/${tokens.alice.lease.id}`, undefined, tokens.alice.token, 'DELETE');
    expect(revoked.status).toBe(204);
    await client.closed;
    const record = gw.logger.records().find((r) => r.service === 'pop3' && r.identity === 'alice');
    expect(record).toMatchObject({ outcome: 'relayed', reason: 'lease revoked' });
    // The next connection from alice's address is anonymous again.
    const again = await RawClient.open(gw.ports.pop3, ALICE);
    await again.closed;
    expect(again.received).toMatch(/^-ERR \[SYS\/PERM\] no access rule lets anonymous clients use pop3/);
  });
});
