import { AccessDecisions, decideAccess, describeRule, MAX_MEMO_SERVICES } from '../../plugin/access-policy';
import type { AccessRule } from '../../plugin/options';
import type { Identity } from '../../identity';

const anonymous: Identity = { kind: 'anonymous', address: '127.0.0.1' };
const alice: Identity = { kind: 'user', address: '127.0.0.1', user: { id: 'alice', attributes: { department: 'sales', site: 'berlin' } } };
const bob: Identity = { kind: 'user', address: '10.0.0.2', user: { id: 'bob', attributes: { department: 'it' } } };

const allow = (subject: string, service = 'smtp', reason?: string): AccessRule => ({
  subject,
  service,
  allow: true,
  ...(reason ? { reason } : {}),
});
const deny = (subject: string, service = 'smtp', reason?: string): AccessRule => ({
  subject,
  service,
  allow: false,
  ...(reason ? { reason } : {}),
});

describe('decideAccess', () => {
  describe('default deny', () => {
    test.each<[string, readonly AccessRule[], Identity, string]>([
      ['an empty table, anonymous', [], anonymous, 'no access rule lets anonymous clients use smtp'],
      ['an empty table, a user', [], alice, 'no access rule lets alice use smtp'],
      [
        'rules for other services only',
        [allow('anonymous', 'pop3'), allow('authenticated', 'nntp')],
        alice,
        'no access rule lets alice use smtp',
      ],
      ['rules for other users only', [allow('user:bob'), allow('department=it')], alice, 'no access rule lets alice use smtp'],
    ])('%s', (_name, rules, identity, reason) => {
      expect(decideAccess(rules, identity, 'smtp')).toEqual({ allow: false, reason });
    });

    test('the reason names the service asked for', () => {
      expect(decideAccess([allow('anonymous', 'smtp')], anonymous, 'http-proxy').reason).toBe(
        'no access rule lets anonymous clients use http-proxy',
      );
    });
  });

  describe('which subjects apply to whom', () => {
    test.each<[string, string, Identity, boolean]>([
      ['anonymous', 'an anonymous client', anonymous, true],
      ['anonymous', 'a user', alice, false],
      ['authenticated', 'a user', alice, true],
      ['authenticated', 'an anonymous client', anonymous, false],
      ['user:alice', 'alice', alice, true],
      ['user:alice', 'bob', bob, false],
      ['user:alice', 'an anonymous client', anonymous, false],
      ['user:ali', 'alice (no prefix match)', alice, false],
      ['department=sales', 'alice (sales)', alice, true],
      ['department=sales', 'bob (it)', bob, false],
      ['department=sales', 'an anonymous client', anonymous, false],
      ['department=Sales', 'alice (values are case-sensitive)', alice, false],
      ['department=', 'alice (empty value)', alice, false],
      ['site=berlin', 'alice (second attribute)', alice, true],
      ['team=sales', 'alice (no such attribute)', alice, false],
      ['constructor=function Object() { [native code] }', 'alice (inherited properties are not attributes)', alice, false],
    ])('an allow rule for %j applies to %s: %s', (subject, _who, identity, applies) => {
      expect(decideAccess([allow(subject)], identity, 'smtp').allow).toBe(applies);
    });
  });

  describe('the most specific rule decides', () => {
    test.each<[string, AccessRule[], Identity, boolean, string]>([
      ['user:<id> beats attribute', [deny('department=sales'), allow('user:alice')], alice, true, 'user:alice x smtp -> allow'],
      ['user:<id> deny beats attribute allow', [allow('department=sales'), deny('user:alice')], alice, false, 'user:alice x smtp -> deny'],
      [
        'attribute beats authenticated',
        [deny('authenticated'), allow('department=sales')],
        alice,
        true,
        'department=sales x smtp -> allow',
      ],
      [
        'attribute deny beats authenticated allow',
        [allow('authenticated'), deny('department=sales')],
        alice,
        false,
        'department=sales x smtp -> deny',
      ],
      [
        'authenticated applies to users without a matching attribute',
        [allow('authenticated'), deny('department=sales')],
        bob,
        true,
        'authenticated x smtp -> allow',
      ],
      [
        'a user rule for * beats an attribute rule for the service',
        [deny('department=sales', 'smtp'), allow('user:alice', '*')],
        alice,
        true,
        'user:alice x * -> allow',
      ],
      [
        'at equal specificity the named service beats *',
        [deny('authenticated', '*'), allow('authenticated', 'smtp')],
        alice,
        true,
        'authenticated x smtp -> allow',
      ],
      [
        '... also the other way round',
        [allow('authenticated', '*'), deny('authenticated', 'smtp')],
        alice,
        false,
        'authenticated x smtp -> deny',
      ],
      [
        'at equal specificity and service deny beats allow',
        [allow('department=sales'), deny('site=berlin')],
        alice,
        false,
        'site=berlin x smtp -> deny',
      ],
      ['... whatever the order', [deny('site=berlin'), allow('department=sales')], alice, false, 'site=berlin x smtp -> deny'],
      [
        'deny for * beats allow for * at equal specificity',
        [allow('anonymous', '*'), deny('anonymous', '*')],
        anonymous,
        false,
        'anonymous x * -> deny',
      ],
      [
        'an anonymous allow does not beat a user deny',
        [allow('anonymous'), deny('authenticated')],
        alice,
        false,
        'authenticated x smtp -> deny',
      ],
      [
        'an anonymous deny does not apply to users',
        [deny('anonymous', '*'), allow('authenticated')],
        alice,
        true,
        'authenticated x smtp -> allow',
      ],
    ])('%s', (_name, rules, identity, allowed, rule) => {
      const decision = decideAccess(rules, identity, 'smtp');
      expect(decision.allow).toBe(allowed);
      expect(decision.rule).toBe(rule);
    });
  });

  describe('reasons', () => {
    test('the deciding rule’s reason is returned', () => {
      const rules = [allow('authenticated', '*', 'staff may relay'), deny('department=sales', 'smtp', 'sales sends mail through the CRM')];
      expect(decideAccess(rules, alice, 'smtp')).toEqual({
        allow: false,
        reason: 'sales sends mail through the CRM',
        rule: 'department=sales x smtp -> deny',
      });
      expect(decideAccess(rules, bob, 'smtp')).toEqual({ allow: true, reason: 'staff may relay', rule: 'authenticated x * -> allow' });
    });

    test.each<[AccessRule, Identity, string]>([
      [allow('anonymous', '*'), anonymous, 'nntp allowed'],
      [deny('anonymous', '*'), anonymous, 'anonymous clients may not use nntp here'],
      [deny('user:alice', 'nntp'), alice, 'alice may not use nntp here'],
    ])('a rule without a reason gets a default one: %j', (rule, identity, reason) => {
      expect(decideAccess([rule], identity, 'nntp').reason).toBe(reason);
    });
  });
});

describe('describeRule', () => {
  test.each<[AccessRule, string]>([
    [allow('anonymous', 'smtp'), 'anonymous x smtp -> allow'],
    [deny('department=sales', '*', 'ignored'), 'department=sales x * -> deny'],
  ])('%j', (rule, text) => {
    expect(describeRule(rule)).toBe(text);
  });
});

describe('AccessDecisions', () => {
  const anonymous: Identity = { kind: 'anonymous', address: '192.0.2.1' };
  const alice: Identity = { kind: 'user', address: '192.0.2.2', user: { id: 'alice', attributes: { role: 'staff' } } };
  const rules: AccessRule[] = [
    { subject: 'anonymous', service: 'smtp', allow: true },
    { subject: 'role=staff', service: '*', allow: true },
  ];

  test('decides as decideAccess does, each (who, service) once: the same frozen decision again', () => {
    const decisions = new AccessDecisions(rules);
    for (const [who, service] of [
      [anonymous, 'smtp'],
      [anonymous, 'pop3'],
      [alice, 'pop3'],
    ] as const) {
      const decision = decisions.decide(who, service);
      expect(decision).toEqual(decideAccess(rules, who, service));
      expect(Object.isFrozen(decision)).toBe(true);
      expect(decisions.decide(who, service)).toBe(decision);
    }
  });

  test("a lease's connections (new user objects, the same attributes) share decisions; another user with them is decided for itself", () => {
    const decisions = new AccessDecisions([...rules, { subject: 'user:bob', service: 'nntp', allow: true }]);
    const attributes = { role: 'guest' };
    const connection = (id: string): Identity => ({ kind: 'user', address: '192.0.2.3', user: { id, attributes } });
    const first = decisions.decide(connection('bob'), 'nntp');
    expect(first.allow).toBe(true);
    expect(decisions.decide(connection('bob'), 'nntp')).toBe(first);
    expect(decisions.decide(connection('carol'), 'nntp').allow).toBe(false);
  });

  test('another user object (other attributes) is decided for itself, not from the memo of the first', () => {
    const decisions = new AccessDecisions(rules);
    expect(decisions.decide(alice, 'pop3').allow).toBe(true);
    const demoted: Identity = { kind: 'user', address: '192.0.2.2', user: { id: 'alice', attributes: { role: 'guest' } } };
    expect(decisions.decide(demoted, 'pop3').allow).toBe(false);
  });

  test(`past ${MAX_MEMO_SERVICES} services per identity, decisions are still right but not kept`, () => {
    const decisions = new AccessDecisions(rules);
    for (let index = 0; index < MAX_MEMO_SERVICES; index++) decisions.decide(anonymous, `svc${index}`);
    const extra = decisions.decide(anonymous, 'smtp');
    expect(extra.allow).toBe(true);
    expect(decisions.decide(anonymous, 'smtp')).not.toBe(extra);
    expect(decisions.decide(anonymous, 'smtp')).toEqual(extra);
  });
});
