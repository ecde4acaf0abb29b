/**
 * An Express app that existed before roamgate (its own JSON API, session,
 * passport login and reverse proxy), with roamgate added in a few lines to put
 * an intranet web server behind roamgate's login. See README.md here.
 *
 *   npm run build && node dist/examples/express-gateway/app.js
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express, { type RequestHandler } from 'express';
import session from 'express-session';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { roamgate, type Logger } from '../../index';

export interface ExpressGatewayOptions {
  /** The intranet web server roamgate guards (and the host's own `/status` proxies to), e.g. `http://127.0.0.1:8081`. */
  upstreamUrl: string;
  /** Port to listen on, on `host`; 0 (the default) picks a free one. */
  port?: number;
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** Signs the host's own session cookie; default: random per process. */
  sessionSecret?: string;
  /** roamgate's logger; default: pino to stdout. */
  logger?: Logger;
}

export interface ExpressGateway {
  /** Where the app listens, e.g. `http://127.0.0.1:8080`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The host's users. `role` is the host's own business: roamgate is only ever given `id` and `attributes`. */
interface HostUser {
  id: string;
  role: 'admin' | 'staff';
  attributes: Record<string, string>;
}

/** Demo accounts: name, password, role in the host, attributes roamgate's access rules look at. */
const DEMO_ACCOUNTS: Array<HostUser & { password: string }> = [
  { id: 'ops', password: 'ops-password', role: 'admin', attributes: { team: 'ops' } },
  { id: 'alice', password: 'alice-password', role: 'staff', attributes: { team: 'sales' } },
];

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;

/** The host's user list with scrypt hashes made at start-up (a real app keeps them in its database). */
async function hostUserList(): Promise<Map<string, HostUser & { salt: Buffer; key: Buffer }>> {
  const users = new Map<string, HostUser & { salt: Buffer; key: Buffer }>();
  for (const { password, ...user } of DEMO_ACCOUNTS) {
    const salt = randomBytes(16);
    users.set(user.id, { ...user, salt, key: await scryptAsync(password, salt, 32) });
  }
  return users;
}

/** Starts the app; resolves once it listens. */
export async function createExpressGateway(options: ExpressGatewayOptions): Promise<ExpressGateway> {
  const upstream = new URL(options.upstreamUrl);
  const users = await hostUserList();

  // ---- the host app as it was before roamgate -------------------------------------------------------
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use(express.json());
  app.use(
    session({
      name: 'host.sid',
      secret: options.sessionSecret ?? randomBytes(32).toString('hex'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  const hostPassport = new Passport();
  const hostStrategy = new LocalStrategy((username, password, done) => {
    const user = users.get(username);
    // Unknown names cost a hash too, so timing does not tell which names exist.
    const salt = user?.salt ?? randomBytes(16);
    scryptAsync(password, salt, 32).then((key) => {
      if (!user || !timingSafeEqual(key, user.key)) return done(null, false);
      done(null, { id: user.id, role: user.role, attributes: user.attributes });
    }, done);
  });
  hostPassport.use('local', hostStrategy);
  hostPassport.serializeUser((user, done) => done(null, (user as HostUser).id));
  hostPassport.deserializeUser((id: string, done) => {
    const user = users.get(id);
    done(null, user ? { id: user.id, role: user.role, attributes: user.attributes } : false);
  });
  app.use(hostPassport.initialize());
  app.use(hostPassport.session());

  const hostLogin: RequestHandler = (req, res, next) => (req.user ? next() : void res.status(401).json({ error: 'log in at POST /login' }));
  app.post('/login', hostPassport.authenticate('local'), (req, res) => void res.json({ user: req.user }));
  app.post('/logout', (req, res, next) => req.logout((error) => (error ? next(error) : void res.status(204).end())));
  app.get('/api/me', hostLogin, (req, res) => void res.json({ user: req.user }));
  app.use('/status', hostLogin, createProxyMiddleware({ target: upstream.origin, changeOrigin: true }));

  // ---- roamgate, added in a few lines ---------------------------------------------------------------
  const gw = roamgate({
    // The host's own passport-local strategy checks every roamgate login; its user's `id` and `attributes` are used.
    directory: hostStrategy,
    // Where gw.router is mounted below: guarded routes send browsers to /roamgate/login?return=...
    mountPath: '/roamgate',
    access: [
      { subject: 'team=ops', service: 'intranet', allow: true, reason: 'the ops team uses the intranet' },
      { subject: 'authenticated', service: 'intranet', allow: false, reason: 'the intranet is for the ops team' },
    ],
    servers: { intranet: [{ host: upstream.hostname, port: Number(upstream.port || (upstream.protocol === 'https:' ? 443 : 80)) }] },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  app.use('/roamgate', gw.router);
  app.use('/intranet', gw.web('intranet', { path: '/intranet' }));
  app.get('/whoami', gw.protect('intranet'), (req, res) => void res.json(req.roamgate));

  const server = createServer(app);
  gw.attach(server);
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  await gw.listen();
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    server,
    close: async () => {
      server.close();
      await gw.close();
      server.closeAllConnections();
    },
  };
}

/** `node dist/examples/express-gateway/app.js`: UPSTREAM_URL, or a stand-in intranet page on 127.0.0.1:8081. */
async function main(): Promise<void> {
  let upstreamUrl = process.env.UPSTREAM_URL;
  let standIn: Server | undefined;
  if (!upstreamUrl) {
    standIn = createServer((req, res) => {
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(
        `Hello from the intranet page behind roamgate.\nYou asked for ${req.url}; the headers that arrived:\n${JSON.stringify(req.headers, null, 2)}\n`,
      );
    });
    standIn.listen(8081, '127.0.0.1');
    await once(standIn, 'listening');
    upstreamUrl = 'http://127.0.0.1:8081';
  }
  const gateway = await createExpressGateway({ upstreamUrl, port: Number(process.env.PORT ?? 8080) });
  process.stdout.write(
    [
      '',
      `express gateway is up at ${gateway.url} (intranet: ${upstreamUrl})`,
      `  ${gateway.url}/intranet/        guarded by roamgate: log in as ops / ops-password`,
      `  ${gateway.url}/whoami           who roamgate says you are`,
      `  ${gateway.url}/roamgate/login   roamgate's login page`,
      `  ${gateway.url}/api/me           the host's own API (POST /login {"username":"ops","password":"ops-password"})`,
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await gateway.close();
    standIn?.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module)
  main().catch((error: unknown) => {
    process.stderr.write(`express gateway: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
