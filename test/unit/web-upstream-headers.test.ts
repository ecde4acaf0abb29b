import fc from 'fast-check';
import { verifyAssertion } from '../../plugin/web/web-assertion';
import {
  bearerToken,
  formatAttributes,
  formatUserId,
  removeClientCredentials,
  setUpstreamHeaders,
  withoutCookies,
  type OutgoingHeaders,
  type UpstreamRoute,
} from '../../plugin/web/web-upstream-headers';
import { anyText } from './arbitraries';

const OWN = new Set(['roamgate.lease', 'roamgate.sid']);
const SECRET = 'an-assertion-secret-of-32-characters';
const T = 1_700_000_000_000;

/** Outgoing headers as a ClientRequest keeps them: names lowercased, values as set. */
class Headers implements OutgoingHeaders {
  readonly map = new Map<string, string | string[]>();
  constructor(initial: Record<string, string | string[]> = {}) {
    for (const [name, value] of Object.entries(initial)) this.map.set(name.toLowerCase(), value);
  }
  getHeaderNames() {
    return [...this.map.keys()];
  }
  getHeader(name: string) {
    return this.map.get(name.toLowerCase());
  }
  setHeader(name: string, value: string) {
    this.map.set(name.toLowerCase(), value);
  }
  removeHeader(name: string) {
    this.map.delete(name.toLowerCase());
  }
  get object() {
    return Object.fromEntries(this.map);
  }
}

const ROUTE: UpstreamRoute = { service: 'wiki', ownCookies: OWN };
const SIGNING: UpstreamRoute = { ...ROUTE, assertionSecret: SECRET };

describe('formatAttributes', () => {
  test.each([
    [{}, ''],
    [{ floor: '3' }, 'floor=3'],
    [{ z: '1', a: '2', M: '3' }, 'M=3&a=2&z=1'],
    [{ department: 'sales & marketing' }, 'department=sales%20%26%20marketing'],
    [{ 'a=b': 'c&d', 'x y': '%' }, 'a%3Db=c%26d&x%20y=%25'],
    [{ city: 'Zürich' }, 'city=Z%C3%BCrich'],
    [{ note: "!'()*-._~" }, "note=!'()*-._~"],
    [{ broken: '\ud800' }, 'broken=%EF%BF%BD'],
  ])('%j -> %s', (attributes, expected) => {
    expect(formatAttributes(attributes)).toBe(expected);
  });

  test('matches encodeURIComponent on any well-formed text, sorted by key, and decodes back', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), { noNullPrototype: true }),
        (attributes) => {
          const expected = Object.keys(attributes)
            .sort()
            .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(attributes[key])}`)
            .join('&');
          const formatted = formatAttributes(attributes);
          expect(formatted).toBe(expected);
          const decoded = formatted === '' ? [] : formatted.split('&').map((pair) => pair.split('=').map(decodeURIComponent));
          expect(Object.fromEntries(decoded)).toEqual({ ...attributes });
        },
      ),
    );
  });

  test('never throws, and only makes header-safe text', () => {
    fc.assert(
      fc.property(fc.dictionary(anyText(10), anyText(20), { noNullPrototype: true }), (attributes) => {
        expect(formatAttributes(attributes)).toMatch(/^[\x21-\x7e]*$/);
      }),
    );
  });
});

describe('formatUserId', () => {
  test.each([
    ['alice', 'alice'],
    ['alice@home.example', 'alice@home.example'],
    ['o.brien_2-x', 'o.brien_2-x'],
    ['100%', '100%25'],
    ['ann marie', 'ann%20marie'],
    ['jürgen', 'j%C3%BCrgen'],
    ['evil\r\nX-Roamgate-User: root', 'evil%0D%0AX-Roamgate-User:%20root'],
  ])('%j -> %s', (id, expected) => {
    expect(formatUserId(id)).toBe(expected);
    expect(decodeURIComponent(formatUserId(id))).toBe(id);
  });
});

describe('withoutCookies', () => {
  test.each([
    ['theme=dark; roamgate.lease=abc; lang=en', 'theme=dark; lang=en'],
    ['roamgate.lease=abc', undefined],
    ['roamgate.lease=abc; roamgate.sid=s%3Ax.y', undefined],
    ['roamgate.sid=1;theme=dark;roamgate.lease=2', 'theme=dark'],
    ['theme=dark', 'theme=dark'],
    ['a=1=2; roamgate.lease=x=y', 'a=1=2'],
    [' roamgate.lease = abc ; b=2 ', 'b=2'],
    ['roamgate.lease.old=1; xroamgate.lease=2', 'roamgate.lease.old=1; xroamgate.lease=2'],
    ['flag; roamgate.lease=1', 'flag'],
    [';;', undefined],
  ])('%j -> %j', (header, expected) => {
    expect(withoutCookies(header, OWN)).toBe(expected);
  });
});

describe('bearerToken', () => {
  test.each([
    ['Bearer abc', 'abc'],
    ['bearer  abc ', 'abc'],
    ['Bearer\tabc', 'abc'],
    ['Basic dXNlcjpwdw==', undefined],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
    [['Bearer abc'], undefined],
  ])('%j -> %j', (header, expected) => {
    expect(bearerToken(header)).toBe(expected);
  });
});

describe('removeClientCredentials', () => {
  test('every x-roamgate-* header goes, whatever its case; others stay', () => {
    const headers = new Headers({
      'X-Roamgate-User': 'root',
      'x-roamgate-attributes': 'role=admin',
      'X-ROAMGATE-ASSERTION': 'v1.x.y',
      'x-roamgate-': 'empty suffix',
      'x-roamgatex': 'not ours',
      'x-forwarded-for': '10.0.0.1',
      accept: '*/*',
    });
    removeClientCredentials(headers, OWN, false);
    expect(headers.object).toEqual({ 'x-roamgatex': 'not ours', 'x-forwarded-for': '10.0.0.1', accept: '*/*' });
  });

  test("roamgate's cookies go; a cookie header of only those goes entirely", () => {
    const mixed = new Headers({ cookie: 'a=1; roamgate.lease=t; b=2' });
    removeClientCredentials(mixed, OWN, false);
    expect(mixed.object).toEqual({ cookie: 'a=1; b=2' });
    const ours = new Headers({ cookie: 'roamgate.sid=s; roamgate.lease=t' });
    removeClientCredentials(ours, OWN, false);
    expect(ours.object).toEqual({});
  });

  test('a bearer token goes only when it was the lease token; Basic and other schemes stay', () => {
    const lease = new Headers({ authorization: 'Bearer lease-token' });
    removeClientCredentials(lease, OWN, true);
    expect(lease.object).toEqual({});
    const notOurs = new Headers({ authorization: 'Bearer upstream-token' });
    removeClientCredentials(notOurs, OWN, false);
    expect(notOurs.object).toEqual({ authorization: 'Bearer upstream-token' });
    const basic = new Headers({ authorization: 'Basic dXNlcjpwdw==' });
    removeClientCredentials(basic, OWN, true);
    expect(basic.object).toEqual({ authorization: 'Basic dXNlcjpwdw==' });
  });
});

describe('setUpstreamHeaders', () => {
  const alice = { id: 'alice', attributes: { floor: '3', department: 'sales' } };

  test('a user: id and attributes, set over whatever the client sent', () => {
    const headers = new Headers({ 'x-roamgate-user': 'root', host: 'wiki.internal' });
    setUpstreamHeaders(headers, ROUTE, alice, false, T);
    expect(headers.object).toEqual({
      host: 'wiki.internal',
      'x-roamgate-user': 'alice',
      'x-roamgate-attributes': 'department=sales&floor=3',
    });
  });

  test('anonymous: no identity headers at all', () => {
    const headers = new Headers({ 'x-roamgate-user': 'root', 'x-roamgate-attributes': 'a=b' });
    setUpstreamHeaders(headers, ROUTE, undefined, false, T);
    expect(headers.object).toEqual({});
  });

  test('with a secret: an assertion for the service, valid for 60 s from now', () => {
    const headers = new Headers({ 'x-roamgate-assertion': 'v1.forged.forged' });
    setUpstreamHeaders(headers, SIGNING, alice, false, T);
    const assertion = String(headers.getHeader('x-roamgate-assertion'));
    expect(verifyAssertion(assertion, SECRET, { audience: 'wiki', now: T })).toEqual({
      user: 'alice',
      attributes: { floor: '3', department: 'sales' },
      audience: 'wiki',
      expiresAt: T + 60_000,
    });
    const anonymous = new Headers();
    setUpstreamHeaders(anonymous, SIGNING, undefined, false, T);
    expect(verifyAssertion(String(anonymous.getHeader('x-roamgate-assertion')), SECRET, { audience: 'wiki', now: T })).toEqual({
      attributes: {},
      audience: 'wiki',
      expiresAt: T + 60_000,
    });
  });

  test('no client-sent x-roamgate-* header survives, whatever its name and value', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.stringMatching(/^[A-Za-z0-9-]{0,12}$/).map((suffix) => `X-RoamGate-${suffix}`),
          fc.string(),
        ),
        fc.boolean(),
        (forged, signed) => {
          const headers = new Headers(forged);
          setUpstreamHeaders(headers, signed ? SIGNING : ROUTE, alice, false, T);
          const ours = ['x-roamgate-user', 'x-roamgate-attributes', ...(signed ? ['x-roamgate-assertion'] : [])];
          expect(headers.getHeaderNames().sort()).toEqual(ours.sort());
          expect(headers.getHeader('x-roamgate-user')).toBe('alice');
        },
      ),
    );
  });
});
