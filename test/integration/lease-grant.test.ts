import express, { type Express } from 'express';
import nodemailer from 'nodemailer';
import request from 'supertest';
import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import { CapturingLogger } from '../helpers/gateway';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

jest.setTimeout(20_000);

let users: RoamgateOptions['users'];
beforeAll(async () => {
  const hash = await hashPassword('pw');
  users = ['alice', 'bob', 'mallory'].map((id) => ({ id, passwordHash: hash, attributes: { team: id === 'mallory' ? 'none' : 'staff' } }));
});

const RULES = [{ subject: 'team=staff', service: '*', allow: true }];

interface Gateway {
  app: Express;
  gw: Roamgate;
  ports: Record<string, number>;
  close(): Promise<void>;
}

async function start(extra: Partial<RoamgateOptions> = {}): Promise<Gateway> {
  const gw = roamgate({ health: { enabled: false }, logger: new CapturingLogger(), users, access: RULES, ...extra });
  const app = express();
  app.use('/roamgate', gw.router);
  app.get('/whoami', gw.protect('intranet'), (req, res) => res.json({ user: req.roamgate!.identity }));
  const bound = await gw.listen();
  return {
    app,
    gw,
    ports: Object.fromEntries(Object.entries(bound).map(([name, address]) => [name, address.port])),
    close: () => gw.close(),
  };
}

const login = (app: Express, username: string, extra: Record<string, unknown> = {}) =>
  request(app)
    .post('/roamgate/login')
    .send({ username, password: 'pw', ...extra });

describe('one address, one user', () => {
  let gw: Gateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test("a second user's login from an address where another's lease lives is refused (409) until that lease ends", async () => {
    gw = await start();
    const alice = await login(gw.app, 'alice').expect(201);
    const bob = await login(gw.app, 'bob').expect(409);
    expect(bob.body.error).toMatch(/another user holds a live lease on this address/);
    // The same user again is fine; and the address is still alice's.
    const again = await login(gw.app, 'alice').expect(201);
    expect((await request(gw.app).get('/whoami').expect(200)).body.user.user.id).toBe('alice');
    await request(gw.app).post('/roamgate/logout').set('Authorization', `Bearer ${alice.body.token}`).expect(204);
    await login(gw.app, 'bob').expect(409);
    await request(gw.app).post('/roamgate/logout').set('Authorization', `Bearer ${again.body.token}`).expect(204);
    await login(gw.app, 'bob').expect(201);
    expect((await request(gw.app).get('/whoami').expect(200)).body.user.user.id).toBe('bob');
  });

  test('a token-only lease (a local proxy’s) binds no address: it never conflicts and never identifies the address', async () => {
    gw = await start();
    const bob = await login(gw.app, 'bob', { bindAddress: false }).expect(201);
    await request(gw.app).get('/whoami').expect(401);
    expect((await request(gw.app).get('/whoami').set('Authorization', `Bearer ${bob.body.token}`).expect(200)).body.user.user.id).toBe(
      'bob',
    );
    await login(gw.app, 'alice').expect(201);
    expect((await request(gw.app).get('/whoami').expect(200)).body.user.user.id).toBe('alice');
  });

  test('on leases.sharedAddresses logins never conflict, and a lease identifies nobody by address there', async () => {
    gw = await start({ leases: { sharedAddresses: ['127.0.0.0/8', '::1'] } });
    const alice = await login(gw.app, 'alice').expect(201);
    await login(gw.app, 'bob').expect(201);
    await request(gw.app).get('/whoami').expect(401);
    await request(gw.app).get('/whoami').set('Authorization', `Bearer ${alice.body.token}`).expect(200);
  });

  test('a client on an address held by a local proxy’s lease still logs in in its own protocol', async () => {
    const upstream = await startSmtpUpstream({ users: { alice: 'pw' }, banner: 'upstream' });
    try {
      gw = await start({
        adapters: { smtp: { port: 0, login: { allowCleartext: true } } },
        servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      });
      await login(gw.app, 'bob', { bindAddress: false }).expect(201);
      await nodemailer
        .createTransport({ host: '127.0.0.1', port: gw.ports.smtp, secure: false, ignoreTLS: true, auth: { user: 'alice', pass: 'pw' } })
        .sendMail({ from: 'alice@example.test', to: 'x@example.test', subject: 'hi', text: 'x' });
      expect(upstream.messages[0].user).toBe('alice');
    } finally {
      await upstream.close();
    }
  });

  test('leases.sharedAddresses entries are checked at the door', () => {
    expect(() => roamgate({ leases: { sharedAddresses: ['10.0.0.0/33'] } })).toThrow(/leases\.sharedAddresses\.0: the prefix must be 0-32/);
    expect(() => roamgate({ leases: { sharedAddresses: ['nat.example'] } })).toThrow(/leases\.sharedAddresses\.0/);
  });
});

describe('no rights, no lease', () => {
  let gw: Gateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test('a user the access table lets use nothing is refused at login with the reason, in JSON and on the form', async () => {
    gw = await start();
    const refused = await login(gw.app, 'mallory').expect(403);
    expect(refused.body.error).toBe('mallory may use no service here');
    const agent = request.agent(gw.app);
    const page = await agent.get('/roamgate/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const form = await agent.post('/roamgate/login').type('form').send({ username: 'mallory', password: 'pw', _csrf: csrf }).expect(403);
    expect(form.text).toContain('Mallory may use no service here.');
  });

  test('a rule naming one service is a right; login.requireRights false issues leases anyway', async () => {
    gw = await start({ access: [{ subject: 'user:mallory', service: 'intranet', allow: true }] });
    await login(gw.app, 'mallory').expect(201);
    await gw.close();
    gw = await start({ access: [], login: { requireRights: false } });
    await login(gw.app, 'mallory').expect(201);
  });

  test('gw.issueLease is held to the same rules', async () => {
    gw = await start();
    const req = { socket: { remoteAddress: '127.0.0.1' }, headers: {} } as never;
    await expect(gw.gw.issueLease(req, { id: 'nobody' })).rejects.toThrow(/may use no service here/);
    await gw.gw.issueLease(req, { id: 'alice', attributes: { team: 'staff' } });
    await expect(gw.gw.issueLease(req, { id: 'bob', attributes: { team: 'staff' } })).rejects.toThrow(/another user holds/);
  });
});
