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

/** Most decisions kept for anonymous clients, and per attributes object; past it decisions are made afresh (a client can name any service). */
export const MAX_MEMO_SERVICES = 256;

/**
 * decideAccess over one set of rules, each decision made once and then looked
 * up: every connection asks, and a lookup costs less than walking the table
 * and building two strings. Anonymous clients' decisions are kept by service;
 * a user's by user id and service, under the attributes object they were
 * decided with (a lease hands every one of its connections the same one, and
 * attributes do not change under it: a change comes as a new object). Make a
 * new one when the rules change.
 */
export class AccessDecisions {
  private readonly anonymous = new Map<string, AccessDecision>();
  private readonly users = new WeakMap<object, Map<string, AccessDecision>>();

  constructor(private readonly rules: readonly AccessRule[]) {}

  decide(identity: Identity, service: string): AccessDecision {
    let memo = this.anonymous;
    let key = service;
    if (identity.kind === 'user') {
      const { attributes } = identity.user;
      let forUser = this.users.get(attributes);
      if (!forUser) {
        forUser = new Map();
        this.users.set(attributes, forUser);
      }
      memo = forUser;
      key = `${identity.user.id}\n${service}`;
    }
    let decision = memo.get(key);
    if (decision === undefined) {
      decision = Object.freeze(decideAccess(this.rules, identity, service));
      if (memo.size < MAX_MEMO_SERVICES) memo.set(key, decision);
    }
    return decision;
  }
}
