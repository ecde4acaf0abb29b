import { type Request, type RequestHandler, Router } from 'express';
import { callerOf } from '../request-auth';
import { revokeLease } from '../routes/lease-routes';
import { cutRelay, relayView } from '../routes/relay-routes';
import { auditPage } from './audit-handler';
import { CONSOLE_SCRIPT, CONSOLE_STYLE } from './console-assets';
import { type ConsoleDeps, contextOf, handle, mountOf, sendPage } from './console-context';
import { leaseRows, leasesBody, type LeaseRow } from './leases-page';
import { peersBody } from './peers-page';
import { relayRows, relaysBody } from './relays-page';
import { ruleRoutes } from './rule-handlers';
import { serverRows, serversBody, type ServerRow } from './servers-page';

/**
 * What every console answer carries: scripts, styles and everything else only from the gateway, no inline script,
 * never framed, never cached.
 */
export const CONSOLE_SECURITY_HEADERS = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
});

/** A browser (it asks for HTML) rather than a program. */
function isBrowser(req: Request): boolean {
  return req.accepts(['json', 'html']) === 'html';
}

/**
 * Only an admin's login session. A browser without one goes to the login page and comes back after (a write goes
 * back to the console's first page); a program gets 401 (nobody) or 403 (not an admin, or not a login session).
 */
const adminSession: RequestHandler = (req, res, next) => {
  const caller = callerOf(req);
  if (caller.admin && caller.via === 'session') return next();
  if (isBrowser(req)) {
    const back = req.method === 'GET' ? req.originalUrl : `${mountOf(req)}/console`;
    return void res.redirect(303, `${mountOf(req)}/login?return=${encodeURIComponent(back)}`);
  }
  if (caller.via === 'none')
    return void res.status(401).json({ error: 'log in as an admin first (the console is for admin login sessions)' });
  res
    .status(403)
    .json({ error: caller.admin ? 'the console is for admin login sessions; programs use the JSON API' : 'admin role required' });
};

async function serverList(deps: ConsoleDeps): Promise<ServerRow[]> {
  const entries = deps.source.list ? await deps.source.list() : [];
  return entries.map((entry) => ({ ...entry, health: deps.health.statusOf(entry.service, entry) }));
}

function leaseList(deps: ConsoleDeps): LeaseRow[] {
  const relays = deps.relays.list();
  return deps.leases.list().map((lease) => ({
    lease,
    relays: relays.filter(({ relay }) => relay.identity.kind === 'user' && relay.identity.leaseId === lease.id).length,
  }));
}

/** The pages that only show (servers, relays, leases, peers) and the writes of relays and leases. */
function viewRoutes(deps: ConsoleDeps): Router {
  const router = Router();
  router.get('/', (req, res) => res.redirect(303, `${mountOf(req)}/console/servers`));
  router.get(
    '/servers',
    handle(async (req, res) => {
      const servers = await serverList(deps);
      sendPage(res, await contextOf(deps, req, res), 'servers', serversBody(servers), serverRows(servers));
    }),
  );
  router.get(
    '/relays',
    handle(async (req, res) => {
      const context = await contextOf(deps, req, res);
      const now = Date.now();
      const relays = deps.relays.list().map((listed) => relayView(listed, now));
      sendPage(res, context, 'relays', relaysBody(context, relays), relayRows(context, relays));
    }),
  );
  router.post('/relays/:id/cut', (req, res) => {
    cutRelay(deps.relays, deps.audit, String(req.params.id), req);
    res.redirect(303, `${mountOf(req)}/console/relays`);
  });
  router.get(
    '/leases',
    handle(async (req, res) => {
      const context = await contextOf(deps, req, res);
      const leases = leaseList(deps);
      sendPage(res, context, 'leases', leasesBody(context, leases), leaseRows(context, leases));
    }),
  );
  router.post(
    '/leases/:id/revoke',
    handle(async (req, res) => {
      const lease = deps.leases.get(String(req.params.id));
      if (lease) await revokeLease(deps.leases, deps.audit, lease, req);
      res.redirect(303, `${mountOf(req)}/console/leases`);
    }),
  );
  router.get(
    '/peers',
    handle(async (req, res) => {
      const peers = [...deps.peers].map(([realm, peer]) => ({
        realm,
        ...(peer.url ? { url: peer.url } : {}),
        ...(peer.client?.lastAnswer ? { lastAnswer: peer.client.lastAnswer } : {}),
      }));
      sendPage(res, await contextOf(deps, req, res), 'peers', peersBody(peers));
    }),
  );
  return router;
}

/**
 * The operator console at `<mount>/console`, for admins: server-rendered pages (servers, relays, leases, rules,
 * audit, peers), one small script that refreshes live tables, and POST forms with the session's CSRF token (checked
 * by the management router before this one) for every write.
 */
export function consoleRouter(deps: ConsoleDeps): Router {
  const router = Router();
  const pages = Router();
  pages.use((_req, res, next) => {
    res.set(CONSOLE_SECURITY_HEADERS);
    next();
  });
  pages.get('/console.js', (_req, res) => void res.type('js').send(CONSOLE_SCRIPT));
  pages.get('/console.css', (_req, res) => void res.type('css').send(CONSOLE_STYLE));
  pages.use(adminSession);
  pages.use(viewRoutes(deps));
  pages.use(ruleRoutes(deps));
  pages.get('/audit', auditPage(deps));
  router.use('/console', pages);
  return router;
}
