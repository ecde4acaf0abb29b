import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { selfSignedCert } from '../helpers/tls-cert';
import { until } from '../helpers/until';
import { bodyOf, deliveredMail, python, pythonTls, startServers, stopServers, swaks } from './helpers';

jest.setTimeout(60_000);

/**
 * SMTP submission (`adapters.smtp.submission`, port 587 style) with real
 * clients and Debian's opensmtpd behind: swaks `--tls` and python's smtplib
 * (starttls, login) log in at the adapter after STARTTLS; the adapter then
 * relays to opensmtpd, which takes no login from 127.0.0.1 (`credentials:
 * 'none'`) and delivers. Without AUTH, MAIL is refused with 530 5.7.0, even
 * from an address that holds a lease.
 */

type SmtpAuth = { tls: string | null; auth?: [number, string]; refused?: object; exception?: string; code?: number; message?: string };
const TLS_VERSION = /^TLSv1\.[23]$/;

describe('SMTP submission with swaks and smtplib, through the adapter to opensmtpd', () => {
  let env: Record<string, string>;
  let work: string;
  let caFile: string;
  let gw: TestGateway;

  beforeAll(async () => {
    env = startServers();
    work = mkdtempSync(join(tmpdir(), 'roamgate-submission-interop-'));
    const tls = selfSignedCert();
    caFile = join(work, 'cert.pem');
    const keyFile = join(work, 'key.pem');
    writeFileSync(caFile, tls.cert);
    writeFileSync(keyFile, tls.key);
    gw = await startGateway(
      {
        users: [
          { id: 'alice', passwordHash: await hashPassword('alice-pw') },
          { id: 'bob', passwordHash: await hashPassword('bob-pw') },
        ],
        access: [
          { subject: 'authenticated', service: '*', allow: true },
          // A plain smtp adapter would relay anonymous clients as they are; a submission port never does.
          { subject: 'anonymous', service: 'smtp', allow: true },
        ],
        servers: { smtp: [{ host: '127.0.0.1', port: Number(env.SMTP_PORT), credentials: 'none' as const }] },
        adapters: { smtp: { port: 0, submission: true, tls: { cert: caFile, key: keyFile } } },
      },
      true,
    );
  });

  afterAll(async () => {
    await gw?.close();
    stopServers();
  });

  /** The records of alice or bob written after `mark`, once there are `count`. */
  async function userRecords(mark: number, count: number) {
    const since = () =>
      gw.logger
        .records()
        .slice(mark)
        .filter((record) => record.identity !== 'anonymous');
    await until(() => since().length >= count, `${count} records`, 10_000, 20).catch(() => undefined);
    return since();
  }

  const message = (name: string, messageId: string, body: string) => {
    const file = join(work, `${name}.eml`);
    writeFileSync(file, `From: alice@example.test\r\nTo: bob@example.test\r\nSubject: ${name}\r\nMessage-ID: ${messageId}\r\n\r\n${body}`);
    return file;
  };

  test.each(['PLAIN', 'LOGIN'])('swaks --tls --auth %s: STARTTLS, AUTH, and opensmtpd delivers the message', async (mechanism) => {
    const mark = gw.logger.records().length;
    const messageId = `<swaks-submission-${mechanism}-${Date.now()}@interop.example.test>`;
    const result = await swaks([
      '--server',
      `127.0.0.1:${gw.ports.smtp}`,
      '--tls',
      '--tls-verify',
      '--tls-ca-path',
      caFile,
      '--tls-sni',
      'localhost',
      '--auth',
      mechanism,
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
      'submitted with swaks\n.dotted line\nbye',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ -> STARTTLS$/m);
    expect(result.stdout).toMatch(/^=== TLS started with cipher /m);
    expect(result.stdout).toMatch(new RegExp(`^ ~> AUTH ${mechanism}`, 'm'));
    expect(result.stdout).toMatch(/^<~ {2}235 /m);
    expect(result.stdout).toMatch(/^<~ {2}250 .*[Mm]essage accepted/m);
    const delivered = await deliveredMail(env.SMTP_MAILDIR, 'alice', messageId);
    expect(bodyOf(delivered).toString()).toBe('submitted with swaks\n.dotted line\nbye\n\n\n');
    const [record] = await userRecords(mark, 1);
    expect(record).toMatchObject({ service: 'smtp', identity: 'bob', outcome: 'relayed', server: `127.0.0.1:${env.SMTP_PORT}` });
  });

  test('swaks --tls without AUTH: MAIL FROM is refused with 530 5.7.0, so no message is sent', async () => {
    const result = await swaks([
      '--server',
      `127.0.0.1:${gw.ports.smtp}`,
      '--tls',
      '--from',
      'bob@example.test',
      '--to',
      'alice@example.test',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toMatch(/^<~\* 530 5\.7\.0 Authentication required$/m);
    expect(result.stdout).toMatch(/^=== TLS started with cipher /m);
    expect(result.stdout).not.toMatch(/^ ~> DATA$/m);
  });

  test('smtplib: starttls(), login(), sendmail(); opensmtpd delivers the message unchanged', async () => {
    const mark = gw.logger.records().length;
    const messageId = `<smtplib-submission-${Date.now()}@interop.example.test>`;
    const body = '.a line starting with a dot\r\n..and two\r\nsubmitted\r\n';
    const file = message('smtplib submission', messageId, body);
    const sent = await pythonTls<SmtpAuth>(
      { mode: 'starttls', caFile, servername: 'localhost' },
      'smtp-auth',
      '127.0.0.1',
      String(gw.ports.smtp),
      'alice',
      'alice-pw',
      'alice@example.test',
      'bob@example.test',
      file,
    );
    expect(sent).toEqual({ tls: expect.stringMatching(TLS_VERSION), auth: [235, expect.any(String)], refused: {} });
    const delivered = await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId);
    expect(bodyOf(delivered).toString('latin1')).toBe(body.replace(/\r\n/g, '\n'));
    const [record] = await userRecords(mark, 1);
    expect(record).toMatchObject({ service: 'smtp', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.SMTP_PORT}` });
  });

  test('smtplib before STARTTLS: no AUTH offered (SMTPNotSupportedError); a wrong password after it is 535', async () => {
    const file = message('never sent', '<never@interop.example.test>', 'x\r\n');
    const cleartext = await python<SmtpAuth>(
      'smtp-auth',
      '127.0.0.1',
      String(gw.ports.smtp),
      'alice',
      'alice-pw',
      'a@example.test',
      'b@example.test',
      file,
    );
    expect(cleartext).toMatchObject({ exception: 'SMTPNotSupportedError' });
    const wrong = await pythonTls<SmtpAuth>(
      { mode: 'starttls', caFile, servername: 'localhost' },
      'smtp-auth',
      '127.0.0.1',
      String(gw.ports.smtp),
      'alice',
      'wrong',
      'a@example.test',
      'b@example.test',
      file,
    );
    expect(wrong).toMatchObject({ tls: expect.stringMatching(TLS_VERSION), exception: 'SMTPAuthenticationError', code: 535 });
  });

  test('an address holding a lease gets no pass: smtplib without login is refused 530, with login it sends', async () => {
    await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201);
    const file = message('leased without login', '<leased-never@interop.example.test>', 'x\r\n');
    const unauthenticated = await python<{ exception?: string; message?: string }>(
      'smtp',
      '127.0.0.1',
      String(gw.ports.smtp),
      'alice@example.test',
      'bob@example.test',
      file,
    );
    expect(unauthenticated.exception).toBe('SMTPSenderRefused');
    expect(unauthenticated.message).toMatch(/530/);
    const messageId = `<smtplib-leased-${Date.now()}@interop.example.test>`;
    const sent = await pythonTls<SmtpAuth>(
      { mode: 'starttls', caFile, servername: 'localhost' },
      'smtp-auth',
      '127.0.0.1',
      String(gw.ports.smtp),
      'alice',
      'alice-pw',
      'alice@example.test',
      'bob@example.test',
      message('leased with login', messageId, 'hello\r\n'),
    );
    expect(sent).toMatchObject({ auth: [235, expect.any(String)], refused: {} });
    await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId);
  });
});
