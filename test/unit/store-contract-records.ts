import fc from 'fast-check';
import type { Store, UserRecord } from '../../store/store';
import { alice, byId, type ContractContext, expectRoamgateError, lease, registration, rule, T } from './store-contract-fixtures';

/** The contract's part on what the store keeps as records: users, leases, rules, registrations. */
export function recordsContract(context: ContractContext): void {
  for (const part of [
    usersContract,
    leaseCreationContract,
    leaseUniquenessContract,
    leaseLifecycleContract,
    rulesContract,
    registrationsContract,
  ])
    part(context);
}

/** Users. */
function usersContract(context: ContractContext): void {
  describe('users', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('get of an unknown id is undefined; list of an empty store is empty', async () => {
      expect(await store.users.get('nobody')).toBeUndefined();
      expect(await store.users.list()).toEqual([]);
    });

    test('put creates a user that get returns exactly as given', async () => {
      await store.users.put(alice);
      expect(await store.users.get('alice')).toStrictEqual(alice);
      expect(await store.users.list()).toStrictEqual([alice]);
    });

    test('put of an existing id replaces every field', async () => {
      await store.users.put(alice);
      const changed: UserRecord = {
        ...alice,
        passwordHash: 'scrypt$other',
        attributes: { department: 'support' },
        disabled: true,
        createdAt: T + 1,
        updatedAt: T + 2,
      };
      await store.users.put(changed);
      expect(await store.users.get('alice')).toStrictEqual(changed);
      expect(await store.users.list()).toHaveLength(1);
    });

    test('list is ordered by id', async () => {
      for (const id of ['carol', 'alice', 'bob']) await store.users.put({ ...alice, id });
      expect((await store.users.list()).map((user) => user.id)).toEqual(['alice', 'bob', 'carol']);
    });

    test('remove deletes and says whether there was a user', async () => {
      await store.users.put(alice);
      await store.users.put({ ...alice, id: 'bob' });
      expect(await store.users.remove('alice')).toBe(true);
      expect(await store.users.remove('alice')).toBe(false);
      expect(await store.users.remove('nobody')).toBe(false);
      expect(await store.users.get('alice')).toBeUndefined();
      expect((await store.users.list()).map((user) => user.id)).toEqual(['bob']);
    });

    test('the store keeps its own copy: changing what was put or what was returned changes nothing stored', async () => {
      const given = { ...alice, attributes: { ...alice.attributes } };
      await store.users.put(given);
      given.attributes.department = 'changed after put';
      const returned = (await store.users.get('alice'))!;
      returned.attributes.department = 'changed after get';
      expect(await store.users.get('alice')).toStrictEqual(alice);
    });

    test('any well-formed text survives in ids, hashes and attributes, and empty attributes stay empty', async () => {
      // Lone surrogates are left out: they are not text, and a UTF-8 backend cannot keep them.
      const text = fc.string({
        unit: fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((code) => String.fromCodePoint(code < 0xd800 ? code : code + 0x800)),
        maxLength: 12,
      });
      await fc.assert(
        fc.asyncProperty(
          text,
          text,
          fc.dictionary(text, text, { maxKeys: 4, noNullPrototype: true }),
          fc.boolean(),
          async (id, passwordHash, attributes, disabled) => {
            const user: UserRecord = { id, passwordHash, attributes, disabled, createdAt: T, updatedAt: T + 1 };
            await store.users.put(user);
            expect(await store.users.get(id)).toStrictEqual(user);
          },
        ),
        { numRuns: 40 },
      );
    });
  });
}

/** Leases: creating and reading. */
function leaseCreationContract(context: ContractContext): void {
  describe('leases', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('create stores a lease that get and getByTokenHash return exactly, with no revokedAt', async () => {
      const created = lease('l1');
      await store.leases.create(created);
      const byLeaseId = await store.leases.get('l1');
      expect(byLeaseId).toStrictEqual(created);
      expect(byLeaseId).not.toHaveProperty('revokedAt');
      expect(await store.leases.getByTokenHash('hash-of-l1')).toStrictEqual(created);
    });

    test('a visitor lease keeps its home grant exactly; other leases have no home field', async () => {
      const home = {
        realm: 'home.example',
        username: 'alice',
        token: 'home-token',
        expiresAt: T + 9000,
        services: [
          { service: 'pop3', own: true },
          { service: 'smtp', own: false, servers: [{ host: '10.0.0.5', port: 25, priority: 10, tls: { mode: 'starttls' as const } }] },
        ],
      };
      await store.leases.create(lease('visitor', { userId: 'alice@home.example', home }));
      await store.leases.create(lease('local'));
      expect(await store.leases.get('visitor')).toStrictEqual(lease('visitor', { userId: 'alice@home.example', home }));
      expect(await store.leases.get('local')).not.toHaveProperty('home');
      await store.leases.create(lease('for-a-peer', { peer: 'visit.example' }));
      expect(await store.leases.get('for-a-peer')).toStrictEqual(lease('for-a-peer', { peer: 'visit.example' }));
      expect(await store.leases.get('local')).not.toHaveProperty('peer');
      expect((await store.leases.listLive(T)).find((found) => found.id === 'visitor')?.home).toStrictEqual(home);
    });

    test('unknown ids and token hashes are undefined', async () => {
      await store.leases.create(lease('l1'));
      expect(await store.leases.get('l2')).toBeUndefined();
      expect(await store.leases.getByTokenHash('hash-of-l2')).toBeUndefined();
    });

    test('a lease created already revoked keeps its revokedAt', async () => {
      const revoked = lease('l1', { revokedAt: T + 5 });
      await store.leases.create(revoked);
      expect(await store.leases.get('l1')).toStrictEqual(revoked);
    });
  });
}

/** Leases: ids and token hashes are unique; what is live. */
function leaseUniquenessContract(context: ContractContext): void {
  describe('leases: uniqueness, listLive', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('create with a token hash already in use rejects and leaves the first lease alone', async () => {
      await store.leases.create(lease('l1'));
      await expectRoamgateError(store.leases.create(lease('l2', { tokenHash: 'hash-of-l1', userId: 'mallory' })), 'ROAMGATE_SOURCE_FAILED');
      expect(await store.leases.getByTokenHash('hash-of-l1')).toStrictEqual(lease('l1'));
      expect(await store.leases.get('l2')).toBeUndefined();
    });

    test('create with an id already in use rejects', async () => {
      await store.leases.create(lease('l1'));
      await expectRoamgateError(store.leases.create(lease('l1', { tokenHash: 'another' })), 'ROAMGATE_SOURCE_FAILED');
      expect(await store.leases.get('l1')).toStrictEqual(lease('l1'));
      expect(await store.leases.getByTokenHash('another')).toBeUndefined();
    });

    test('listLive(now) leaves out revoked leases and those expiring at or before now', async () => {
      const now = T + 10_000;
      await store.leases.create(lease('live', { expiresAt: now + 1 }));
      await store.leases.create(lease('expires-now', { expiresAt: now }));
      await store.leases.create(lease('expired', { expiresAt: now - 1 }));
      await store.leases.create(lease('revoked-early', { expiresAt: now + 60_000, revokedAt: now - 5 }));
      await store.leases.create(lease('also-live', { expiresAt: now + 60_000, userId: 'bob' }));
      await store.leases.create(lease('revoked-later'));
      expect(await store.leases.revoke('revoked-later', now + 1)).toBe(true);
      expect(byId(await store.leases.listLive(now))).toStrictEqual([
        lease('also-live', { expiresAt: now + 60_000, userId: 'bob' }),
        lease('live', { expiresAt: now + 1 }),
      ]);
      expect(await store.leases.listLive(now + 1)).toStrictEqual([lease('also-live', { expiresAt: now + 60_000, userId: 'bob' })]);
    });
  });
}

/** Leases: renewing, revoking, purging. */
function leaseLifecycleContract(context: ContractContext): void {
  describe('leases: renew, revoke, purge', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('renew sets a new expiry on a live lease', async () => {
      await store.leases.create(lease('l1'));
      expect(await store.leases.renew('l1', T + 120_000, T)).toBe(true);
      expect(await store.leases.get('l1')).toStrictEqual(lease('l1', { expiresAt: T + 120_000 }));
      expect((await store.leases.listLive(T + 90_000)).map((live) => live.id)).toEqual(['l1']);
    });

    test('renew of an unknown or revoked lease is false and changes nothing', async () => {
      await store.leases.create(lease('l1'));
      await store.leases.revoke('l1', T + 1);
      expect(await store.leases.renew('l1', T + 120_000, T)).toBe(false);
      expect(await store.leases.renew('nobody', T + 120_000, T)).toBe(false);
      expect(await store.leases.get('l1')).toStrictEqual(lease('l1', { revokedAt: T + 1 }));
      expect(await store.leases.get('nobody')).toBeUndefined();
    });

    test('renew of a lease already expired at `now` is false: an expired lease is never revived', async () => {
      await store.leases.create(lease('l1', { expiresAt: T + 10 }));
      expect(await store.leases.renew('l1', T + 120_000, T + 10)).toBe(false);
      expect(await store.leases.get('l1')).toStrictEqual(lease('l1', { expiresAt: T + 10 }));
    });

    test('revoke marks the lease once; revoking again or an unknown lease is false', async () => {
      await store.leases.create(lease('l1'));
      expect(await store.leases.revoke('l1', T + 7)).toBe(true);
      expect(await store.leases.get('l1')).toStrictEqual(lease('l1', { revokedAt: T + 7 }));
      expect(await store.leases.getByTokenHash('hash-of-l1')).toStrictEqual(lease('l1', { revokedAt: T + 7 }));
      expect(await store.leases.revoke('l1', T + 9)).toBe(false);
      expect((await store.leases.get('l1'))?.revokedAt).toBe(T + 7);
      expect(await store.leases.revoke('nobody', T + 9)).toBe(false);
      expect(await store.leases.listLive(T)).toEqual([]);
    });

    test('purge(before) deletes leases expired or revoked strictly before it and counts them', async () => {
      const before = T + 10_000;
      await store.leases.create(lease('expired', { expiresAt: before - 1 }));
      await store.leases.create(lease('revoked', { expiresAt: before + 60_000, revokedAt: before - 1 }));
      await store.leases.create(lease('expires-at-before', { expiresAt: before }));
      await store.leases.create(lease('revoked-at-before', { expiresAt: before + 60_000, revokedAt: before }));
      await store.leases.create(lease('live', { expiresAt: before + 60_000 }));
      expect(await store.leases.purge(before)).toBe(2);
      expect(await store.leases.get('expired')).toBeUndefined();
      expect(await store.leases.getByTokenHash('hash-of-revoked')).toBeUndefined();
      for (const kept of ['expires-at-before', 'revoked-at-before', 'live']) expect((await store.leases.get(kept))?.id).toBe(kept);
      expect(await store.leases.purge(before)).toBe(0);
    });

    test('a purged lease frees its token hash', async () => {
      await store.leases.create(lease('l1', { expiresAt: T }));
      expect(await store.leases.purge(T + 1)).toBe(1);
      await store.leases.create(lease('l2', { tokenHash: 'hash-of-l1' }));
      expect((await store.leases.getByTokenHash('hash-of-l1'))?.id).toBe('l2');
    });
  });
}

/** Access rules. */
function rulesContract(context: ContractContext): void {
  describe('rules', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('put creates a rule that get and list return exactly; reason is absent when not set', async () => {
      const allowed = rule('r1');
      await store.rules.put(allowed);
      expect(await store.rules.get('r1')).toStrictEqual(allowed);
      expect(await store.rules.get('r1')).not.toHaveProperty('reason');
      expect(await store.rules.list()).toStrictEqual([allowed]);
      expect(await store.rules.get('r2')).toBeUndefined();
    });

    test('allow false and a reason round-trip', async () => {
      const deny = rule('r1', { allow: false, reason: 'contractors may not send mail' });
      await store.rules.put(deny);
      expect(await store.rules.get('r1')).toStrictEqual(deny);
    });

    test('put of an existing id replaces it, dropping a reason the new rule lacks', async () => {
      await store.rules.put(rule('r1', { allow: false, reason: 'no' }));
      const replacement = rule('r1', { subject: 'bob', service: 'nntp', allow: true, createdAt: T + 1, updatedAt: T + 2 });
      await store.rules.put(replacement);
      expect(await store.rules.get('r1')).toStrictEqual(replacement);
      expect(await store.rules.list()).toHaveLength(1);
    });

    test('list is ordered by createdAt, then id', async () => {
      await store.rules.put(rule('c', { createdAt: T + 2 }));
      await store.rules.put(rule('b', { createdAt: T + 1 }));
      await store.rules.put(rule('a', { createdAt: T + 2 }));
      await store.rules.put(rule('z', { createdAt: T }));
      expect((await store.rules.list()).map((listed) => listed.id)).toEqual(['z', 'b', 'a', 'c']);
    });

    test('remove deletes and says whether there was a rule', async () => {
      await store.rules.put(rule('r1'));
      expect(await store.rules.remove('r1')).toBe(true);
      expect(await store.rules.remove('r1')).toBe(false);
      expect(await store.rules.get('r1')).toBeUndefined();
      expect(await store.rules.list()).toEqual([]);
    });
  });
}

/** Registered servers. */
function registrationsContract(context: ContractContext): void {
  describe('registrations', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('put stores entries; expiresAt is absent when not set and kept when set', async () => {
      const admin = registration('admin:1');
      const registered = registration('registered:1', {
        origin: 'registered',
        service: 'pop3',
        host: 'pop.example.org',
        port: 110,
        priority: 0,
        expiresAt: T + 30_000,
      });
      await store.registrations.put(admin);
      await store.registrations.put(registered);
      const listed = byId(await store.registrations.list());
      expect(listed).toStrictEqual([admin, registered]);
      expect(listed[0]).not.toHaveProperty('expiresAt');
    });

    test('put of an existing id replaces it, and can drop expiresAt', async () => {
      await store.registrations.put(registration('r', { origin: 'registered', expiresAt: T }));
      const replacement = registration('r', { host: 'mx2.example.org', port: 587, priority: 5 });
      await store.registrations.put(replacement);
      expect(await store.registrations.list()).toStrictEqual([replacement]);
    });

    test('remove deletes and says whether there was an entry', async () => {
      await store.registrations.put(registration('a'));
      await store.registrations.put(registration('b'));
      expect(await store.registrations.remove('a')).toBe(true);
      expect(await store.registrations.remove('a')).toBe(false);
      expect(await store.registrations.list()).toStrictEqual([registration('b')]);
    });
  });
}
