import express from 'express';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { python, startServers, stopServers } from './helpers';

jest.setTimeout(60_000);

/**
 * The host app's own passport-local strategy as roamgate's directory, with
 * real clients and a real server: python's poplib logs in with USER/PASS at
 * the POP3 adapter, the host's strategy checks the password, and the
 * adapter logs in at dovecot with the same credentials and relays.
 */

type Pop3Result = { greeting: string; count: number; messages: string[] };
type Pop3Login = { tls: string | null; command?: string; error?: string };

/** The host's users: the same passwords as the dovecot test accounts, so the server login that follows succeeds. */
const HOST_USERS: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw' };

describe("the host's passport-local strategy as the directory, with poplib and dovecot", () => {
  let env: Record<string, string>;
  let gw: TestGateway;
  let hostDown = false;
  const checked: string[] = [];

  beforeAll(async () => {
    env = startServers();
    const strategy = new LocalStrategy((username, password, done) => {
      checked.push(username);
      if (hostDown) return done(new Error('the host directory is down'));
      done(null, HOST_USERS[username] === password ? { id: username, attributes: { source: 'host' } } : false);
    });
    gw = await startGateway({
      directory: strategy,
      login: { cacheSeconds: 0 },
      access: [{ subject: 'source=host', service: '*', allow: true }],
      servers: {
        pop3: [
          { host: '127.0.0.1', port: Number(env.POP3_PORT_A), for: 'user:alice' },
          { host: '127.0.0.1', port: Number(env.POP3_PORT_B), for: 'user:bob' },
        ],
      },
      adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
    });
  });

  afterAll(async () => {
    await gw?.close();
    stopServers();
  });

  test('poplib USER/PASS: the host strategy checks alice, and she reads her own mailbox on dovecot A', async () => {
    const through = await python<Pop3Result>('pop3', '127.0.0.1', String(gw.ports.pop3), 'alice', 'alice-pw');
    expect(through.count).toBe(1);
    expect(Buffer.from(through.messages[0], 'base64').toString('latin1')).toContain('\r\nSubject: hello alice from A\r\n');
    expect(checked).toContain('alice');
    const [record] = await gw.logger.waitForRecords(1, 10_000);
    expect(record).toMatchObject({ service: 'pop3', identity: 'alice', outcome: 'relayed', server: `127.0.0.1:${env.POP3_PORT_A}` });
  });

  test('a password the host refuses is -ERR [AUTH]; a host directory that throws is -ERR [SYS/TEMP], never a wrong password', async () => {
    const wrong = await python<Pop3Login>('pop3-login', '127.0.0.1', String(gw.ports.pop3), 'bob', 'not-bob');
    expect(wrong).toEqual({ tls: null, command: 'PASS', error: expect.stringMatching(/^-ERR \[AUTH\] /) });
    hostDown = true;
    try {
      const down = await python<Pop3Login>('pop3-login', '127.0.0.1', String(gw.ports.pop3), 'bob', 'bob-pw');
      expect(down).toEqual({ tls: null, command: 'PASS', error: expect.stringMatching(/^-ERR \[SYS\/TEMP\] /) });
    } finally {
      hostDown = false;
    }
  });

  test('the login page and the JSON login go through the same strategy', async () => {
    const app = express();
    app.use('/roamgate', gw.gateway.router);
    const json = await request(app).post('/roamgate/login').send({ username: 'bob', password: 'bob-pw', bindAddress: false }).expect(201);
    expect(json.body.lease).toMatchObject({ userId: 'bob', attributes: { source: 'host' } });
    const agent = request.agent(app);
    const page = await agent.get('/roamgate/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const form = await agent
      .post('/roamgate/login')
      .type('form')
      .send({ username: 'alice', password: 'alice-pw', _csrf: csrf })
      .expect(200);
    expect(form.text).toContain('Logged in as <strong>alice</strong>');
  });
});
