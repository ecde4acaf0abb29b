import { Router } from 'express';
import { z } from 'zod';
import type { LiveRelays } from '../../adapters/live-relays';
import type { AccessTable } from '../access-table';
import { parseBody } from '../api-errors';
import type { AuditLog } from '../audit-log';
import { accessRuleSchema } from '../option-schemas';
import { requireAdmin } from '../request-auth';
import { applyRuleChange, deniedRelays, proposedRules, type RuleChange, type RulePreview } from '../rule-changes';
import { adminActor } from './relay-routes';

const patchSchema = accessRuleSchema
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, 'name at least one of subject, service, allow, reason');

/** A proposed change, as POST /access/preview takes it. */
export const ruleChangeSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('add'), rule: accessRuleSchema }),
  z.strictObject({ op: z.literal('change'), id: z.string().min(1).max(100), patch: patchSchema }),
  z.strictObject({ op: z.literal('remove'), id: z.string().min(1).max(100) }),
]);

export interface AccessRouteDeps {
  table: AccessTable;
  audit: AuditLog;
  relays: LiveRelays;
  /** What a change does to the open relays it denies now: closes them, or lets them finish (a reload may change it). */
  onAccessChange: () => 'close' | 'finish';
}

/** What `change` would do to the open relays now; undefined when it names no API rule. */
export function previewRuleChange(deps: AccessRouteDeps, change: RuleChange): RulePreview | undefined {
  const rules = proposedRules(deps.table.list(), change);
  if (!rules) return undefined;
  return { denied: deniedRelays(rules, deps.relays.list()), closes: deps.onAccessChange() === 'close' };
}

/**
 * The access table (admin only):
 *   GET    /access/rules       every rule, config rules first
 *   POST   /access/rules       add { subject, service, allow, reason? }
 *   PATCH  /access/rules/:id   change an API rule
 *   DELETE /access/rules/:id   remove an API rule
 *   POST   /access/preview     what a change would do to open relays, before it is made:
 *                              { op: add, rule } | { op: change, id, patch } | { op: remove, id } -> { denied: [...], closes }
 * Rules from the config file answer 409: change them in the file.
 */
export function accessRoutes(deps: AccessRouteDeps): Router {
  const { table, audit } = deps;
  const router = Router();

  router.get('/access/rules', requireAdmin, (_req, res) => {
    res.json({ rules: table.list() });
  });

  router.post('/access/rules', requireAdmin, async (req, res) => {
    const rule = parseBody(accessRuleSchema, req.body, res);
    if (!rule) return;
    const result = await applyRuleChange(table, audit, { op: 'add', rule }, adminActor(req));
    if (result.ok) res.status(201).json(result.rule);
  });

  router.patch('/access/rules/:id', requireAdmin, async (req, res) => {
    const id = String(req.params.id);
    if (table.get(id)?.origin === 'config')
      return void res.status(409).json({ error: 'this rule comes from the config file; change it there' });
    const patch = parseBody(patchSchema as unknown as z.ZodType<Partial<z.output<typeof accessRuleSchema>>>, req.body, res);
    if (!patch) return;
    const result = await applyRuleChange(table, audit, { op: 'change', id, patch }, adminActor(req));
    if (!result.ok) return void res.status(result.status).json({ error: result.error });
    res.json(result.rule);
  });

  router.delete('/access/rules/:id', requireAdmin, async (req, res) => {
    const result = await applyRuleChange(table, audit, { op: 'remove', id: String(req.params.id) }, adminActor(req));
    if (!result.ok) return void res.status(result.status).json({ error: result.error });
    res.status(204).end();
  });

  router.post('/access/preview', requireAdmin, (req, res) => {
    const change = parseBody(ruleChangeSchema as unknown as z.ZodType<RuleChange>, req.body, res);
    if (!change) return;
    const preview = previewRuleChange(deps, change);
    if (!preview) return void res.status(404).json({ error: 'no such rule that the API may change' });
    res.set('Cache-Control', 'no-store').json(preview);
  });

  return router;
}
