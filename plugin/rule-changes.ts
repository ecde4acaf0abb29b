import type { ListedRelay } from '../adapters/live-relays';
import { describeIdentity } from '../adapters/connection-attempt';
import { decideAccess } from './access-policy';
import type { AccessTable, RuleInput, RuleView } from './access-table';
import type { AuditLog } from './audit-log';
import type { AccessRule } from './options';

/** A change to the access table, as an admin proposes it. */
export type RuleChange =
  | { op: 'add'; rule: RuleInput }
  | { op: 'change'; id: string; patch: Partial<RuleInput> }
  | { op: 'remove'; id: string };

/** An open relay, as a preview names it. */
export interface AffectedRelay {
  id: string;
  user: string;
  service: string;
  client: string;
  server?: string;
}

/** What a change would do to the open relays: those the changed table would no longer allow. */
export interface RulePreview {
  /** The open relays the changed table denies. */
  denied: AffectedRelay[];
  /** Whether they are closed when the change is made (`onAccessChange: close`) or left to finish. */
  closes: boolean;
}

/**
 * The table as it would be after `change`, in the order decisions read it (config rules, then API rules);
 * undefined when the change names a rule that is not an API rule (unknown, or from the config file).
 */
export function proposedRules(current: readonly RuleView[], change: RuleChange): AccessRule[] | undefined {
  if (change.op === 'add') return [...current, change.rule];
  const target = current.find((rule) => rule.id === change.id);
  if (target?.origin !== 'api') return undefined;
  if (change.op === 'remove') return current.filter((rule) => rule !== target);
  return current.map((rule) => (rule === target ? { ...rule, ...change.patch } : rule));
}

/** The open relays that `rules` would not allow. */
export function deniedRelays(rules: readonly AccessRule[], relays: readonly ListedRelay[]): AffectedRelay[] {
  return relays
    .filter(({ relay }) => !decideAccess(rules, relay.identity, relay.service).allow)
    .map(({ id, relay }) => {
      const server = relay.progress().server;
      return {
        id,
        user: describeIdentity(relay.identity),
        service: relay.service,
        client: relay.client,
        ...(server === undefined ? {} : { server }),
      };
    });
}

/** One sentence for a preview: what confirming the change does to open relays. */
export function describePreview(preview: RulePreview): string {
  const count = preview.denied.length;
  if (count === 0) return 'No open relay is affected.';
  const names = preview.denied.map((relay) => `${relay.user} ${relay.service} from ${relay.client}`).join(', ');
  const relays = `${count} open relay${count === 1 ? '' : 's'}`;
  return preview.closes
    ? `This closes ${relays}: ${names}.`
    : `${relays} would no longer be allowed (${names}); with onAccessChange: finish they are left to finish.`;
}

/** What became of a change: done (with the rule as it is now, unless removed), or refused with a status and why. */
export type RuleChangeResult = { ok: true; rule?: RuleView } | { ok: false; status: 404 | 409; error: string };

/** Makes a change to the access table and audits it (`rule.added`, `rule.changed`, `rule.removed`) with `actor`. */
export async function applyRuleChange(table: AccessTable, audit: AuditLog, change: RuleChange, actor: string): Promise<RuleChangeResult> {
  if (change.op === 'add') {
    const rule = await table.add(change.rule);
    audit.record('rule.added', { actor, detail: { ...rule } });
    return { ok: true, rule };
  }
  if (table.get(change.id)?.origin === 'config')
    return { ok: false, status: 409, error: 'this rule comes from the config file; change it there' };
  if (change.op === 'remove') {
    if (!(await table.remove(change.id))) return { ok: false, status: 404, error: 'no such rule' };
    audit.record('rule.removed', { actor, detail: { id: change.id } });
    return { ok: true };
  }
  const rule = await table.update(change.id, change.patch);
  if (!rule) return { ok: false, status: 404, error: 'no such rule' };
  audit.record('rule.changed', { actor, detail: { ...rule } });
  return { ok: true, rule };
}
