import { Router } from 'express';
import { z } from 'zod';
import { parseBody } from '../api-errors';
import type { AuditLog } from '../audit-log';
import { requireAdmin } from '../request-auth';

/** A time as the audit query takes it: ISO 8601 (`2026-12-04T23:10Z`; without a zone, UTC) or ms since the epoch. */
const time = z
  .string()
  .max(40)
  .transform((text, context) => {
    const at = /^\d+$/.test(text) ? Number(text) : Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) || !text.includes('T') ? text : `${text}Z`);
    if (Number.isFinite(at)) return at;
    context.addIssue({ code: 'custom', message: 'must be an ISO 8601 time (2026-12-04T23:10Z) or ms since the epoch' });
    return z.NEVER;
  });

/** The audit trail's query, as the API and the console take it. */
export const auditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  beforeId: z.coerce.number().int().min(1).optional(),
  type: z
    .string()
    .regex(/^[a-z.]{1,40}$/, 'must be an event type such as login.failure')
    .optional(),
  actor: z.string().min(1).max(200).optional(),
  since: time.optional(),
  until: time.optional(),
});

/** GET /audit?limit=&beforeId=&type=&actor=&since=&until= (admin): the audit trail, newest first. */
export function auditRoute(audit: AuditLog): Router {
  const router = Router();
  router.get('/audit', requireAdmin, async (req, res) => {
    const query = parseBody(auditQuerySchema, req.query, res);
    if (!query) return;
    const events = await audit.list(query);
    res.set('Cache-Control', 'no-store').json({ events: events.map((event) => ({ ...event, at: new Date(event.at).toISOString() })) });
  });
  return router;
}
