import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { REFUSAL_LINGER_MS } from '../../net/last-word';
import nodemailer from 'nodemailer';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient, listenTcp, refusedPort } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { until } from '../helpers/until';

const OPEN_SMTP = [{ subject: 'anonymous', service: 'smtp', allow: true }] as const;

function transport(port: number) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 5000,
    greetingTimeout: 5000,
  });
}

function rawMessage(body: string): Buffer {
  return Buffer.from(
    `From: a@example.test\r\nTo: b@example.test\r\nSubject: relay test\r\nMessage-ID: <${Math.random()}@example.test>\r\n\r\n${body}`,
  );
}

describe('smtp adapter relaying to a real SMTP server', () => {
  let gw: TestGateway | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    while (cleanups.length) await cleanups.pop()!();
  });

  test('mail sent with nodemailer arrives byte-exact, dot-leading lines included, and the relay is recorded', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
    });
    const body = '.leading dot\r\n..two dots\r\n.\r\nmiddle\r\n' + 'x'.repeat(998) + '\r\nend\r\n';
    const raw = rawMessage(body);
    const info = await transport(gw.ports.smtp).sendMail({ envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw });
    expect(info.accepted).toEqual(['b@example.test']);
    expect(upstream.messages).toHaveLength(1);
    expect(upstream.messages[0].raw.equals(raw)).toBe(true);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ service: 'smtp', outcome: 'relayed', identity: 'anonymous', server: `127.0.0.1:${upstream.port}` });
    expect(record.bytesFromClient).toBeGreaterThan(raw.length);
    expect(record.bytesFromServer).toBeGreaterThan(0);
    expect(record.durationMs).toBeGreaterThanOrEqual(0);
  });

  test('a 1 MB message passes unchanged', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
    });
    const line = (i: number) => `${i % 7 === 0 ? '.' : ''}line ${i} ${'abcdefghij'.repeat(7)}\r\n`;
    let body = '';
    for (let i = 0; body.length < 1024 * 1024; i++) body += line(i);
    const raw = rawMessage(body);
    await transport(gw.ports.smtp).sendMail({ envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw });
    expect(upstream.messages[0].raw.equals(raw)).toBe(true);
  });

  test('with the server down the client gets 421 4.3.0 and nodemailer reports it', async () => {
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: await refusedPort() }] },
      access: [...OPEN_SMTP],
    });
    const error = await transport(gw.ports.smtp)
      .sendMail({ from: 'a@example.test', to: 'b@example.test', text: 'x' })
      .catch((e: Error & { responseCode?: number; response?: string }) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { responseCode?: number }).responseCode).toBe(421);
    expect(String((error as { response?: string }).response)).toMatch(/^421 4\.3\.0 smtp service unavailable/);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record.outcome).toBe('unreachable');
  });

  test('a refused first server fails over to the next server by priority', async () => {
    const upstream = await startSmtpUpstream('second server');
    cleanups.push(upstream.close);
    const dead = await refusedPort();
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: {
        smtp: [
          { host: '127.0.0.1', port: upstream.port, priority: 20 },
          { host: '127.0.0.1', port: dead, priority: 10 },
        ],
      },
      access: [...OPEN_SMTP],
    });
    await transport(gw.ports.smtp).sendMail({ envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw: rawMessage('one\r\n') });
    expect(upstream.messages).toHaveLength(1);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record.server).toBe(`127.0.0.1:${upstream.port}`);
  });

  test('an anonymous client with no rule allowing smtp gets 554 5.7.1 with the reason', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [{ subject: 'anonymous', service: 'smtp', allow: false, reason: 'guests may not send mail here' }],
    });
    const error = await transport(gw.ports.smtp)
      .sendMail({ from: 'a@example.test', to: 'b@example.test', text: 'x' })
      .catch((e: Error) => e);
    expect(String((error as { response?: string }).response)).toBe('554 5.7.1 guests may not send mail here');
    expect(upstream.messages).toHaveLength(0);
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ outcome: 'refused', rule: 'anonymous x smtp -> deny' });
  });

  test('clients over maxClients are refused in-protocol while the first keeps working', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0, maxClients: 1 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
    });
    const first = await RawClient.open(gw.ports.smtp);
    await first.waitFor((text) => text.startsWith('220 '));
    const second = await RawClient.open(gw.ports.smtp);
    await second.closed;
    expect(second.received).toMatch(/^421 4\.3\.2 too many clients \(limit 1\)/);
    first.send('NOOP\r\n');
    await first.waitFor((text) => /\r\n250 /.test(text));
    first.send('QUIT\r\n');
    await first.closed;
  });

  test('a refused client that never hangs up is cut after the refusal linger, so refusals cannot hold descriptors', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0, maxClients: 1 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
    });
    const first = await RawClient.open(gw.ports.smtp);
    await first.waitFor((text) => text.startsWith('220 '));
    // Half-open on purpose: it reads the refusal and the FIN, and never closes its side.
    const stubborn = connect({ host: '127.0.0.1', port: gw.ports.smtp, allowHalfOpen: true });
    let closed = false;
    stubborn.on('error', () => undefined);
    stubborn.on('close', () => (closed = true));
    stubborn.resume();
    await new Promise((resolve) => stubborn.once('end', resolve));
    // While open on the gateway's side, its writes are taken (read and dropped); once cut, a write is answered
    // with a reset and the next one fails (EPIPE). So it writes until it finds itself cut.
    const cut = () => {
      if (!closed && stubborn.writable) stubborn.write('NOOP\r\n');
      return closed;
    };
    await until(cut, 'the refused connection to be cut after the linger', REFUSAL_LINGER_MS + 3_000, 100);
    first.send('QUIT\r\n');
    await first.closed;
  }, 15_000);

  test('an edit of the servers file re-routes the next connection, and a broken edit keeps the last good table', async () => {
    const one = await startSmtpUpstream('server one');
    const two = await startSmtpUpstream('server two');
    cleanups.push(one.close, two.close);
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-file-'));
    const file = join(dir, 'servers.yaml');
    writeFileSync(file, `smtp:\n  - { host: 127.0.0.1, port: ${one.port} }\n`);
    gw = await startGateway({ adapters: { smtp: { port: 0 } }, serversFile: file, access: [...OPEN_SMTP] });
    const greeting = async () => {
      const client = await RawClient.open(gw!.ports.smtp);
      const text = await client.waitFor((t) => t.includes('\r\n'));
      client.close();
      return text;
    };
    expect(await greeting()).toMatch(/server one/);
    // Replace the file the way editors do: write a new file, rename it over the old one.
    writeFileSync(join(dir, 'new.yaml'), `smtp:\n  - { host: 127.0.0.1, port: ${two.port} }\n`);
    renameSync(join(dir, 'new.yaml'), file);
    await until(async () => /server two/.test(await greeting()), 'the edit to route to server two', 8000, 50);
    writeFileSync(file, 'smtp: [ { host: 127.0.0.1, port: not-a-port } ]\n');
    const rejectedEdit = () => gw!.logger.lines.some((line) => line.obj.event === 'servers-file' && line.level === 'error');
    await until(rejectedEdit, 'the broken edit to be reported', 8000, 50);
    const rejected = gw.logger.lines.find((line) => line.obj.event === 'servers-file' && line.level === 'error')!;
    expect(String(rejected.obj.reason)).toMatch(/smtp\.0\.port/);
    expect(await greeting()).toMatch(/server two/);
  });

  test('pipelined commands after EHLO (RFC 2920) pass in one write and in order', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
    });
    const client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 '));
    client.send('EHLO me\r\n');
    await client.waitFor((text) => /PIPELINING/.test(text) && /\r\n250 [^\r]*\r\n$/.test(text));
    client.send('MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n');
    await client.waitFor((text) => text.includes('354'));
    client.send('Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n');
    await client.closed;
    expect(upstream.messages[0].raw.toString()).toBe('Subject: pipelined\r\n\r\nbody\r\n');
  });

  test('an idle relay is closed after idleTimeoutMs', async () => {
    const silent = await listenTcp((socket) => socket.write('220 silent server\r\n'));
    cleanups.push(silent.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0, idleTimeoutMs: 200 } },
      servers: { smtp: [{ host: '127.0.0.1', port: silent.port }] },
      access: [...OPEN_SMTP],
    });
    const client = await RawClient.open(gw.ports.smtp);
    await client.closed;
    expect(client.received).toBe('220 silent server\r\n');
    const [record] = await gw.logger.waitForRecords(1);
    expect(record).toMatchObject({ outcome: 'relayed', reason: 'idle-timeout' });
  });

  test('close() lets an open relay finish within the grace period, then cuts it', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    gw = await startGateway({
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
      shutdownGraceMs: 400,
    });
    const client = await RawClient.open(gw.ports.smtp);
    await client.waitFor((text) => text.startsWith('220 '));
    const started = Date.now();
    const closing = gw.gateway.close();
    // Still relaying during the grace period...
    client.send('NOOP\r\n');
    await client.waitFor((text) => /\r\n250 /.test(text));
    // ...but no new clients are accepted.
    await expect(RawClient.open(gw.ports.smtp)).rejects.toThrow(/ECONNREFUSED/);
    await closing;
    await client.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });
});
