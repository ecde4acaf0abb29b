import { Router } from 'express';
import { z } from 'zod';
import { parseBody } from '../api-errors';
import type { AuditLog } from '../audit-log';
import { requireAdmin } from '../request-auth';

const querySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  beforeId: z.coerce.number().int().min(1).optional(),
  type: z
    .string()
    .regex(/^[a-z.]{1,40}$/, 'must be an event type such as login.failure')
    .optional(),
});

/** GET /audit?limit=&beforeId=&type= (admin): the audit trail, newest first. */
export function auditRoute(audit: AuditLog): Router {
  const router = Router();
  router.get('/audit', requireAdmin, async (req, res) => {
    const query = parseBody(querySchema, req.query, res);
    if (!query) return;
    const events = await audit.list(query);
    res.set('Cache-Control', 'no-store').json({ events: events.map((event) => ({ ...event, at: new Date(event.at).toISOString() })) });
  });
  return router;
}
