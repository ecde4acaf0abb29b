import fc from 'fast-check';
import { selectForIdentity } from '../../adapters/select-for-identity';
import type { Identity } from '../../identity';
import type { ServerInfo } from '../../server-info';

const alice: Identity = { kind: 'user', address: '127.0.0.1', user: { id: 'alice', attributes: { department: 'sales' } } };
const bob: Identity = { kind: 'user', address: '127.0.0.1', user: { id: 'bob', attributes: { department: 'research' } } };
const anonymous: Identity = { kind: 'anonymous', address: '127.0.0.1' };

const general: ServerInfo = { host: 'mail', port: 110, priority: 10 };
const sales: ServerInfo = { host: 'sales-mail', port: 110, priority: 10, for: 'department=sales' };
const alices: ServerInfo = { host: 'alice-mail', port: 110, priority: 20, for: 'user:alice' };
const members: ServerInfo = { host: 'member-mail', port: 110, priority: 10, for: 'authenticated' };
const guests: ServerInfo = { host: 'guest-mail', port: 110, priority: 10, for: 'anonymous' };

describe('selectForIdentity', () => {
  test.each([
    ['alice gets her own server, whatever its priority', [general, sales, alices], alice, [alices]],
    ['bob, without his own, gets the general ones', [general, sales, alices], bob, [general]],
    ["sales gets the department's server over the general one", [general, sales], alice, [sales]],
    ['authenticated beats general for users', [general, members], bob, [members]],
    ['anonymous clients get anonymous servers over general ones', [general, members, guests], anonymous, [guests]],
    ['anonymous clients never get user servers', [alices, sales, members], anonymous, []],
    [
      'several of the same kind are all kept, in order',
      [sales, general, { ...sales, host: 'sales-2' }],
      alice,
      [sales, { ...sales, host: 'sales-2' }],
    ],
    ['no servers, none chosen', [], alice, []],
  ] as Array<[string, ServerInfo[], Identity, ServerInfo[]]>)('%s', (_name, servers, identity, expected) => {
    expect(selectForIdentity(servers, identity)).toEqual(expected);
  });

  test('property: the result is a subset of the input, all of one kind, and every match of that kind is kept', () => {
    const subject = fc.constantFrom(
      undefined,
      'user:alice',
      'user:bob',
      'department=sales',
      'department=research',
      'authenticated',
      'anonymous',
    );
    const server = fc
      .record({
        host: fc.constantFrom('a', 'b', 'c'),
        port: fc.integer({ min: 1, max: 3 }),
        priority: fc.integer({ min: 0, max: 3 }),
        for: subject,
      })
      .map((s) => (s.for === undefined ? { host: s.host, port: s.port, priority: s.priority } : s) as ServerInfo);
    fc.assert(
      fc.property(fc.array(server, { maxLength: 12 }), fc.constantFrom(alice, bob, anonymous), (servers, identity) => {
        const chosen = selectForIdentity(servers, identity);
        for (const s of chosen) expect(servers).toContain(s);
        const kinds = new Set(chosen.map((s) => (s.for === undefined ? 'general' : s.for.split(/[:=]/)[0])));
        expect(kinds.size).toBeLessThanOrEqual(1);
        if (chosen.length === 0) expect(servers.filter((s) => s.for === undefined)).toEqual([]);
      }),
    );
  });
});

test('a list where no server names a subject is everyone’s, returned as it is', () => {
  const list = [general, { host: 'backup', port: 110, priority: 20 }];
  expect(selectForIdentity(list, anonymous)).toBe(list);
  expect(selectForIdentity(list, alice)).toBe(list);
});
