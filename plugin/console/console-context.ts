import type { Request, RequestHandler, Response } from 'express';
import type { LiveRelays } from '../../adapters/live-relays';
import type { HealthMonitor } from '../../sources/health-monitor';
import type { ServerInfoSource } from '../../sources/server-info-source';
import type { AuditLog } from '../audit-log';
import type { LeaseManager } from '../lease-manager';
import type { LoginSessions } from '../login-sessions';
import type { ConfiguredPeer } from '../peers';
import { callerOf } from '../request-auth';
import type { AccessRouteDeps } from '../routes/access-routes';
import type { Html } from './html';
import { type ConsoleContext, type ConsolePageName, CONSOLE_PAGES, consolePage } from './layout';

/** What the console reads and changes: the gateway's own parts, never copies. */
export interface ConsoleDeps {
  source: ServerInfoSource;
  health: HealthMonitor;
  relays: LiveRelays;
  leases: LeaseManager;
  audit: AuditLog;
  peers: ReadonlyMap<string, ConfiguredPeer>;
  sessions: LoginSessions;
  /** The access table with what rule changes do to open relays. */
  access: AccessRouteDeps;
}

/** Where the management router is mounted (`/roamgate`), from inside the console's routers (mounted at `/console`). */
export function mountOf(req: Request): string {
  return req.baseUrl.replace(/\/console$/, '');
}

/** The context a page is rendered with. */
export async function contextOf(deps: ConsoleDeps, req: Request, res: Response): Promise<ConsoleContext> {
  return { base: mountOf(req), admin: callerOf(req).user?.id ?? '', csrf: await deps.sessions.csrfToken(req, res) };
}

/** Answers a page, or only its live rows when console.js asks (`?live=1`). */
export function sendPage(res: Response, context: ConsoleContext, page: ConsolePageName, body: Html, rows?: Html, status = 200): void {
  const live = rows !== undefined && res.req.query.live === '1';
  const title = CONSOLE_PAGES.find((each) => each.path === page)!.title;
  res
    .status(status)
    .type('html')
    .send(live ? rows.text : consolePage(context, page, title, body));
}

/** Wraps an async handler so that its failure reaches the router's error handler. */
export function handle(action: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res, next) => void action(req, res).catch(next);
}
