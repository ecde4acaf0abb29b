import fc from 'fast-check';
import { scryptSync } from 'node:crypto';
import { DUMMY_HASH, hashPassword, parsePasswordHash, SCRYPT_PARAMS, verifyPassword } from '../../plugin/password';
import { anyText } from './arbitraries';

const SALT = Buffer.alloc(16, 1).toString('base64');
const KEY = Buffer.alloc(32, 2).toString('base64');
/** A well-formed hash with the given fields; a field left out takes a valid value. */
const hashOf = ({
  prefix = 'scrypt',
  N = '16384',
  r = '8',
  p = '1',
  salt = SALT,
  key = KEY,
}: Partial<Record<'prefix' | 'N' | 'r' | 'p' | 'salt' | 'key', string>> = {}) => [prefix, N, r, p, salt, key].join('$');

/** What `promise` rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
}

// scrypt costs ~50 ms per hash: the two hashes every test shares are made once.
let hash: string;
let secondHash: string;
beforeAll(async () => {
  [hash, secondHash] = await Promise.all([hashPassword('correct horse'), hashPassword('correct horse')]);
});

describe('hashPassword', () => {
  test('writes scrypt$N$r$p$salt$key with the current parameters, a 16-byte salt and a 32-byte key', () => {
    const parts = hash.split('$');
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 4)).toEqual(['scrypt', String(SCRYPT_PARAMS.N), String(SCRYPT_PARAMS.r), String(SCRYPT_PARAMS.p)]);
    expect(Buffer.from(parts[4], 'base64')).toHaveLength(16);
    expect(Buffer.from(parts[5], 'base64')).toHaveLength(32);
    expect(parsePasswordHash(hash)).toEqual({
      ...SCRYPT_PARAMS,
      salt: Buffer.from(parts[4], 'base64'),
      key: Buffer.from(parts[5], 'base64'),
    });
  });

  test('never contains the password', () => {
    expect(hash).not.toContain('correct horse');
    expect(hash).not.toContain(Buffer.from('correct horse').toString('base64'));
  });

  test('the same password hashed twice gets different salts, so different hashes', () => {
    expect(secondHash).not.toBe(hash);
    expect(secondHash.split('$')[4]).not.toBe(hash.split('$')[4]);
    expect(secondHash.split('$')[5]).not.toBe(hash.split('$')[5]);
  });
});

describe('verifyPassword', () => {
  /** A hash made by hand with node's scrypt and cheap parameters: verifyPassword must use the parameters the hash names. */
  const cheapSalt = Buffer.alloc(16, 7);
  const cheapHash = `scrypt$16$1$1$${cheapSalt.toString('base64')}$${scryptSync('correct horse', cheapSalt, 32, { N: 16, r: 1, p: 1 }).toString('base64')}`;

  test('true for the password that was hashed, with either salt', async () => {
    expect(await Promise.all([verifyPassword('correct horse', hash), verifyPassword('correct horse', secondHash)])).toEqual([true, true]);
  });

  test('false for another password', async () => {
    expect(await verifyPassword('battery staple', hash)).toBe(false);
  });

  test('true against a hash written by hand with other parameters (they are read from the hash)', async () => {
    expect(await verifyPassword('correct horse', cheapHash)).toBe(true);
  });

  test.each([
    ['another password', 'battery staple'],
    ['a different case', 'Correct horse'],
    ['a trailing space', 'correct horse '],
    ['a prefix', 'correct hors'],
    ['the empty password', ''],
    ['an added combining accent', 'correct horse\u0301'],
  ])('false for %s', async (_name, password) => {
    expect(await verifyPassword(password, cheapHash)).toBe(false);
  });

  test('false (not a throw) against DUMMY_HASH, which is well-formed', async () => {
    expect(parsePasswordHash(DUMMY_HASH)).not.toBeNull();
    expect(await verifyPassword('anything', DUMMY_HASH)).toBe(false);
  });

  test.each([
    ['a plain password', 'correct horse'],
    ['the empty string', ''],
    ['a bcrypt hash', '$2b$10$abcdefghijklmnopqrstuuFz9v1E0Wq3hQwKkz8j0s0b3b3b3b3b3'],
    ['a non power-of-two N', hashOf({ N: '1000' })],
    ['a truncated key', hashOf({ key: Buffer.alloc(16).toString('base64') })],
  ])('throws on a malformed hash: %s', async (_name, malformed) => {
    const error = await rejection(verifyPassword('correct horse', malformed));
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('stored password hash is not a roamgate scrypt hash');
  });
});

describe('parsePasswordHash', () => {
  test('accepts a hand-written hash with the smallest valid parameters', () => {
    expect(parsePasswordHash(hashOf({ N: '4', r: '1', p: '1', salt: Buffer.alloc(8, 3).toString('base64') }))).toEqual({
      N: 4,
      r: 1,
      p: 1,
      salt: Buffer.alloc(8, 3),
      key: Buffer.alloc(32, 2),
    });
  });

  test.each<[string, string]>([
    ['the empty string', ''],
    ['wrong prefix', hashOf({ prefix: 'bcrypt' })],
    ['prefix in upper case', hashOf({ prefix: 'SCRYPT' })],
    ['empty prefix', hashOf({ prefix: '' })],
    ['five parts', ['scrypt', '16384', '8', '1', SALT].join('$')],
    ['seven parts', `${hashOf()}$extra`],
    ['a trailing $', `${hashOf()}$`],
    ['N missing', hashOf({ N: '' })],
    ['N not a number', hashOf({ N: 'lots' })],
    ['N not an integer', hashOf({ N: '16384.5' })],
    ['N not a power of two', hashOf({ N: '16383' })],
    ['N = 1', hashOf({ N: '1' })],
    ['N = 0', hashOf({ N: '0' })],
    ['N negative', hashOf({ N: '-16384' })],
    ['N huge (2^21)', hashOf({ N: String(2 ** 21) })],
    ['N huge (2^30)', hashOf({ N: String(2 ** 30) })],
    ['N past 2^53', hashOf({ N: String(2 ** 60) })],
    ['N Infinity', hashOf({ N: 'Infinity' })],
    ['r = 0', hashOf({ r: '0' })],
    ['r = 33', hashOf({ r: '33' })],
    ['r fractional', hashOf({ r: '1.5' })],
    ['p = 0', hashOf({ p: '0' })],
    ['p = 17', hashOf({ p: '17' })],
    ['p NaN', hashOf({ p: 'NaN' })],
    ['salt empty', hashOf({ salt: '' })],
    ['salt of 7 bytes', hashOf({ salt: Buffer.alloc(7).toString('base64') })],
    ['key empty', hashOf({ key: '' })],
    ['key short (31 bytes)', hashOf({ key: Buffer.alloc(31).toString('base64') })],
    ['key long (33 bytes)', hashOf({ key: Buffer.alloc(33).toString('base64') })],
    ['key of 64 bytes (another key length)', hashOf({ key: Buffer.alloc(64).toString('base64') })],
  ])('rejects %s', (_name, malformed) => {
    expect(parsePasswordHash(malformed)).toBeNull();
  });

  test.each<[string, string, string, number]>([
    ['N = 2', '2', '1', 2],
    ['N = 2^15 with r = 1 (N < 2^16r)', String(2 ** 15), '1', 2 ** 15],
    ['N = 2^20 with r = 2 (256 MiB, the memory limit)', String(2 ** 20), '2', 2 ** 20],
  ])('accepts the boundary %s', (_name, N, r, expected) => {
    expect(parsePasswordHash(hashOf({ N, r, p: '1' }))?.N).toBe(expected);
  });

  test.each([
    ['N = 2^16 with r = 1 (scrypt needs N < 2^16r)', { N: String(2 ** 16), r: '1', p: '1' }],
    ['N = 2^20 with r = 4 (512 MiB)', { N: String(2 ** 20), r: '4', p: '1' }],
    ['N written in hex', { N: '0x4000', r: '8', p: '1' }],
    ['N with spaces', { N: ' 16 ', r: '8', p: '1' }],
  ])('rejects %s', (_name, params) => {
    expect(parsePasswordHash(hashOf(params))).toBeNull();
  });

  test('never throws, whatever the string', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText(80),
          // Strings shaped like hashes, so the checks past the prefix run too.
          fc
            .array(fc.oneof(anyText(12), fc.constantFrom('scrypt', '16384', '8', '1', '0', '-1', '1e3', SALT, KEY)), { maxLength: 8 })
            .map((parts) => parts.join('$')),
          fc
            .tuple(anyText(12), anyText(12), anyText(12), anyText(30), anyText(50))
            .map(([N, r, p, salt, key]) => ['scrypt', N, r, p, salt, key].join('$')),
        ),
        (text) => {
          const parsed = parsePasswordHash(text);
          if (parsed !== null) {
            expect(parsed.key).toHaveLength(32);
            expect(parsed.salt.length).toBeGreaterThanOrEqual(8);
          }
        },
      ),
    );
  });

  // parsePasswordHash promises null for any hash this code cannot check; the config schema relies on it.
  test.each<[string, Partial<Record<'N' | 'r' | 'p', string>>]>([
    ['N = 2, r = 1, p = 1', { N: '2', r: '1', p: '1' }],
    ['N = 16, r = 1, p = 16', { N: '16', r: '1', p: '16' }],
    ['N = 65536, r = 1, p = 1', { N: '65536', r: '1', p: '1' }],
  ])('a hash it accepts can be checked by verifyPassword: %s', async (_name, params) => {
    const candidate = hashOf(params);
    if (parsePasswordHash(candidate) === null) return;
    expect(await verifyPassword('x', candidate)).toBe(false);
  });
});
