import { scryptSync } from 'node:crypto';
import { isRoamgateError } from '../../errors';
import { isAdmin, StoreDirectory, type ConfiguredUser, type User } from '../../plugin/directory';
import { hashPassword } from '../../plugin/password';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import type { UserRecord } from '../../store/store';

const T = 1_700_000_000_000;
const storeUser = (id: string, passwordHash: string, fields: Partial<UserRecord> = {}): UserRecord => ({
  id,
  passwordHash,
  attributes: {},
  disabled: false,
  createdAt: T,
  updatedAt: T,
  ...fields,
});

/** What `promise` rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
}

/**
 * A valid hash made with cheap scrypt parameters: verifyPassword reads the parameters from the
 * hash, so these check in well under a millisecond where hashPassword's cost ~50-100 ms.
 */
function cheapHash(password: string, saltByte: number): string {
  const salt = Buffer.alloc(16, saltByte);
  return `scrypt$16$1$1$${salt.toString('base64')}$${scryptSync(password, salt, 32, { N: 16, r: 1, p: 1 }).toString('base64')}`;
}

let aliceHash: string;
const bobHash = cheapHash('bob-pw', 1);
const storeAliceHash = cheapHash('alice-store-pw', 2);
// One hash made the real way, hashed once for the whole file.
beforeAll(async () => {
  aliceHash = await hashPassword('alice-config-pw');
});

let store: SqliteStore;
let directory: StoreDirectory;
beforeEach(async () => {
  store = openSqliteStore(':memory:');
  const configured: ConfiguredUser[] = [
    { id: 'alice', passwordHash: aliceHash, attributes: { department: 'sales', role: 'admin' } },
    { id: 'carol', passwordHash: bobHash, disabled: true },
    { id: 'nobody-attrs', passwordHash: bobHash },
  ];
  directory = new StoreDirectory(configured, store);
  await store.users.put(storeUser('bob', bobHash, { attributes: { department: 'it' } }));
  await store.users.put(storeUser('dave', bobHash, { disabled: true }));
  // Same id as a config user: the config file wins.
  await store.users.put(storeUser('alice', storeAliceHash, { attributes: { department: 'store-copy' } }));
  await store.users.put(storeUser('carol', storeAliceHash));
});
afterEach(() => store.close());

describe('StoreDirectory.verify', () => {
  test('a config user with the right password: { id, attributes }', async () => {
    expect(await directory.verify('alice', 'alice-config-pw')).toEqual({ id: 'alice', attributes: { department: 'sales', role: 'admin' } });
  });

  test('a store user with the right password: { id, attributes }', async () => {
    expect(await directory.verify('bob', 'bob-pw')).toEqual({ id: 'bob', attributes: { department: 'it' } });
  });

  test('a config user without attributes gets {}', async () => {
    expect(await directory.verify('nobody-attrs', 'bob-pw')).toEqual({ id: 'nobody-attrs', attributes: {} });
  });

  test('false for a wrong password, a config user and a store user', async () => {
    expect(await Promise.all([directory.verify('alice', 'bob-pw'), directory.verify('bob', 'alice-config-pw')])).toEqual([false, false]);
  });

  test('false for an unknown user', async () => {
    expect(await directory.verify('mallory', 'bob-pw')).toBe(false);
  });

  test('false for a disabled user, in the config file and in the store, even with the right password', async () => {
    expect(await Promise.all([directory.verify('carol', 'bob-pw'), directory.verify('dave', 'bob-pw')])).toEqual([false, false]);
  });

  test('a config user wins over a store user with the same id: the store password does not work', async () => {
    expect(await directory.verify('alice', 'alice-store-pw')).toBe(false);
  });

  test('a disabled config user is not replaced by the enabled store user of the same id', async () => {
    expect(await directory.verify('carol', 'alice-store-pw')).toBe(false);
  });

  test('a user added to the store later can log in at once (no cache)', async () => {
    await store.users.put(storeUser('erin', bobHash));
    expect(await directory.verify('erin', 'bob-pw')).toEqual({ id: 'erin', attributes: {} });
  });

  test('a store user disabled later can no longer log in', async () => {
    await store.users.put(storeUser('bob', bobHash, { disabled: true }));
    expect(await directory.verify('bob', 'bob-pw')).toBe(false);
  });

  test('the user returned is a copy: changing it does not change the directory', async () => {
    const user = (await directory.verify('alice', 'alice-config-pw')) as User;
    (user.attributes as Record<string, string>).role = 'changed';
    expect((await directory.get('alice'))?.attributes.role).toBe('admin');
  });

  test.each([
    ['in the store', 'broken', () => store.users.put(storeUser('broken', 'plaintext-password'))],
    ['in the store, short key', 'broken', () => store.users.put(storeUser('broken', bobHash.replace(/\$[^$]+$/, '$AAAA')))],
  ])('a malformed hash %s makes verify throw ROAMGATE_SOURCE_FAILED (the directory is broken)', async (_where, id, setUp) => {
    await setUp();
    const error = await rejection(directory.verify(id, 'plaintext-password'));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
    expect((error as Error).message).toContain(id);
    expect((error as Error).message).not.toContain('plaintext-password');
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  test('a malformed hash in the config users makes verify throw ROAMGATE_SOURCE_FAILED too', async () => {
    const broken = new StoreDirectory([{ id: 'frank', passwordHash: 'scrypt$nope' }], store);
    const error = await rejection(broken.verify('frank', 'x'));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
  });

  test('a store that fails makes verify reject rather than answer false', async () => {
    await store.close();
    expect(isRoamgateError(await rejection(directory.verify('bob', 'bob-pw')))).toBe(true);
  });
});

describe('StoreDirectory.get', () => {
  test.each<[string, User | undefined]>([
    ['alice', { id: 'alice', attributes: { department: 'sales', role: 'admin' } }],
    ['bob', { id: 'bob', attributes: { department: 'it' } }],
    ['nobody-attrs', { id: 'nobody-attrs', attributes: {} }],
    ['carol', undefined],
    ['dave', undefined],
    ['mallory', undefined],
  ])('%s -> %j', async (id, expected) => {
    expect(await directory.get(id)).toEqual(expected);
  });

  test('never exposes the password hash', async () => {
    expect(JSON.stringify(await directory.get('bob'))).not.toContain('scrypt');
  });
});

describe('StoreDirectory.isConfigured', () => {
  test.each([
    ['alice', true],
    ['carol', true],
    ['bob', false],
    ['mallory', false],
  ])('%s: %s', (id, expected) => {
    expect(directory.isConfigured(id)).toBe(expected);
  });
});

describe('isAdmin', () => {
  test.each<[string, Record<string, string>, boolean]>([
    ['role=admin', { role: 'admin' }, true],
    ['role=admin among other attributes', { department: 'it', role: 'admin' }, true],
    ['no role', {}, false],
    ['another role', { role: 'user' }, false],
    ['role in another case', { role: 'Admin' }, false],
    ['admin in another attribute', { group: 'admin' }, false],
    ['role with spaces', { role: ' admin' }, false],
  ])('%s: %s', (_name, attributes, expected) => {
    expect(isAdmin({ id: 'someone', attributes })).toBe(expected);
  });
});
