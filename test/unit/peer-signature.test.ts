import fc from 'fast-check';
import {
  MIN_PEER_SECRET_LENGTH,
  NONCE_HEADER,
  PEER_CLOCK_WINDOW_MS,
  PEER_HEADER,
  PEER_NAME_PATTERN,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
  type SignedRequest,
  type SignedResponse,
} from '../../protocols/peer-signature';
import { anyText } from './arbitraries';

const T = 1_700_000_000_000;
const SECRET = 'a-shared-secret-of-32-characters!';
const OTHER_SECRET = 'another-secret-of-32-characters!!';
const NONCE = 'nonce-0123456789abcdef';

const BAD_SIGNATURE = 'bad signature (wrong secret, or the request was altered)';
const BAD_ANSWER_SIGNATURE = 'bad signature on the answer (wrong secret, or the answer was altered)';
const MALFORMED_PEER = 'missing or malformed peer name';
const MALFORMED_TIMESTAMP = 'missing or malformed timestamp';
const MALFORMED_NONCE = 'missing or malformed nonce';
const STALE = `timestamp is more than ${PEER_CLOCK_WINDOW_MS / 1000} s from this gateway's clock (stale, replayed, or a clock is wrong)`;

/** Peers this gateway knows, by name. */
const secrets: Record<string, string> = { 'visited.example': SECRET, 'other.example': OTHER_SECRET, 'twin.example': SECRET };
const secretOf = (peer: string) => (Object.hasOwn(secrets, peer) ? secrets[peer] : undefined);

const request: SignedRequest = {
  peer: 'visited.example',
  method: 'POST',
  path: '/roamgate/federation/verify',
  body: '{"username":"alice","password":"pw"}',
};
const unsignedRequest: Omit<SignedRequest, 'peer'> = { method: request.method, path: request.path, body: request.body };

type Headers = Record<string, string | string[] | undefined>;

function signed(overrides: Partial<SignedRequest> = {}, now = T, nonce = NONCE): Headers {
  return signRequest(SECRET, { ...request, ...overrides }, now, nonce);
}

describe('constants', () => {
  test('header names, clock window and secret length', () => {
    expect([PEER_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER]).toEqual([
      'x-roamgate-peer',
      'x-roamgate-timestamp',
      'x-roamgate-nonce',
      'x-roamgate-signature',
    ]);
    expect(PEER_CLOCK_WINDOW_MS).toBe(60_000);
    expect(MIN_PEER_SECRET_LENGTH).toBe(32);
  });
});

describe('signRequest', () => {
  test('names the peer, the whole-millisecond timestamp, the nonce and a base64url HMAC-SHA256', () => {
    const headers = signRequest(SECRET, request, T + 0.75, NONCE);
    expect(headers).toEqual({
      [PEER_HEADER]: 'visited.example',
      [TIMESTAMP_HEADER]: String(T),
      [NONCE_HEADER]: NONCE,
      [SIGNATURE_HEADER]: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  test('makes a fresh well-formed nonce for every request when none is given', () => {
    const nonces = new Set(Array.from({ length: 50 }, () => signRequest(SECRET, request, T)[NONCE_HEADER]));
    expect(nonces.size).toBe(50);
    for (const nonce of nonces) expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
  });

  test('the same request, time and nonce sign the same; a different secret signs differently', () => {
    expect(signRequest(SECRET, request, T, NONCE)).toEqual(signRequest(SECRET, request, T, NONCE));
    expect(signRequest(OTHER_SECRET, request, T, NONCE)[SIGNATURE_HEADER]).not.toBe(
      signRequest(SECRET, request, T, NONCE)[SIGNATURE_HEADER],
    );
  });
});

describe('verifyRequest', () => {
  test('accepts a request it signed, naming the peer, nonce and timestamp', () => {
    expect(verifyRequest(signed(), unsignedRequest, secretOf, T)).toEqual({
      ok: true,
      peer: 'visited.example',
      nonce: NONCE,
      timestamp: T,
    });
  });

  test('a body given as bytes verifies as the same text', () => {
    const headers = signed();
    expect(verifyRequest(headers, { ...unsignedRequest, body: new TextEncoder().encode(request.body as string) }, secretOf, T).ok).toBe(
      true,
    );
    const byteSigned = signRequest(SECRET, { ...request, body: Buffer.from('\u00e9t\u00e9') }, T, NONCE);
    expect(verifyRequest(byteSigned, { ...unsignedRequest, body: '\u00e9t\u00e9' }, secretOf, T).ok).toBe(true);
  });

  test('the method is compared without regard to case (HTTP methods are upper case on the wire)', () => {
    expect(verifyRequest(signed({ method: 'post' }), unsignedRequest, secretOf, T).ok).toBe(true);
  });

  test('an empty body signs and verifies', () => {
    expect(verifyRequest(signed({ body: '' }), { ...unsignedRequest, body: new Uint8Array(0) }, secretOf, T).ok).toBe(true);
  });

  describe('any change breaks the signature', () => {
    const cases: Array<[string, Headers, Omit<SignedRequest, 'peer'>]> = [
      ['another configured peer name (even one with the same secret)', { ...signed(), [PEER_HEADER]: 'twin.example' }, unsignedRequest],
      ['another configured peer name with its own secret', { ...signed(), [PEER_HEADER]: 'other.example' }, unsignedRequest],
      ['the method', signed(), { ...unsignedRequest, method: 'PUT' }],
      ['the path', signed(), { ...unsignedRequest, path: '/roamgate/federation/refresh' }],
      ['the query', signed({ path: '/roamgate/federation/verify?a=1' }), { ...unsignedRequest, path: '/roamgate/federation/verify?a=2' }],
      ['the body', signed(), { ...unsignedRequest, body: '{"username":"alice","password":"px"}' }],
      ['the body by one trailing byte', signed(), { ...unsignedRequest, body: `${request.body as string} ` }],
      ['the timestamp by 1 ms', { ...signed(), [TIMESTAMP_HEADER]: String(T + 1) }, unsignedRequest],
      ['the timestamp written with a leading zero', { ...signed(), [TIMESTAMP_HEADER]: `0${T}` }, unsignedRequest],
      ['the nonce', { ...signed(), [NONCE_HEADER]: 'nonce-0123456789abcdeF' }, unsignedRequest],
      [
        'the signature by one character',
        { ...signed(), [SIGNATURE_HEADER]: flipFirst(signed()[SIGNATURE_HEADER] as string) },
        unsignedRequest,
      ],
      [
        'the signature truncated',
        { ...signed(), [SIGNATURE_HEADER]: (signed()[SIGNATURE_HEADER] as string).slice(0, -1) },
        unsignedRequest,
      ],
      ['the signature missing', { ...signed(), [SIGNATURE_HEADER]: undefined }, unsignedRequest],
      ['the signature empty', { ...signed(), [SIGNATURE_HEADER]: '' }, unsignedRequest],
      [
        'the signature given twice',
        { ...signed(), [SIGNATURE_HEADER]: [signed()[SIGNATURE_HEADER] as string, signed()[SIGNATURE_HEADER] as string] },
        unsignedRequest,
      ],
      ['signed with a wrong secret', signRequest(OTHER_SECRET, request, T, NONCE), unsignedRequest],
    ];
    test.each(cases)('%s', (_name, headers, asReceived) => {
      expect(verifyRequest(headers, asReceived, secretOf, T)).toEqual({ ok: false, reason: BAD_SIGNATURE });
    });
  });

  test('a peer that is not configured is refused by name', () => {
    const headers = signRequest(SECRET, { ...request, peer: 'stranger.example' }, T, NONCE);
    expect(verifyRequest(headers, unsignedRequest, secretOf, T)).toEqual({
      ok: false,
      reason: 'stranger.example is not a configured peer of this gateway',
    });
  });

  test('names inherited from Object.prototype are not peers when the lookup is by own property', () => {
    const headers = signRequest(SECRET, { ...request, peer: 'constructor' }, T, NONCE);
    expect(verifyRequest(headers, unsignedRequest, secretOf, T)).toEqual({
      ok: false,
      reason: 'constructor is not a configured peer of this gateway',
    });
  });

  describe('peer names', () => {
    const malformed: Array<string | string[] | undefined> = [
      undefined,
      '',
      '-home.example',
      'home-.example',
      'home..example',
      '.home.example',
      'home.example.',
      'home example',
      'home_example',
      'home.example\n',
      'h\u00f6me.example',
      'x'.repeat(64),
      `${'x'.repeat(63)}.${'y'.repeat(64)}`,
      ['visited.example'],
      ['visited.example', 'visited.example'],
    ];
    test.each(malformed.map((name) => [name]))('%j is malformed', (name) => {
      const secretLookups: string[] = [];
      const result = verifyRequest({ ...signed(), [PEER_HEADER]: name }, unsignedRequest, (peer) => (secretLookups.push(peer), SECRET), T);
      expect(result).toEqual({ ok: false, reason: MALFORMED_PEER });
      expect(secretLookups).toEqual([]);
    });

    const wellFormed = [
      'a',
      'A',
      '0',
      'home.example',
      'Home-1.Example',
      'x'.repeat(63),
      `${'x'.repeat(63)}.${'y'.repeat(63)}`,
      'a-b-c.d-e',
    ];
    test.each(wellFormed.map((name) => [name]))('%j is well formed and verifies when signed', (name) => {
      expect(PEER_NAME_PATTERN.test(name)).toBe(true);
      const headers = signRequest(SECRET, { ...request, peer: name }, T, NONCE);
      expect(verifyRequest(headers, unsignedRequest, () => SECRET, T)).toEqual({ ok: true, peer: name, nonce: NONCE, timestamp: T });
    });
  });

  describe('timestamps', () => {
    const malformed: Array<string | string[] | undefined> = [
      undefined,
      '',
      'abc',
      '-1',
      '+1',
      '1.5',
      '1e12',
      ' 1700000000000',
      '1700000000000 ',
      '0x1',
      '1'.repeat(16),
      '\u0661\u0662',
      [String(T)],
    ];
    test.each(malformed.map((value) => [value]))('%j is malformed', (value) => {
      expect(verifyRequest({ ...signed(), [TIMESTAMP_HEADER]: value }, unsignedRequest, secretOf, T)).toEqual({
        ok: false,
        reason: MALFORMED_TIMESTAMP,
      });
    });

    test('fifteen digits are well formed', () => {
      const now = 999_999_999_999_999;
      expect(verifyRequest(signed({}, now), unsignedRequest, secretOf, now)).toEqual({
        ok: true,
        peer: 'visited.example',
        nonce: NONCE,
        timestamp: now,
      });
    });
  });

  describe('nonces', () => {
    const malformed: Array<string | string[] | undefined> = [
      undefined,
      '',
      'x'.repeat(15),
      'x'.repeat(65),
      'nonce+0123456789abcdef',
      'nonce/0123456789abcdef',
      'nonce=0123456789abcdef',
      'nonce 0123456789abcdef',
      'nonce.0123456789abcdef',
      `${NONCE}\n`,
      [NONCE],
    ];
    test.each(malformed.map((value) => [value]))('%j is malformed', (value) => {
      const headers = typeof value === 'string' ? signed({}, T, value) : { ...signed(), [NONCE_HEADER]: value };
      expect(verifyRequest(headers, unsignedRequest, secretOf, T)).toEqual({ ok: false, reason: MALFORMED_NONCE });
    });

    test.each([['x'.repeat(16)], ['x'.repeat(64)], ['A-b_0123456789abcdefZ']])('%j is well formed', (nonce) => {
      expect(verifyRequest(signed({}, T, nonce), unsignedRequest, secretOf, T)).toEqual({
        ok: true,
        peer: 'visited.example',
        nonce,
        timestamp: T,
      });
    });
  });

  describe('clock window', () => {
    test.each<[string, number, boolean]>([
      ['same instant', T, true],
      ['receiver exactly the window ahead', T + PEER_CLOCK_WINDOW_MS, true],
      ['receiver one ms more than the window ahead', T + PEER_CLOCK_WINDOW_MS + 1, false],
      ['receiver exactly the window behind', T - PEER_CLOCK_WINDOW_MS, true],
      ['receiver one ms more than the window behind', T - PEER_CLOCK_WINDOW_MS - 1, false],
      ['receiver a day ahead', T + 86_400_000, false],
      ['receiver at zero', 0, false],
    ])('%s', (_name, now, ok) => {
      expect(verifyRequest(signed(), unsignedRequest, secretOf, now)).toEqual(
        ok ? { ok: true, peer: 'visited.example', nonce: NONCE, timestamp: T } : { ok: false, reason: STALE },
      );
    });
  });

  describe('properties', () => {
    const bodies = fc.oneof(anyText(200), fc.uint8Array({ maxLength: 200 }));
    const paths = fc.oneof(
      fc.webPath(),
      fc.webPath().chain((path) => fc.webQueryParameters().map((query) => `${path}?${query}`)),
      anyText(80),
    );
    const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH');
    const peers = fc.constantFrom('visited.example', 'other.example', 'twin.example');
    const nonces = fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/);
    const fields = fc.record({
      peer: peers,
      method: methods,
      path: paths,
      body: bodies,
      now: fc.integer({ min: 0, max: 2 ** 47 }),
      nonce: nonces,
    });

    test('every signed request verifies, from any peer, for any path and body', () => {
      fc.assert(
        fc.property(fields, ({ now, nonce, ...signedRequest }) => {
          const headers = signRequest(secrets[signedRequest.peer], signedRequest, now, nonce);
          const { peer, ...received } = signedRequest;
          expect(verifyRequest(headers, received, secretOf, now)).toEqual({ ok: true, peer, nonce, timestamp: now });
        }),
        { numRuns: 300 },
      );
    });

    type Mutation = 'peer' | 'method' | 'path' | 'body' | 'timestamp' | 'nonce' | 'signature';
    const mutations = fc.constantFrom<Mutation>('peer', 'method', 'path', 'body', 'timestamp', 'nonce', 'signature');

    test('changing any one field of a signed request makes it fail', () => {
      fc.assert(
        fc.property(
          fields,
          mutations,
          fc.integer({ min: 1, max: PEER_CLOCK_WINDOW_MS }),
          ({ now, nonce, ...signedRequest }, mutation, shift) => {
            const headers: Headers = signRequest(secrets[signedRequest.peer], signedRequest, now, nonce);
            const { peer, ...received } = signedRequest;
            switch (mutation) {
              case 'peer':
                headers[PEER_HEADER] = peer === 'twin.example' ? 'visited.example' : 'twin.example';
                break;
              case 'method':
                received.method = received.method === 'POST' ? 'GET' : 'POST';
                break;
              case 'path':
                received.path = `${received.path}/`;
                break;
              case 'body':
                received.body = typeof received.body === 'string' ? `${received.body}x` : Uint8Array.from([...received.body, 0]);
                break;
              case 'timestamp':
                // Still within the window, so only the signature can refuse it.
                headers[TIMESTAMP_HEADER] = String(now + shift);
                break;
              case 'nonce':
                headers[NONCE_HEADER] = flipFirst(nonce);
                break;
              case 'signature':
                headers[SIGNATURE_HEADER] = flipFirst(headers[SIGNATURE_HEADER] as string);
                break;
            }
            expect(verifyRequest(headers, received, secretOf, now)).toEqual({ ok: false, reason: BAD_SIGNATURE });
          },
        ),
        { numRuns: 400 },
      );
    });

    const headerValue = fc.oneof(
      fc.constant(undefined),
      anyText(70),
      fc.array(anyText(20), { maxLength: 3 }),
      fc.stringMatching(/^\d{1,16}$/),
      nonces,
    );
    const headerName = fc.constantFrom(
      PEER_HEADER,
      TIMESTAMP_HEADER,
      NONCE_HEADER,
      SIGNATURE_HEADER,
      '__proto__',
      'constructor',
      'x-other',
    );

    test('never throws on an arbitrary header bag, and refuses it unless it is a real signature', () => {
      fc.assert(
        fc.property(fc.dictionary(headerName, headerValue), fc.integer({ min: 0, max: 2 ** 50 }), (headers, now) => {
          const result = verifyRequest(headers as Headers, unsignedRequest, secretOf, now);
          expect(result.ok).toBe(false);
          if (!result.ok) expect(typeof result.reason).toBe('string');
        }),
        { numRuns: 500 },
      );
    });

    test('never throws when fields of a real signature are replaced by arbitrary values', () => {
      fc.assert(
        fc.property(
          fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
          fc.integer({ min: T - 2 * PEER_CLOCK_WINDOW_MS, max: T + 2 * PEER_CLOCK_WINDOW_MS }),
          (replaced, now) => {
            const headers = { ...signed(), ...replaced } as Headers;
            const result = verifyRequest(headers, unsignedRequest, secretOf, now);
            const untouched = [PEER_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER].every(
              (name) => headers[name] === signed()[name],
            );
            expect(result.ok).toBe(untouched && Math.abs(now - T) <= PEER_CLOCK_WINDOW_MS);
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});

describe('signResponse and verifyResponse', () => {
  const response: SignedResponse = { peer: 'home.example', status: 200, requestNonce: NONCE, body: '{"leases":[]}' };

  test('signResponse gives the whole-millisecond timestamp and a base64url HMAC-SHA256', () => {
    expect(signResponse(SECRET, response, T + 0.5)).toEqual({
      [TIMESTAMP_HEADER]: String(T),
      [SIGNATURE_HEADER]: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  test('an answer verifies for the request it answers', () => {
    expect(verifyResponse(signResponse(SECRET, response, T), response, SECRET, T)).toEqual({ ok: true });
    expect(
      verifyResponse(signResponse(SECRET, response, T), { ...response, body: Buffer.from(response.body as string) }, SECRET, T),
    ).toEqual({ ok: true });
  });

  test.each<[string, Partial<SignedResponse>]>([
    ['another request nonce (an answer replayed to another request)', { requestNonce: 'nonce-0123456789abcdeF' }],
    ['another status', { status: 403 }],
    ['another body', { body: '{"leases":[{"active":true}]}' }],
    ['another peer', { peer: 'other.example' }],
  ])('is bound to its request: %s fails', (_name, change) => {
    const headers = signResponse(SECRET, response, T);
    expect(verifyResponse(headers, { ...response, ...change }, SECRET, T)).toEqual({ ok: false, reason: BAD_ANSWER_SIGNATURE });
  });

  test.each<[string, Headers]>([
    ['a wrong secret', signResponse(OTHER_SECRET, response, T)],
    ['a changed timestamp', { ...signResponse(SECRET, response, T), [TIMESTAMP_HEADER]: String(T + 1) }],
    ['a missing signature', { [TIMESTAMP_HEADER]: String(T) }],
    [
      'a changed signature',
      { ...signResponse(SECRET, response, T), [SIGNATURE_HEADER]: flipFirst(signResponse(SECRET, response, T)[SIGNATURE_HEADER]) },
    ],
    ['a request signature in place of an answer signature', signRequest(SECRET, request, T, NONCE)],
  ])('refuses %s', (_name, headers) => {
    expect(verifyResponse(headers, response, SECRET, T)).toEqual({ ok: false, reason: BAD_ANSWER_SIGNATURE });
  });

  test.each<[string, number, boolean]>([
    ['exactly the window ahead', T + PEER_CLOCK_WINDOW_MS, true],
    ['one ms past the window ahead', T + PEER_CLOCK_WINDOW_MS + 1, false],
    ['exactly the window behind', T - PEER_CLOCK_WINDOW_MS, true],
    ['one ms past the window behind', T - PEER_CLOCK_WINDOW_MS - 1, false],
  ])('clock window: %s', (_name, now, ok) => {
    expect(verifyResponse(signResponse(SECRET, response, T), response, SECRET, now)).toEqual(
      ok ? { ok: true } : { ok: false, reason: STALE },
    );
  });

  test.each([[undefined], [''], ['soon'], ['1'.repeat(16)], [[String(T)]]])('a malformed timestamp %j is refused', (timestamp) => {
    expect(verifyResponse({ ...signResponse(SECRET, response, T), [TIMESTAMP_HEADER]: timestamp }, response, SECRET, T)).toEqual({
      ok: false,
      reason: MALFORMED_TIMESTAMP,
    });
  });

  test('property: every signed answer verifies, and no other status, nonce or body does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/),
        fc.oneof(anyText(200), fc.uint8Array({ maxLength: 200 })),
        fc.integer({ min: 0, max: 2 ** 47 }),
        fc.constantFrom('status', 'nonce', 'body'),
        (status, requestNonce, body, now, mutation) => {
          const answer: SignedResponse = { peer: 'home.example', status, requestNonce, body };
          const headers = signResponse(SECRET, answer, now);
          expect(verifyResponse(headers, answer, SECRET, now)).toEqual({ ok: true });
          const changed: SignedResponse =
            mutation === 'status'
              ? { ...answer, status: status + 1 }
              : mutation === 'nonce'
                ? { ...answer, requestNonce: flipFirst(requestNonce) }
                : { ...answer, body: typeof body === 'string' ? `${body}x` : Uint8Array.from([...body, 1]) };
          expect(verifyResponse(headers, changed, SECRET, now)).toEqual({ ok: false, reason: BAD_ANSWER_SIGNATURE });
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: never throws on an arbitrary header bag', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(TIMESTAMP_HEADER, SIGNATURE_HEADER, '__proto__', 'x-other'),
          fc.oneof(fc.constant(undefined), anyText(60), fc.array(anyText(10), { maxLength: 2 }), fc.stringMatching(/^\d{1,15}$/)),
        ),
        fc.integer({ min: 0, max: 2 ** 50 }),
        (headers, now) => {
          expect(verifyResponse(headers as Headers, response, SECRET, now).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** The text with its first character replaced by another from the base64url alphabet. */
function flipFirst(text: string): string {
  return `${text[0] === 'A' ? 'B' : 'A'}${text.slice(1)}`;
}
