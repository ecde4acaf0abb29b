import fc from 'fast-check';
import { generateKeyPairSync, sign } from 'node:crypto';
import {
  generateGatewayKey,
  MAX_ANSWER_SKEW_MS,
  MAX_DISCOVERY_MESSAGE_BYTES,
  NETWORK_NAME,
  newQuery,
  parseAnswer,
  parseQuery,
  publicKeyOf,
  signAnswer,
  verifyAnswer,
  type DiscoveryAnswer,
} from '../../protocols/discovery-message';
import { anyText } from './arbitraries';

const GATEWAY = generateGatewayKey();
const OTHER = generateGatewayKey();
const NOW = 1_760_000_000_000;
const NONCE = 'AAECAwQFBgcICQoLDA0ODw==';
const FIELDS = { name: 'office', url: 'http://10.0.0.1:8080/roamgate', nonce: NONCE, issuedAt: NOW };

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
const signed = (overrides: Partial<typeof FIELDS> = {}) => signAnswer(GATEWAY.privateKeyPem, { ...FIELDS, ...overrides });
const NONCE_REASON = 'answer is not for our query (nonce)';
const STALE_REASON = 'answer is stale or from the future';
const SIGNATURE_REASON = 'signature does not verify';

describe('keys', () => {
  test('publicKeyOf gives the public key generateGatewayKey gave', () => {
    expect(publicKeyOf(GATEWAY.privateKeyPem)).toBe(GATEWAY.publicKey);
    expect(GATEWAY.publicKey).not.toBe(OTHER.publicKey);
  });

  test('signAnswer names the signing key', () => {
    expect(signed()).toMatchObject({ roamgate: 'gateway', version: 1, ...FIELDS, publicKey: GATEWAY.publicKey });
  });
});

describe('verifyAnswer', () => {
  test('accepts a signed answer for our nonce, through the wire, with and without a pinned key', () => {
    const answer = parseAnswer(bytes(signed()));
    expect(answer).not.toBeNull();
    expect(verifyAnswer(answer!, { nonce: NONCE, now: NOW })).toEqual({ ok: true });
    expect(verifyAnswer(answer!, { nonce: NONCE, now: NOW, trustedKey: GATEWAY.publicKey })).toEqual({ ok: true });
  });

  test.each([
    ['a stray character base64 skips, before the key', (answer: DiscoveryAnswer) => ({ ...answer, publicKey: `[${answer.publicKey}` })],
    ['a NUL after the key', (answer: DiscoveryAnswer) => ({ ...answer, publicKey: `${answer.publicKey}\u0000` })],
    ['padding left off the signature', (answer: DiscoveryAnswer) => ({ ...answer, signature: answer.signature.replace(/=+$/, '') })],
    [
      'an extra byte after the key DER',
      (answer: DiscoveryAnswer) => ({
        ...answer,
        publicKey: Buffer.concat([Buffer.from(answer.publicKey, 'base64'), Buffer.from([0])]).toString('base64'),
      }),
    ],
  ])('refuses a genuine answer whose key or signature is respelled (%s): pinning compares keys as text', (_name, respell) => {
    expect(verifyAnswer(respell(signed()), { nonce: NONCE, now: NOW })).toEqual({ ok: false, reason: 'signature does not verify' });
  });

  test('accepts an mDNS announcement (nonce "") only as one', () => {
    const announcement = signed({ nonce: '' });
    expect(verifyAnswer(announcement, { nonce: '', now: NOW })).toEqual({ ok: true });
    expect(verifyAnswer(announcement, { nonce: NONCE, now: NOW })).toEqual({ ok: false, reason: NONCE_REASON });
  });

  test.each([
    ['issued the longest skew ago', -MAX_ANSWER_SKEW_MS],
    ['issued the longest skew ahead', MAX_ANSWER_SKEW_MS],
  ])('accepts an answer %s', (_name, offset) => {
    expect(verifyAnswer(signed({ issuedAt: NOW + offset }), { nonce: NONCE, now: NOW })).toEqual({ ok: true });
  });

  const otherCurveKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rejected: Array<[string, DiscoveryAnswer, { nonce: string; now: number; trustedKey?: string }, string]> = [
    ['for another query', signed(), { nonce: 'BBECAwQFBgcICQoLDA0ODw==', now: NOW }, NONCE_REASON],
    ['issued too long ago', signed({ issuedAt: NOW - MAX_ANSWER_SKEW_MS - 1 }), { nonce: NONCE, now: NOW }, STALE_REASON],
    ['from the future', signed({ issuedAt: NOW + MAX_ANSWER_SKEW_MS + 1 }), { nonce: NONCE, now: NOW }, STALE_REASON],
    ['with the url changed', { ...signed(), url: 'http://10.6.6.6:8080/roamgate' }, { nonce: NONCE, now: NOW }, SIGNATURE_REASON],
    ['with the name changed', { ...signed(), name: 'office2' }, { nonce: NONCE, now: NOW }, SIGNATURE_REASON],
    // A relayed answer to someone else's query, its nonce rewritten to ours.
    [
      'with the nonce changed',
      { ...signed({ nonce: 'BBECAwQFBgcICQoLDA0ODw==' }), nonce: NONCE },
      { nonce: NONCE, now: NOW },
      SIGNATURE_REASON,
    ],
    // An old answer with a fresh timestamp.
    ['with issuedAt changed', { ...signed({ issuedAt: NOW - 3_600_000 }), issuedAt: NOW }, { nonce: NONCE, now: NOW }, SIGNATURE_REASON],
    [
      'naming another key than the one that signed',
      { ...signed(), publicKey: OTHER.publicKey },
      { nonce: NONCE, now: NOW },
      SIGNATURE_REASON,
    ],
    [
      'signed by another key',
      { ...signed(), signature: signAnswer(OTHER.privateKeyPem, FIELDS).signature },
      { nonce: NONCE, now: NOW },
      SIGNATURE_REASON,
    ],
    [
      'signed with a key that is not Ed25519',
      {
        ...signed(),
        publicKey: otherCurveKey.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
        signature: sign('sha256', bytes([FIELDS.name, FIELDS.url, FIELDS.nonce, FIELDS.issuedAt]), otherCurveKey.privateKey).toString(
          'base64',
        ),
      },
      { nonce: NONCE, now: NOW },
      SIGNATURE_REASON,
    ],
    ['whose public key is not a key', { ...signed(), publicKey: 'bm90IGEga2V5' }, { nonce: NONCE, now: NOW }, SIGNATURE_REASON],
    ['whose signature is not base64', { ...signed(), signature: '!!!' }, { nonce: NONCE, now: NOW }, SIGNATURE_REASON],
    ['whose signature is empty', { ...signed(), signature: '' }, { nonce: NONCE, now: NOW }, SIGNATURE_REASON],
    [
      'validly signed by a key other than the pinned one',
      signAnswer(OTHER.privateKeyPem, FIELDS),
      { nonce: NONCE, now: NOW, trustedKey: GATEWAY.publicKey },
      'the key of network "office" changed',
    ],
  ];
  test.each(rejected)('rejects an answer %s', (_name, answer, expected, reason) => {
    expect(verifyAnswer(answer, expected)).toEqual({ ok: false, reason });
  });
});

describe('parseQuery', () => {
  test('reads a new query back', () => {
    const query = newQuery();
    expect(parseQuery(bytes(query))).toEqual(query);
  });

  test('keeps only the query fields', () => {
    expect(parseQuery(bytes({ roamgate: 'discover', version: 1, nonce: NONCE, extra: 'x'.repeat(100) }))).toEqual({
      roamgate: 'discover',
      version: 1,
      nonce: NONCE,
    });
  });

  test('takes a datagram of exactly the size limit, not one byte more', () => {
    const query = JSON.stringify({ roamgate: 'discover', version: 1, nonce: NONCE });
    const padded = (size: number) => Buffer.from(query + ' '.repeat(size - query.length), 'utf8');
    expect(parseQuery(padded(MAX_DISCOVERY_MESSAGE_BYTES))).not.toBeNull();
    expect(parseQuery(padded(MAX_DISCOVERY_MESSAGE_BYTES + 1))).toBeNull();
  });

  test.each<[string, string | Buffer]>([
    ['empty', ''],
    ['not JSON', 'discover'],
    ['truncated JSON', '{"roamgate":"discover","version":1,'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['null', 'null'],
    ['an array', JSON.stringify(['discover', 1, NONCE])],
    ['a string', JSON.stringify('discover')],
    ['an answer', JSON.stringify(signed())],
    ['missing roamgate', JSON.stringify({ version: 1, nonce: NONCE })],
    ['another message kind', JSON.stringify({ roamgate: 'gateway', version: 1, nonce: NONCE })],
    ['version 2', JSON.stringify({ roamgate: 'discover', version: 2, nonce: NONCE })],
    ['version as a string', JSON.stringify({ roamgate: 'discover', version: '1', nonce: NONCE })],
    ['missing nonce', JSON.stringify({ roamgate: 'discover', version: 1 })],
    ['nonce as a number', JSON.stringify({ roamgate: 'discover', version: 1, nonce: 12345 })],
    ['an empty nonce', JSON.stringify({ roamgate: 'discover', version: 1, nonce: '' })],
    ['a short nonce', JSON.stringify({ roamgate: 'discover', version: 1, nonce: 'AAECAwQFBgcICQoLDA0O==' })],
    ['an unpadded nonce', JSON.stringify({ roamgate: 'discover', version: 1, nonce: 'AAECAwQFBgcICQoLDA0ODw' })],
    ['a nonce outside base64', JSON.stringify({ roamgate: 'discover', version: 1, nonce: 'AAECAwQFBgcICQoLDA0OD-==' })],
    ['a nonce with a newline after it', JSON.stringify({ roamgate: 'discover', version: 1, nonce: `${NONCE}\n` })],
  ])('rejects %s', (_name, input) => {
    expect(parseQuery(typeof input === 'string' ? Buffer.from(input, 'utf8') : input)).toBeNull();
  });
});

describe('parseAnswer', () => {
  const wire = (overrides: Record<string, unknown>) => bytes({ ...signed(), ...overrides });

  test('reads a signed answer back, keeping only the answer fields', () => {
    const answer = signed();
    expect(parseAnswer(wire({ extra: true }))).toEqual(answer);
  });

  test('takes answers at each field limit', () => {
    const limits = {
      name: 'n'.repeat(63),
      url: `https://${'u'.repeat(500)}`,
      nonce: 'x'.repeat(64),
      publicKey: 'k'.repeat(200),
      signature: 's'.repeat(200),
      issuedAt: Number.MAX_SAFE_INTEGER,
    };
    expect(parseAnswer(wire(limits))).toMatchObject(limits);
  });

  test('rejects a datagram over the size limit', () => {
    const answer = JSON.stringify(signed());
    expect(parseAnswer(Buffer.from(answer + ' '.repeat(MAX_DISCOVERY_MESSAGE_BYTES - answer.length), 'utf8'))).not.toBeNull();
    expect(parseAnswer(Buffer.from(answer + ' '.repeat(MAX_DISCOVERY_MESSAGE_BYTES + 1 - answer.length), 'utf8'))).toBeNull();
  });

  test.each<[string, Record<string, unknown>]>([
    ['a query', { roamgate: 'discover' }],
    ['version 2', { version: 2 }],
    ['an empty name', { name: '' }],
    ['a name of 64 characters', { name: 'n'.repeat(64) }],
    ['a name with a newline (it would fake a line on the terminal)', { name: 'visit\nroamgate: all is well' }],
    ['a name with an escape sequence', { name: 'visit\x1b[2K' }],
    ['a name with a bidi override', { name: 'visit\u202e' }],
    ['a name with a line separator', { name: 'visit\u2028' }],
    ['a name with a dot', { name: 'visit.example' }],
    ['a name that is a number', { name: 42 }],
    ['no name', { name: undefined }],
    ['an ftp url', { url: 'ftp://10.0.0.1/' }],
    ['a url with a space', { url: 'http://10.0.0.1/ roamgate' }],
    ['a url that is only a scheme', { url: 'http://' }],
    ['a url too long', { url: `https://${'u'.repeat(501)}` }],
    ['a url that is an object', { url: { href: FIELDS.url } }],
    ['a nonce of 65 characters', { nonce: 'x'.repeat(65) }],
    ['a nonce that is null', { nonce: null }],
    ['a public key of 201 characters', { publicKey: 'k'.repeat(201) }],
    ['a public key that is an array', { publicKey: [GATEWAY.publicKey] }],
    ['a signature of 201 characters', { signature: 's'.repeat(201) }],
    ['no signature', { signature: undefined }],
    ['issuedAt as a string', { issuedAt: String(NOW) }],
    ['a fractional issuedAt', { issuedAt: NOW + 0.5 }],
    ['an issuedAt beyond safe integers', { issuedAt: 2 ** 53 }],
  ])('rejects an answer with %s', (_name, overrides) => {
    expect(parseAnswer(wire(overrides))).toBeNull();
  });

  test.each([
    ['not JSON', 'gateway'],
    ['null', 'null'],
    ['an array', '[]'],
    ['a number', '7'],
  ])('rejects %s', (_name, input) => {
    expect(parseAnswer(Buffer.from(input, 'utf8'))).toBeNull();
  });
});

describe('properties', () => {
  const messageBytes = fc.oneof(
    fc.uint8Array({ maxLength: MAX_DISCOVERY_MESSAGE_BYTES + 100 }),
    fc.jsonValue().map((value) => bytes(value)),
    // Objects close to the real messages, so the field checks are reached.
    fc
      .record(
        {
          roamgate: fc.constantFrom('discover', 'gateway', 'other'),
          version: fc.constantFrom(1, 2, '1'),
          nonce: fc.oneof(fc.string(), fc.constant(NONCE), fc.jsonValue()),
        },
        { requiredKeys: [] },
      )
      .chain((base) =>
        fc
          .dictionary(fc.constantFrom('name', 'url', 'issuedAt', 'publicKey', 'signature', '__proto__'), fc.jsonValue())
          .map((rest) => bytes({ ...rest, ...base })),
      ),
  );

  test('parseQuery and parseAnswer never throw, and return null or a message of the right shape', () => {
    fc.assert(
      fc.property(messageBytes, (data) => {
        const query = parseQuery(Buffer.from(data));
        const answer = parseAnswer(Buffer.from(data));
        if (query !== null) expect(Object.keys(query).sort()).toEqual(['nonce', 'roamgate', 'version']);
        if (answer !== null) expect(typeof answer.issuedAt).toBe('number');
      }),
      { numRuns: 500 },
    );
  });

  const keys = [GATEWAY, OTHER, generateGatewayKey()];
  const fields = fc.record({
    key: fc.constantFrom(...keys),
    name: anyText(63).filter((name) => NETWORK_NAME.test(name)),
    url: fc.webUrl({ validSchemes: ['http', 'https'] }).filter((url) => url.length <= 300),
    nonce: fc.oneof(
      fc.constant(''),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((nonce) => Buffer.from(nonce).toString('base64')),
    ),
    issuedAt: fc.integer({ min: 0, max: 2 ** 47 }),
  });

  test('an answer made by signAnswer verifies for its nonce, before and after the wire', () => {
    fc.assert(
      fc.property(fields, ({ key, ...answerFields }) => {
        const answer = signAnswer(key.privateKeyPem, answerFields);
        const expected = { nonce: answerFields.nonce, now: answerFields.issuedAt, trustedKey: key.publicKey };
        expect(verifyAnswer(answer, expected)).toEqual({ ok: true });
        const received = parseAnswer(bytes(answer));
        expect(received).toEqual(answer);
        expect(verifyAnswer(received!, expected)).toEqual({ ok: true });
      }),
      { numRuns: 200 },
    );
  });

  test('changing any signed field of an answer makes it fail', () => {
    fc.assert(
      fc.property(fields, fc.constantFrom('name', 'url', 'issuedAt'), ({ key, ...answerFields }, field) => {
        const answer = signAnswer(key.privateKeyPem, answerFields);
        const changed = { ...answer, [field]: field === 'issuedAt' ? answer.issuedAt + 1 : `${answer[field]}x` };
        expect(verifyAnswer(changed, { nonce: answer.nonce, now: answer.issuedAt })).toEqual({ ok: false, reason: SIGNATURE_REASON });
      }),
      { numRuns: 100 },
    );
  });
});
