import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  ASSERTION_LIFETIME_MS,
  ASSERTION_VERSION,
  signAssertion,
  verifyAssertion,
  type WebAssertion,
} from '../../plugin/web/web-assertion';
import { anyText } from './arbitraries';

const T = 1_700_000_000_000;
const SECRET = 'a-web-assertion-secret-of-32-chars';
const alice: WebAssertion = { user: 'alice', attributes: { department: 'sales', floor: '3' }, audience: 'wiki', expiresAt: T + 60_000 };

/** An assertion made by hand: any payload bytes, MAC'd with `secret`, under any version tag. */
function forge(payload: string | Buffer, secret = SECRET, version = ASSERTION_VERSION): string {
  const bytes = Buffer.from(payload);
  return `${version}.${bytes.toString('base64url')}.${createHmac('sha256', secret).update(bytes).digest('base64url')}`;
}

describe('constants', () => {
  test('lifetime 60 s, version v1', () => {
    expect(ASSERTION_LIFETIME_MS).toBe(60_000);
    expect(ASSERTION_VERSION).toBe('v1');
  });
});

describe('signAssertion', () => {
  test('v1.<base64url JSON>.<base64url 32-byte MAC>, the MAC over the exact payload bytes', () => {
    const header = signAssertion(alice, SECRET);
    const [version, payload, mac] = header.split('.');
    expect(version).toBe('v1');
    const bytes = Buffer.from(payload, 'base64url');
    expect(JSON.parse(bytes.toString())).toEqual(alice);
    expect(Buffer.from(mac, 'base64url')).toEqual(createHmac('sha256', SECRET).update(bytes).digest());
    expect(header).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  test('an anonymous assertion has no user field at all', () => {
    const header = signAssertion({ attributes: {}, audience: 'wiki', expiresAt: T + 1 }, SECRET);
    expect(JSON.parse(Buffer.from(header.split('.')[1], 'base64url').toString())).toEqual({
      attributes: {},
      audience: 'wiki',
      expiresAt: T + 1,
    });
    expect(verifyAssertion(header, SECRET, { audience: 'wiki', now: T })).toEqual({ attributes: {}, audience: 'wiki', expiresAt: T + 1 });
  });
});

describe('verifyAssertion', () => {
  const good = signAssertion(alice, SECRET);

  test('accepts its own assertion for the right audience before it expires', () => {
    expect(verifyAssertion(good, SECRET, { audience: 'wiki', now: T })).toEqual(alice);
    expect(verifyAssertion(good, SECRET, { audience: 'wiki', now: alice.expiresAt - 1 })).toEqual(alice);
  });

  test('uses the clock when no time is given', () => {
    const fresh = signAssertion({ ...alice, expiresAt: Date.now() + ASSERTION_LIFETIME_MS }, SECRET);
    expect(verifyAssertion(fresh, SECRET, { audience: 'wiki' })?.user).toBe('alice');
    expect(verifyAssertion(good, SECRET, { audience: 'wiki' })).toBeUndefined();
  });

  const payloadOf = (fields: Record<string, unknown>) => JSON.stringify(fields);
  const rejected: Array<[string, string, { audience: string; now?: number }?]> = [
    ['expired (at expiresAt exactly)', good, { audience: 'wiki', now: alice.expiresAt }],
    ['expired (later)', good, { audience: 'wiki', now: alice.expiresAt + 1 }],
    ['another audience', good, { audience: 'mail', now: T }],
    ['an audience differing only in case', good, { audience: 'Wiki', now: T }],
    ['signed with another secret', signAssertion(alice, 'another-secret-another-secret-!!'), undefined],
    ['another version', forge(payloadOf({ ...alice }), SECRET, 'v2'), undefined],
    ['no version', good.slice(3), undefined],
    ['empty', '', undefined],
    ['two parts', good.split('.').slice(0, 2).join('.'), undefined],
    ['four parts', `${good}.x`, undefined],
    ['a MAC cut short', good.slice(0, -2), undefined],
    ['a MAC with padding', `${good}=`, undefined],
    ['a payload with a stray character', good.replace('.', '.*'), undefined],
    ['a payload in plain base64 (+ and / for - and _)', forge(Buffer.alloc(300, 0xfb)).replace(/-/g, '+').replace(/_/g, '/'), undefined],
    ['an empty payload', forge(''), undefined],
    ['a payload that is not JSON', forge('not json'), undefined],
    ['a JSON payload that is not an object', forge('"alice"'), undefined],
    ['JSON null', forge('null'), undefined],
    ['a numeric user', forge(payloadOf({ ...alice, user: 7 })), undefined],
    ['attributes that are not strings', forge(payloadOf({ ...alice, attributes: { floor: 3 } })), undefined],
    ['attributes as an array', forge(payloadOf({ ...alice, attributes: ['a'] })), undefined],
    ['no attributes', forge(payloadOf({ user: 'alice', audience: 'wiki', expiresAt: T + 1 })), undefined],
    ['no audience', forge(payloadOf({ user: 'alice', attributes: {}, expiresAt: T + 1 })), undefined],
    ['expiresAt as a string', forge(payloadOf({ ...alice, expiresAt: String(T + 1) })), undefined],
    ['no expiresAt', forge(payloadOf({ user: 'alice', attributes: {}, audience: 'wiki' })), undefined],
  ];
  test.each(rejected)('rejects %s', (_name, header, expected) => {
    expect(verifyAssertion(header, SECRET, expected ?? { audience: 'wiki', now: T })).toBeUndefined();
  });

  test('a hand-made assertion with the right MAC and fields is accepted (the format is all there is)', () => {
    expect(verifyAssertion(forge(payloadOf({ ...alice })), SECRET, { audience: 'wiki', now: T })).toEqual(alice);
  });

  test('never throws on a header that is not a string', () => {
    expect(verifyAssertion(undefined as unknown as string, SECRET, { audience: 'wiki', now: T })).toBeUndefined();
    expect(verifyAssertion(['v1'] as unknown as string, SECRET, { audience: 'wiki', now: T })).toBeUndefined();
  });
});

describe('properties', () => {
  const assertions = fc.record(
    {
      user: anyText(30),
      attributes: fc.dictionary(anyText(12), anyText(20), { maxKeys: 5, noNullPrototype: true }),
      audience: anyText(20),
      expiresAt: fc.integer({ min: T + 1, max: T + 10 * ASSERTION_LIFETIME_MS }),
    },
    { requiredKeys: ['attributes', 'audience', 'expiresAt'] },
  );
  const secrets = fc.string({ minLength: 1, maxLength: 64 });

  test('round trip: what is signed verifies to itself, for its audience, until it expires', () => {
    fc.assert(
      fc.property(assertions, secrets, (assertion, secret) => {
        const header = signAssertion(assertion, secret);
        expect(verifyAssertion(header, secret, { audience: assertion.audience, now: T })).toEqual(assertion);
        expect(verifyAssertion(header, secret, { audience: assertion.audience, now: assertion.expiresAt })).toBeUndefined();
        expect(verifyAssertion(header, secret, { audience: `${assertion.audience}x`, now: T })).toBeUndefined();
      }),
    );
  });

  test('any single-character change anywhere in the header makes it fail', () => {
    fc.assert(
      fc.property(
        assertions,
        secrets,
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
        (assertion, secret, at, replacement) => {
          const header = signAssertion(assertion, secret);
          const index = at % header.length;
          fc.pre(header[index] !== replacement);
          const tampered = header.slice(0, index) + replacement + header.slice(index + 1);
          expect(verifyAssertion(tampered, secret, { audience: assertion.audience, now: T })).toBeUndefined();
        },
      ),
    );
  });

  test('any single-byte change of the header bytes makes it fail', () => {
    fc.assert(
      fc.property(assertions, secrets, fc.nat(), fc.integer({ min: 1, max: 255 }), (assertion, secret, at, flip) => {
        const bytes = Buffer.from(signAssertion(assertion, secret), 'latin1');
        const index = at % bytes.length;
        bytes[index] ^= flip;
        expect(verifyAssertion(bytes.toString('latin1'), secret, { audience: assertion.audience, now: T })).toBeUndefined();
      }),
    );
  });
});
