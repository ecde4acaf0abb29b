import type { AccessDecision } from '../adapters/gateway-context';
import type { Identity } from '../sources/server-info-source';
import type { AccessRule } from './options';

/**
 * How specific a rule's subject is. The most specific matching rule decides;
 * at equal specificity a rule naming the service beats one for `*`, and deny
 * beats allow. No matching rule: deny.
 *
 *   user:<id>           4
 *   <attribute>=<value> 3
 *   authenticated       2  (any logged-in user)
 *   anonymous           1  (only clients that are not logged in)
 */
function subjectRank(subject: string, identity: Identity): number {
  if (subject === 'anonymous') return identity.kind === 'anonymous' ? 1 : 0;
  if (identity.kind !== 'user') return 0;
  if (subject === 'authenticated') return 2;
  if (subject.startsWith('user:')) return subject.slice(5) === identity.user.id ? 4 : 0;
  const equals = subject.indexOf('=');
  const name = subject.slice(0, equals);
  return Object.prototype.hasOwnProperty.call(identity.user.attributes, name) && identity.user.attributes[name] === subject.slice(equals + 1) ? 3 : 0;
}

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
