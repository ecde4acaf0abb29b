import { type Request, Router } from 'express';
import { accessRuleSchema } from '../option-schemas';
import { previewRuleChange } from '../routes/access-routes';
import { adminActor } from '../routes/relay-routes';
import { applyRuleChange, type RuleChange } from '../rule-changes';
import { type ConsoleDeps, contextOf, handle, mountOf, sendPage } from './console-context';
import { previewBody, rulesBody } from './rules-page';

/** A change as the rules page's forms send it; a string saying what is wrong otherwise. */
export function changeFromForm(body: Record<string, unknown>): RuleChange | string {
  const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string).trim() : '');
  const op = field('op');
  const id = field('id');
  if ((op === 'change' || op === 'remove') && (id.length === 0 || id.length > 100)) return 'the form names no rule';
  if (op === 'remove') return { op, id };
  if (op !== 'add' && op !== 'change') return 'the form names no change';
  const effect = field('effect');
  const reason = field('reason');
  const parsed = accessRuleSchema.safeParse({
    subject: field('subject'),
    service: field('service'),
    allow: effect === 'allow' ? true : effect === 'deny' ? false : undefined,
    ...(reason ? { reason } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `${String(issue.path[0] ?? 'rule')}: ${issue.message}`;
  }
  // A change names every field: an empty reason removes the rule's reason.
  return op === 'add' ? { op, rule: parsed.data } : { op, id, patch: { reason: undefined, ...parsed.data } };
}

/**
 * The rules page and its two steps: a form proposes a change (add, change, remove), the preview states what it would
 * do to the open relays now (computed here from the live relays), and only its Confirm makes the change.
 */
export function ruleRoutes(deps: ConsoleDeps): Router {
  const router = Router();
  const { access } = deps;
  const showRules = async (req: Request, res: Parameters<typeof sendPage>[0], error?: string, status = 200) => {
    const context = await contextOf(deps, req, res);
    const editing = typeof req.query.edit === 'string' ? access.table.get(req.query.edit) : undefined;
    const body = rulesBody(context, access.table.list(), editing?.origin === 'api' ? editing : undefined, error);
    sendPage(res, context, 'rules', body, undefined, status);
  };
  router.get(
    '/rules',
    handle((req, res) => showRules(req, res)),
  );
  router.post(
    '/rules/preview',
    handle(async (req, res) => {
      const change = changeFromForm((req.body ?? {}) as Record<string, unknown>);
      if (typeof change === 'string') return showRules(req, res, change, 400);
      const preview = previewRuleChange(access, change);
      if (!preview) return showRules(req, res, 'that rule is gone, or comes from the config file', 404);
      const context = await contextOf(deps, req, res);
      sendPage(res, context, 'rules', previewBody(context, change, access.table.list(), preview));
    }),
  );
  router.post(
    '/rules/apply',
    handle(async (req, res) => {
      const change = changeFromForm((req.body ?? {}) as Record<string, unknown>);
      if (typeof change === 'string') return showRules(req, res, change, 400);
      const result = await applyRuleChange(access.table, access.audit, change, adminActor(req));
      if (!result.ok) return showRules(req, res, result.error, result.status);
      res.redirect(303, `${mountOf(req)}/console/rules`);
    }),
  );
  return router;
}
