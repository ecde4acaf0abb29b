import { Router, type Request } from 'express';
import { describeIdentity } from '../../adapters/connection-attempt';
import type { ListedRelay, LiveRelays } from '../../adapters/live-relays';
import type { AuditLog } from '../audit-log';
import { normalizeAddress } from '../lease-manager';
import { callerOf, requireAdmin } from '../request-auth';

/** An open relay as the API and the console show it. */
export function relayView({ id, relay }: ListedRelay, now: number) {
  const { server, bytesFromClient, bytesFromServer } = relay.progress();
  return {
    id,
    user: describeIdentity(relay.identity),
    service: relay.service,
    client: relay.client,
    ...(server === undefined ? {} : { server }),
    bytesFromClient,
    bytesFromServer,
    startedAt: new Date(relay.startedAt).toISOString(),
    durationMs: Math.max(0, now - relay.startedAt),
  };
}

export type RelayView = ReturnType<typeof relayView>;

/** Who an admin request is, for the audit trail: the session's user, or the admin token. */
export function adminActor(req: Request): string {
  return callerOf(req).user?.id ?? 'admin-token';
}

/** Cuts one open relay and audits it (`relay.cut`, the admin as actor); false when it is gone already. */
export function cutRelay(relays: LiveRelays, audit: AuditLog, id: string, req: Request): boolean {
  const listed = relays.list().find((each) => each.id === id);
  if (!listed) return false;
  const view = relayView(listed, Date.now());
  if (!relays.closeById(id, `cut by the admin ${adminActor(req)}`)) return false;
  audit.record('relay.cut', {
    actor: adminActor(req),
    address: normalizeAddress(req.ip),
    detail: { relay: id, user: view.user, service: view.service, client: view.client, server: view.server },
  });
  return true;
}

/**
 * The open relays (admin only):
 *   GET  /relays          every open relay: user, service, client, server, bytes each way so far, start, duration
 *   POST /relays/:id/cut  closes one (both sockets), audited as relay.cut
 */
export function relayRoutes(relays: LiveRelays, audit: AuditLog): Router {
  const router = Router();
  router.get('/relays', requireAdmin, (_req, res) => {
    const now = Date.now();
    res.set('Cache-Control', 'no-store').json({ relays: relays.list().map((listed) => relayView(listed, now)) });
  });
  router.post('/relays/:id/cut', requireAdmin, (req, res) => {
    if (!cutRelay(relays, audit, String(req.params.id), req)) return void res.status(404).json({ error: 'no such open relay' });
    res.status(204).end();
  });
  return router;
}
