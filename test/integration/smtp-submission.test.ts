import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import nodemailer from 'nodemailer';
import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { selfSignedCert } from '../helpers/tls-cert';
import { until } from '../helpers/until';

jest.setTimeout(20_000);

/**
 * SMTP submission (`adapters.smtp.submission`, RFC 6409): every client logs
 * in with AUTH before MAIL, a lease holder and an anonymous client the access
 * table lets through included, and STARTTLS is offered. Against nodemailer's
 * smtp-server as the server and nodemailer (and raw sockets) as the client.
 */

const tls = selfSignedCert();
const dir = mkdtempSync(join(tmpdir(), 'roamgate-submission-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');
writeFileSync(certFile, tls.cert);
writeFileSync(keyFile, tls.key);
const LEASED = '127.0.0.2';

let users: RoamgateOptions['users'];
beforeAll(async () => {
  users = [{ id: 'alice', passwordHash: await hashPassword('alice-pw') }];
});

/** POST /login from `address`: a lease bound to that address. */
function loginFrom(gw: TestGateway, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: (gw.http!.address() as AddressInfo).port,
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
    req.end(JSON.stringify({ username: 'alice', password: 'alice-pw' }));
  });
}

describe('SMTP submission', () => {
  let gw: TestGateway;
  let upstream: Awaited<ReturnType<typeof startSmtpUpstream>>;

  beforeAll(async () => {
    upstream = await startSmtpUpstream({ users: { alice: 'alice-pw' }, banner: 'the real server' });
    gw = await startGateway(
      {
        users,
        // Anonymous clients may use smtp: a plain adapter would relay them unauthenticated; a submission port does not.
        access: [
          { subject: 'authenticated', service: '*', allow: true },
          { subject: 'anonymous', service: 'smtp', allow: true },
        ],
        servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
        adapters: { smtp: { port: 0, submission: true, tls: { cert: certFile, key: keyFile } } },
      },
      true,
    );
    expect(await loginFrom(gw, LEASED)).toBe(201);
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test.each([
    ['an anonymous client the access table lets through', '127.0.0.1'],
    ['a client whose address holds a lease', LEASED],
  ])(
    '%s is greeted by the adapter and must AUTH: MAIL gets 530 5.7.0; EHLO offers STARTTLS, and AUTH only after it',
    async (_who, from) => {
      const client = await RawClient.open(gw.ports.smtp, from);
      await client.waitFor((text) => text.endsWith('\r\n'));
      expect(client.received).toMatch(/^220 \S+ ESMTP roamgate ready\r\n$/);
      client.send('EHLO pc.example\r\n');
      await client.waitFor((text) => /\r\n250 [^\r]*\r\n$/.test(text));
      expect(client.received).toMatch(/\r\n250[ -]STARTTLS\r\n/);
      expect(client.received).not.toMatch(/AUTH/);
      client.send('MAIL FROM:<alice@example.test>\r\n');
      await client.waitFor((text) => text.includes('\r\n530 '));
      expect(client.received).toMatch(/\r\n530 5\.7\.0 Authentication required\r\n$/);
      client.send('QUIT\r\n');
      await client.closed;
      expect(upstream.messages).toEqual([]);
    },
  );

  test('after STARTTLS, EHLO offers AUTH; alice logs in and her message reaches the server under her own login', async () => {
    const before = gw.logger.records().length;
    await nodemailer
      .createTransport({
        host: '127.0.0.1',
        port: gw.ports.smtp,
        secure: false,
        requireTLS: true,
        auth: { user: 'alice', pass: 'alice-pw' },
        tls: { ca: tls.cert, servername: 'localhost' },
      })
      .sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject: 'submitted', text: 'hello' });
    expect(upstream.messages.map((message) => [message.user, message.to])).toEqual([['alice', ['bob@example.test']]]);
    // An earlier test's session may be recorded in between: sessions are recorded when they end.
    const alices = () =>
      gw.logger
        .records()
        .slice(before)
        .filter((record) => record.identity === 'alice');
    await until(() => alices().length > 0, "alice's record");
    expect(alices()).toEqual([expect.objectContaining({ service: 'smtp', outcome: 'relayed' })]);
  });

  test('over TLS with no AUTH, MAIL still gets 530 5.7.0', async () => {
    // STARTTLS by hand on a raw socket: no client library would send MAIL without the AUTH it was told to use.
    const client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 '));
    client.send('EHLO pc.example\r\nSTARTTLS\r\n');
    await client.waitFor((text) => text.includes('220 2.0.0'));
    client.socket.removeAllListeners('data');
    const secure = tlsConnect({ socket: client.socket, ca: tls.cert, servername: 'localhost' });
    let received = '';
    secure.setEncoding('latin1');
    secure.on('data', (chunk: string) => (received += chunk));
    await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
    secure.write('EHLO pc.example\r\n');
    await until(() => /\r\n250 [^\r]*\r\n$/.test(received), 'EHLO over TLS');
    expect(received).toMatch(/\r\n250[ -]AUTH PLAIN LOGIN\r\n/);
    secure.write('MAIL FROM:<alice@example.test>\r\n');
    await until(() => received.includes('\r\n530 '), 'the 530');
    expect(received).toMatch(/\r\n530 5\.7\.0 Authentication required\r\n$/);
    secure.destroy();
  });
});

describe('without submission, the same adapter relays a lease holder transparently', () => {
  test('the greeting is the server’s own', async () => {
    const upstream = await startSmtpUpstream({ users: { alice: 'alice-pw' }, banner: 'the real server' });
    const gw = await startGateway(
      {
        users,
        access: [{ subject: 'authenticated', service: '*', allow: true }],
        servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
        adapters: { smtp: { port: 0, login: {}, tls: { cert: certFile, key: keyFile } } },
      },
      true,
    );
    try {
      expect(await loginFrom(gw, LEASED)).toBe(201);
      const client = await RawClient.open(gw.ports.smtp, LEASED);
      await client.waitFor((text) => text.endsWith('\r\n'));
      expect(client.received).toMatch(/the real server/);
      client.close();
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
