import { LiveRelays } from '../../adapters/live-relays';
import type { Identity } from '../../identity';
import type { RuleView } from '../../plugin/access-table';
import { changeFromForm } from '../../plugin/console/rule-handlers';
import { formatBytes, formatDuration, html } from '../../plugin/console/html';
import { deniedRelays, describePreview, proposedRules } from '../../plugin/rule-changes';

const user = (id: string, attributes: Record<string, string> = {}): Identity => ({
  kind: 'user',
  address: '192.0.2.7',
  user: { id, attributes },
  leaseId: `lease-${id}`,
});

const RULES: RuleView[] = [
  { id: 'config:0', origin: 'config', subject: 'authenticated', service: 'pop3', allow: true },
  { id: 'r1', origin: 'api', subject: 'department=sales', service: 'smtp', allow: true },
];

function relaysOf(...open: Array<[string, Identity]>): LiveRelays {
  const relays = new LiveRelays();
  for (const [service, identity] of open)
    relays.add({
      service,
      identity,
      client: `${identity.address}:4000`,
      startedAt: 0,
      progress: () => ({ server: '10.0.0.5:110', bytesFromClient: 0, bytesFromServer: 0 }),
      close: () => undefined,
    });
  return relays;
}

describe('rule changes: the proposed table and its effect on open relays', () => {
  const relays = relaysOf(['pop3', user('alice')], ['pop3', user('bob')], ['smtp', user('carol', { department: 'sales' })]);

  test.each([
    ['deny one user', { op: 'add', rule: { subject: 'user:alice', service: 'pop3', allow: false } }, ['alice']],
    [
      'deny everyone authenticated on pop3',
      { op: 'add', rule: { subject: 'authenticated', service: 'pop3', allow: false } },
      ['alice', 'bob'],
    ],
    ['a rule less specific than the one that allows', { op: 'add', rule: { subject: 'authenticated', service: '*', allow: false } }, []],
    ['remove the API rule sales relies on', { op: 'remove', id: 'r1' }, ['carol']],
    ['change it to another service', { op: 'change', id: 'r1', patch: { service: 'nntp' } }, ['carol']],
    ['change only its reason', { op: 'change', id: 'r1', patch: { reason: 'sales only' } }, []],
  ] as const)('%s', (_name, change, users) => {
    const rules = proposedRules(RULES, change);
    expect(rules).toBeDefined();
    expect(deniedRelays(rules!, relays.list()).map((relay) => relay.user)).toEqual(users);
  });

  test('a change to a config rule or an unknown one proposes nothing', () => {
    expect(proposedRules(RULES, { op: 'remove', id: 'config:0' })).toBeUndefined();
    expect(proposedRules(RULES, { op: 'change', id: 'nope', patch: { allow: false } })).toBeUndefined();
  });

  test('the sentence states the count and names each relay, or that none is affected', () => {
    const denied = deniedRelays([], relays.list().slice(0, 2));
    expect(describePreview({ denied, closes: true })).toBe(
      'This closes 2 open relays: alice pop3 from 192.0.2.7:4000, bob pop3 from 192.0.2.7:4000.',
    );
    expect(describePreview({ denied: denied.slice(0, 1), closes: true })).toBe('This closes 1 open relay: alice pop3 from 192.0.2.7:4000.');
    expect(describePreview({ denied: [], closes: true })).toBe('No open relay is affected.');
    expect(describePreview({ denied, closes: false })).toMatch(/^2 open relays would no longer be allowed .* left to finish\.$/);
  });
});

describe("the rules page's form", () => {
  test.each([
    [
      { op: 'add', subject: 'user:alice', service: 'pop3', effect: 'deny', reason: '' },
      { op: 'add', rule: { subject: 'user:alice', service: 'pop3', allow: false } },
    ],
    [
      { op: 'change', id: 'r1', subject: 'user:alice', service: '*', effect: 'allow', reason: ' ok ' },
      { op: 'change', id: 'r1', patch: { subject: 'user:alice', service: '*', allow: true, reason: 'ok' } },
    ],
    [
      { op: 'remove', id: 'r1' },
      { op: 'remove', id: 'r1' },
    ],
  ])('%o reads as %o', (form, change) => {
    expect(changeFromForm(form)).toEqual(change);
  });

  test.each([
    [{ op: 'add', subject: 'user:alice', service: 'pop3', effect: 'maybe' }, /^allow: /],
    [{ op: 'add', subject: '<script>', service: 'pop3', effect: 'deny' }, /^subject: /],
    [{ op: 'remove' }, /names no rule/],
    [{ op: 'drop', id: 'x' }, /names no change/],
  ])('%o is refused', (form, message) => {
    expect(changeFromForm(form)).toMatch(message);
  });
});

describe('html: every interpolated value is escaped unless it is markup already', () => {
  test('values, arrays and nested templates', () => {
    const evil = '<script>alert("x")</script>&\'';
    expect(html`<td>${evil}</td>`.text).toBe('<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>');
    expect(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.text).toBe('<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>');
    expect(html`${undefined}${null}${false}${0}`.text).toBe('0');
  });

  test.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [3 * 1024 * 1024, '3.0 MiB'],
  ])('%d bytes read %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  test.each([
    [999, '0 s'],
    [65_000, '1 min 5 s'],
    [2 * 3600_000 + 10 * 60_000, '2 h 10 min'],
  ])('%d ms read %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});
