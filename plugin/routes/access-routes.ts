import { Router } from 'express';
import type { z } from 'zod';
import type { AccessTable } from '../access-table';
import { parseBody } from '../api-errors';
import type { AuditLog } from '../audit-log';
import { accessRuleSchema } from '../option-schemas';
import { callerOf, requireAdmin } from '../request-auth';

const patchSchema = accessRuleSchema
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, 'name at least one of subject, service, allow, reason');

/**
 * The access table (admin only):
 *   GET    /access/rules       every rule, config rules first
 *   POST   /access/rules       add { subject, service, allow, reason? }
 *   PATCH  /access/rules/:id   change an API rule
 *   DELETE /access/rules/:id   remove an API rule
 * Rules from the config file answer 409: change them in the file.
 */
export function accessRoutes(table: AccessTable, audit: AuditLog): Router {
  const router = Router();
  const actor = (req: Parameters<typeof callerOf>[0]) => callerOf(req).user?.id ?? 'admin-token';
  const fixed = (id: string) => table.get(id)?.origin === 'config';

  router.get('/access/rules', requireAdmin, (_req, res) => {
    res.json({ rules: table.list() });
  });

  router.post('/access/rules', requireAdmin, async (req, res) => {
    const body = parseBody(accessRuleSchema, req.body, res);
    if (!body) return;
    const rule = await table.add(body);
    audit.record('rule.added', { actor: actor(req), detail: { ...rule } });
    res.status(201).json(rule);
  });

  router.patch('/access/rules/:id', requireAdmin, async (req, res) => {
    const id = String(req.params.id);
    if (fixed(id)) return void res.status(409).json({ error: 'this rule comes from the config file; change it there' });
    const patch = parseBody(patchSchema as unknown as z.ZodType<Partial<z.output<typeof accessRuleSchema>>>, req.body, res);
    if (!patch) return;
    const rule = await table.update(id, patch);
    if (!rule) return void res.status(404).json({ error: 'no such rule' });
    audit.record('rule.changed', { actor: actor(req), detail: { ...rule } });
    res.json(rule);
  });

  router.delete('/access/rules/:id', requireAdmin, async (req, res) => {
    const id = String(req.params.id);
    if (fixed(id)) return void res.status(409).json({ error: 'this rule comes from the config file; change it there' });
    if (!(await table.remove(id))) return void res.status(404).json({ error: 'no such rule' });
    audit.record('rule.removed', { actor: actor(req), detail: { id } });
    res.status(204).end();
  });

  return router;
}
