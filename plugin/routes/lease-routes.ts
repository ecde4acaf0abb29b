import { Router, type Request } from 'express';
import type { LeaseRecord } from '../../store/store';
import type { AuditLog } from '../audit-log';
import { normalizeAddress, type LeaseManager } from '../lease-manager';
import { callerOf, requireCaller } from '../request-auth';
import { leaseView } from './login-routes';

/**
 * Leases:
 *   GET    /leases            the admin sees every live lease; a user their own
 *   POST   /leases/:id/renew  the lease's user or an admin: extends it by the lease TTL
 *   DELETE /leases/:id        the lease's user or an admin: revokes it and closes its relays
 */
export function leaseRoutes(leases: LeaseManager, audit: AuditLog): Router {
  const router = Router();
  const mayManage = (req: Request, userId: string) => {
    const caller = callerOf(req);
    return caller.admin || caller.user?.id === userId;
  };

  router.get('/leases', requireCaller, (req, res) => {
    const caller = callerOf(req);
    const visible = leases.list().filter((lease) => caller.admin || lease.userId === caller.user?.id);
    res.set('Cache-Control', 'no-store').json({ leases: visible.map(leaseView) });
  });

  router.post('/leases/:id/renew', requireCaller, async (req, res) => {
    const lease = leases.get(String(req.params.id));
    if (!lease || !mayManage(req, lease.userId)) return void res.status(404).json({ error: 'no such live lease' });
    const renewed = await leases.renew(lease.id);
    if (!renewed) return void res.status(404).json({ error: 'no such live lease' });
    audit.record('lease.renewed', {
      actor: callerOf(req).user?.id ?? 'admin',
      address: normalizeAddress(req.ip),
      detail: { lease: lease.id, expiresAt: renewed.expiresAt },
    });
    res.json({ lease: leaseView(renewed) });
  });

  router.delete('/leases/:id', requireCaller, async (req, res) => {
    const lease = leases.get(String(req.params.id));
    if (!lease || !mayManage(req, lease.userId)) return void res.status(404).json({ error: 'no such live lease' });
    await revokeLease(leases, audit, lease, req);
    res.status(204).end();
  });

  return router;
}

/** Revokes a lease (its relays close, see relay-enforcement) and audits it with the caller as actor. */
export async function revokeLease(leases: LeaseManager, audit: AuditLog, lease: LeaseRecord, req: Request): Promise<void> {
  await leases.revoke(lease.id);
  audit.record('lease.revoked', {
    actor: callerOf(req).user?.id ?? 'admin',
    address: normalizeAddress(req.ip),
    detail: { lease: lease.id, user: lease.userId },
  });
}
