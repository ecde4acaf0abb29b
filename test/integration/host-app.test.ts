import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import { CapturingLogger } from '../helpers/gateway';

/** The host's own users: `ops` is an admin there, and roamgate has a user called `ops` too (with its own password). */
const HOST_USERS: Record<string, { password: string; role: string }> = {
  ops: { password: 'host-ops-pw', role: 'admin' },
  carol: { password: 'carol-host-pw', role: 'staff' },
};

interface Host {
  app: Express;
  gw: Roamgate;
  logger: CapturingLogger;
  upstream: Server;
  close(): Promise<void>;
}

/** An upstream the host proxies its own /status route to. */
async function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => res.end(`upstream ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/**
 * A host gateway as people run them: express.json, express-session, its own
 * passport with passport-local, a guarded /api and an http-proxy-middleware
 * route; roamgate mounted after all that (or before it).
 */
async function startHost(order: 'after' | 'before', extra: Partial<RoamgateOptions> = {}): Promise<Host> {
  const upstream = await startUpstream();
  const logger = new CapturingLogger();
  const gw = roamgate({
    health: { enabled: false },
    users: extra.directory ? [] : [{ id: 'ops', passwordHash: await hashPassword('roamgate-ops-pw'), attributes: { role: 'admin' } }],
    logger,
    access: [{ subject: 'authenticated', service: '*', allow: true }],
    ...extra,
  });
  const app = express();
  const passport = new Passport();
  passport.use(
    new LocalStrategy((username, password, done) => {
      const user = HOST_USERS[username];
      done(null, user && user.password === password ? { id: username, role: user.role } : false);
    }),
  );
  passport.serializeUser((user, done) => done(null, (user as { id: string }).id));
  passport.deserializeUser((id: string, done) => done(null, HOST_USERS[id] ? { id, role: HOST_USERS[id].role } : false));
  const mountRoamgate = () => app.use('/roamgate', gw.router);
  if (order === 'before') mountRoamgate();
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));
  app.use(session({ secret: 'host-secret-host-secret-host-secret', resave: false, saveUninitialized: false }));
  app.use(passport.initialize());
  app.use(passport.session());
  app.post('/host/login', passport.authenticate('local', { session: true }), (_req, res) => res.json({ ok: true }));
  app.get('/api', (req: Request, res: Response) =>
    req.user ? res.json({ user: req.user }) : res.status(401).json({ error: 'host login' }),
  );
  app.use('/status', createProxyMiddleware({ target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }));
  if (order === 'after') mountRoamgate();
  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => res.status(500).json({ error: error.message }));
  await gw.listen();
  return {
    app,
    gw,
    logger,
    upstream,
    close: async () => {
      await gw.close();
      await new Promise((resolve) => upstream.close(resolve));
    },
  };
}

async function roamgateCsrf(agent: ReturnType<typeof request.agent>): Promise<string> {
  return (await agent.get('/roamgate/csrf').expect(200)).body.csrfToken as string;
}

describe.each(['after', 'before'] as const)('roamgate mounted %s the host app’s session and passport', (order) => {
  let host: Host;
  beforeEach(async () => {
    host = await startHost(order);
  });
  afterEach(async () => {
    await host.close();
  });

  test("a host login never grants a roamgate right, even for a host user with roamgate's admin's name", async () => {
    const agent = request.agent(host.app);
    await agent.post('/host/login').send({ username: 'ops', password: 'host-ops-pw' }).expect(200);
    expect((await agent.get('/api').expect(200)).body.user.id).toBe('ops');
    await agent.get('/roamgate/access/rules').expect(401);
    await agent.get('/roamgate/leases').expect(401);
    const csrf = await roamgateCsrf(agent);
    await agent
      .post('/roamgate/access/rules')
      .set('X-CSRF-Token', csrf)
      .send({ subject: 'anonymous', service: '*', allow: true })
      .expect(401);
    // The host's session is still the host's.
    expect((await agent.get('/api').expect(200)).body.user.id).toBe('ops');
  });

  test('a roamgate login never logs the browser into the host', async () => {
    const agent = request.agent(host.app);
    await agent.post('/roamgate/login').send({ username: 'ops', password: 'roamgate-ops-pw' }).expect(201);
    const page = await agent.get('/roamgate/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    await agent.post('/roamgate/login').type('form').send({ username: 'ops', password: 'roamgate-ops-pw', _csrf: csrf }).expect(200);
    await agent.get('/roamgate/access/rules').expect(200);
    await agent.get('/api').expect(401);
  });

  test('a host user unknown to roamgate causes no 500, and keeps the host session', async () => {
    const agent = request.agent(host.app);
    await agent.post('/host/login').send({ username: 'carol', password: 'carol-host-pw' }).expect(200);
    for (const path of ['/roamgate/access/rules', '/roamgate/leases', '/roamgate/servers', '/roamgate/login', '/roamgate/csrf']) {
      const answer = await agent.get(path);
      expect(answer.status).toBeLessThan(500);
    }
    expect((await agent.get('/api').expect(200)).body.user.id).toBe('carol');
  });

  test('both logins side by side in one browser; logging out of roamgate leaves the host login', async () => {
    const agent = request.agent(host.app);
    await agent.post('/host/login').send({ username: 'carol', password: 'carol-host-pw' }).expect(200);
    const page = await agent.get('/roamgate/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const done = await agent
      .post('/roamgate/login')
      .type('form')
      .send({ username: 'ops', password: 'roamgate-ops-pw', _csrf: csrf })
      .expect(200);
    const cookies = String(done.headers['set-cookie']);
    expect(cookies).toMatch(/roamgate\.sid=[^;]+; Max-Age=\d+; Path=\/roamgate; Expires=[^;]+; HttpOnly; SameSite=Strict/);
    expect(cookies).toMatch(/roamgate\.lease=[^;]+; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax/);
    expect((await agent.get('/api').expect(200)).body.user.id).toBe('carol');
    await agent.get('/roamgate/access/rules').expect(200);
    const logoutCsrf = /action="[^"]*\/logout"><input type="hidden" name="_csrf" value="([^"]+)">/.exec(done.text)![1];
    await agent.post('/roamgate/logout').type('form').send({ _csrf: logoutCsrf }).expect(303);
    await agent.get('/roamgate/access/rules').expect(401);
    expect((await agent.get('/api').expect(200)).body.user.id).toBe('carol');
    // The host's own http-proxy-middleware route is untouched.
    expect((await agent.get('/status/x').expect(200)).text).toBe('upstream /x');
  });

  test('a peer request after the host’s body parser fails at once with the fix named, and the log says it once', async () => {
    const answer = await request(host.app).post('/roamgate/federation/verify').send({ username: 'x', password: 'y' });
    if (order === 'before') expect(answer.status).toBe(401);
    else {
      expect(answer.status).toBe(500);
      expect(answer.body.error).toMatch(/mount the roamgate router before any body parser/);
      await request(host.app).post('/roamgate/federation/verify').send({ username: 'x', password: 'y' }).expect(500);
      expect(host.logger.lines.filter((line) => line.obj.event === 'peer-body-parsed')).toHaveLength(1);
    }
  });
});
