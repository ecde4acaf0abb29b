import type { AccessDecision } from '../access-decision';
import type { Identity } from '../identity';
import { subjectRank } from '../sources/subject';
import type { AccessRule } from './options';

/*
 * The most specific matching rule decides (see subjectRank: user > attribute >
 * authenticated > anonymous); at equal specificity a rule naming the service
 * beats one for `*`, and deny beats allow. No matching rule: deny.
 */

/** Describes a rule for the record: `anonymous x smtp -> allow`. */
export function describeRule(rule: AccessRule): string {
  return `${rule.subject} x ${rule.service} -> ${rule.allow ? 'allow' : 'deny'}`;
}

/** Decides (identity, service) -> allow/deny from an access table; default deny. */
export function decideAccess(rules: readonly AccessRule[], identity: Identity, service: string): AccessDecision {
  let best: { rule: AccessRule; score: number } | undefined;
  for (const rule of rules) {
    if (rule.service !== '*' && rule.service !== service) continue;
    const rank = subjectRank(rule.subject, identity);
    if (rank === 0) continue;
    const score = rank * 4 + (rule.service === '*' ? 0 : 2) + (rule.allow ? 0 : 1);
    if (!best || score > best.score) best = { rule, score };
  }
  const who = identity.kind === 'user' ? identity.user.id : 'anonymous clients';
  if (!best) return { allow: false, reason: `no access rule lets ${who} use ${service}` };
  const reason = best.rule.reason ?? (best.rule.allow ? `${service} allowed` : `${who} may not use ${service} here`);
  return { allow: best.rule.allow, reason, rule: describeRule(best.rule) };
}
