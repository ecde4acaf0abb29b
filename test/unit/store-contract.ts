import fc from 'fast-check';
import { isRoamgateError, type RoamgateErrorCode } from '../../errors';
import type { AuditEvent, LeaseRecord, RegistrationRecord, RuleRecord, Store, UserRecord } from '../../store/store';

/**
 * The behaviour every Store backend must have. A backend's test file calls
 * this once per way of opening it:
 *
 *   storeContract('SqliteStore :memory:', async () => openSqliteStore(':memory:'));
 *
 * `open` must return a fresh, empty store each time; each test gets its own
 * and closes it. `cleanup`, if given, runs after each test once its store is
 * closed (delete a temporary file, flush a Redis database).
 */
export function storeContract(name: string, open: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let store: Store;
    let closedByTest = false;

    beforeEach(async () => {
      closedByTest = false;
      store = await open();
    });
    afterEach(async () => {
      if (!closedByTest) await store.close();
      await cleanup?.();
    });

    /** Asserts that `promise` rejects with a RoamgateError with this code. */
    async function expectRoamgateError(promise: Promise<unknown>, code: RoamgateErrorCode): Promise<void> {
      const error = await promise.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(isRoamgateError(error)).toBe(true);
      expect(isRoamgateError(error) && error.code).toBe(code);
    }

    const T = 1_700_000_000_000;

    const alice: UserRecord = {
      id: 'alice',
      passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
      attributes: { department: 'sales', realm: 'home.example' },
      disabled: false,
      createdAt: T,
      updatedAt: T,
    };

    function lease(id: string, fields: Partial<LeaseRecord> = {}): LeaseRecord {
      return {
        id,
        tokenHash: `hash-of-${id}`,
        userId: 'alice',
        attributes: { department: 'sales' },
        address: '192.0.2.7',
        issuedAt: T,
        expiresAt: T + 60_000,
        ...fields,
      };
    }

    function rule(id: string, fields: Partial<RuleRecord> = {}): RuleRecord {
      return { id, subject: 'department=sales', service: 'smtp', allow: true, createdAt: T, updatedAt: T, ...fields };
    }

    function registration(id: string, fields: Partial<RegistrationRecord> = {}): RegistrationRecord {
      return { id, origin: 'admin', service: 'smtp', host: 'mx.example.org', port: 25, priority: 10, ...fields };
    }

    const byId = <R extends { id: string }>(records: R[]): R[] => [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

    describe('users', () => {
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

    describe('leases', () => {
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

      test('create with a token hash already in use rejects and leaves the first lease alone', async () => {
        await store.leases.create(lease('l1'));
        await expectRoamgateError(
          store.leases.create(lease('l2', { tokenHash: 'hash-of-l1', userId: 'mallory' })),
          'ROAMGATE_SOURCE_FAILED',
        );
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

    describe('rules', () => {
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

    describe('registrations', () => {
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

    describe('sessions', () => {
      test('put then get returns the data until its expiry, included; after it, nothing', async () => {
        await store.sessions.put('h1', '{"a":1}', T + 100);
        expect(await store.sessions.get('h1', T)).toBe('{"a":1}');
        expect(await store.sessions.get('h1', T + 100)).toBe('{"a":1}');
        expect(await store.sessions.get('h1', T + 101)).toBeUndefined();
        expect(await store.sessions.get('unknown', T)).toBeUndefined();
      });

      test('put of an existing id replaces data and expiry', async () => {
        await store.sessions.put('h1', '{"a":1}', T + 100);
        await store.sessions.put('h1', '{"a":2}', T + 500);
        expect(await store.sessions.get('h1', T + 300)).toBe('{"a":2}');
      });

      test('touch moves the expiry of a live session only', async () => {
        await store.sessions.put('h1', '{}', T + 100);
        expect(await store.sessions.touch('h1', T + 1000, T + 50)).toBe(true);
        expect(await store.sessions.get('h1', T + 900)).toBe('{}');
        expect(await store.sessions.touch('h1', T + 5000, T + 1001)).toBe(false);
        expect(await store.sessions.get('h1', T + 1002)).toBeUndefined();
        expect(await store.sessions.touch('unknown', T + 5000, T)).toBe(false);
      });

      test('remove says whether there was a session; purge deletes those expired before the time given', async () => {
        await store.sessions.put('old', '{}', T + 10);
        await store.sessions.put('new', '{}', T + 1000);
        expect(await store.sessions.purge(T + 11)).toBe(1);
        expect(await store.sessions.get('new', T + 11)).toBe('{}');
        expect(await store.sessions.remove('new')).toBe(true);
        expect(await store.sessions.remove('new')).toBe(false);
        expect(await store.sessions.purge(T + 5000)).toBe(0);
      });
    });

    describe('nonces', () => {
      const admit = (peer: string, nonce: string, forgetAt: number, now: number, max = 10) =>
        store.nonces.admit(peer, nonce, forgetAt, now, max);

      test('a nonce is admitted once per peer while it is remembered, through its forgetAt itself', async () => {
        expect(await admit('a.example', 'n1', T + 100, T)).toBe('admitted');
        expect(await admit('a.example', 'n1', T + 200, T + 50)).toBe('replayed');
        expect(await admit('a.example', 'n1', T + 200, T + 100)).toBe('replayed');
        expect(await admit('b.example', 'n1', T + 100, T)).toBe('admitted');
        expect(await admit('a.example', 'n2', T + 100, T)).toBe('admitted');
      });

      test('after its forgetAt a nonce is forgotten and admitted again', async () => {
        expect(await admit('a.example', 'n1', T + 100, T)).toBe('admitted');
        expect(await admit('a.example', 'n1', T + 300, T + 101)).toBe('admitted');
      });

      test("full: a peer at its limit gets 'full' and nothing is recorded; other peers are not affected; a replay is still a replay", async () => {
        expect(await admit('a.example', 'n1', T + 100, T, 2)).toBe('admitted');
        expect(await admit('a.example', 'n2', T + 100, T, 2)).toBe('admitted');
        expect(await admit('a.example', 'n3', T + 100, T, 2)).toBe('full');
        expect(await admit('a.example', 'n1', T + 100, T, 2)).toBe('replayed');
        expect(await admit('b.example', 'n3', T + 100, T, 2)).toBe('admitted');
        // Once the old ones are forgotten there is room, and the refused nonce was never recorded.
        expect(await admit('a.example', 'n3', T + 300, T + 101, 2)).toBe('admitted');
        expect(await admit('a.example', 'n3', T + 300, T + 102, 2)).toBe('replayed');
      });

      test('property: the verdicts are those of a model that forgets what is past its forgetAt', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.record({
                peer: fc.constantFrom('a', 'b'),
                nonce: fc.constantFrom('n1', 'n2', 'n3'),
                step: fc.integer({ min: 0, max: 40 }),
                keep: fc.integer({ min: 0, max: 100 }),
              }),
              { maxLength: 30 },
            ),
            async (requests) => {
              const fresh = await open();
              try {
                const model = new Map<string, Map<string, number>>();
                let now = T;
                for (const { peer, nonce, step, keep } of requests) {
                  now += step;
                  for (const nonces of model.values()) for (const [key, forgetAt] of nonces) if (forgetAt < now) nonces.delete(key);
                  const nonces = model.get(peer) ?? new Map<string, number>();
                  model.set(peer, nonces);
                  const expected = nonces.has(nonce) ? 'replayed' : nonces.size >= 2 ? 'full' : 'admitted';
                  if (expected === 'admitted') nonces.set(nonce, now + keep);
                  expect(await fresh.nonces.admit(peer, nonce, now + keep, now, 2)).toBe(expected);
                }
              } finally {
                await fresh.close();
              }
            },
          ),
          { numRuns: 50 },
        );
      });

      test('admit after close rejects with ROAMGATE_SHUTTING_DOWN', async () => {
        await store.close();
        closedByTest = true;
        await expectRoamgateError(admit('a.example', 'n1', T + 100, T), 'ROAMGATE_SHUTTING_DOWN');
      });
    });

    describe('audit', () => {
      test('appendMany writes a batch in order, with increasing ids', async () => {
        await store.audit.append({ at: T, type: 'first', detail: {} });
        await store.audit.appendMany([
          { at: T + 1, type: 'connection', actor: 'alice', detail: { n: 1 } },
          { at: T + 2, type: 'connection', address: '127.0.0.1', detail: { n: 2 } },
        ]);
        await store.audit.appendMany([]);
        const events = await store.audit.list();
        expect(events.map((event) => event.type)).toEqual(['connection', 'connection', 'first']);
        expect(events[0]).toMatchObject({ at: T + 2, address: '127.0.0.1', detail: { n: 2 } });
        expect(events[1]).toMatchObject({ at: T + 1, actor: 'alice', detail: { n: 1 } });
        expect(events[0].id).toBeGreaterThan(events[1].id);
        expect(events[1].id).toBeGreaterThan(events[2].id);
      });

      /** Appends `count` events of alternating types; returns them as stored. */
      async function appendMany(count: number): Promise<AuditEvent[]> {
        const appended: AuditEvent[] = [];
        for (let i = 0; i < count; i++)
          appended.push(await store.audit.append({ at: T + i, type: i % 2 === 0 ? 'login' : 'connection', detail: { i } }));
        return appended;
      }

      test('append returns the event with an integer id; optional fields stay absent', async () => {
        const bare = await store.audit.append({ at: T, type: 'login', detail: {} });
        expect(Number.isInteger(bare.id)).toBe(true);
        expect(bare).toStrictEqual({ id: bare.id, at: T, type: 'login', detail: {} });
        const full = await store.audit.append({
          at: T + 1,
          type: 'connection',
          actor: 'alice',
          address: '192.0.2.7',
          detail: { service: 'smtp', bytes: [10, 20], server: { host: 'mx', port: 25 }, ok: true, note: null },
        });
        expect(full).toStrictEqual({
          id: full.id,
          at: T + 1,
          type: 'connection',
          actor: 'alice',
          address: '192.0.2.7',
          detail: { service: 'smtp', bytes: [10, 20], server: { host: 'mx', port: 25 }, ok: true, note: null },
        });
        expect(await store.audit.list()).toStrictEqual([full, bare]);
      });

      test('ids increase with every append', async () => {
        const ids = (await appendMany(5)).map((event) => event.id);
        for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!);
      });

      test('list of an empty trail is empty', async () => {
        expect(await store.audit.list()).toEqual([]);
        expect(await store.audit.list({ type: 'login', beforeId: 10, limit: 5 })).toEqual([]);
      });

      test('list is newest first, 100 by default', async () => {
        const appended = await appendMany(105);
        const listed = await store.audit.list();
        expect(listed).toHaveLength(100);
        expect(listed).toStrictEqual(appended.slice(5).reverse());
      });

      test('limit asks for fewer; more than 1000 gives 1000', async () => {
        const appended = await appendMany(1001);
        expect(await store.audit.list({ limit: 3 })).toStrictEqual(appended.slice(-3).reverse());
        const capped = await store.audit.list({ limit: 5000 });
        expect(capped).toHaveLength(1000);
        expect(capped[999]).toStrictEqual(appended[1]);
      });

      test('beforeId pages back through the trail without gaps or repeats', async () => {
        const appended = await appendMany(7);
        const seen: AuditEvent[] = [];
        let page = await store.audit.list({ limit: 3 });
        while (page.length > 0) {
          seen.push(...page);
          page = await store.audit.list({ limit: 3, beforeId: page[page.length - 1]!.id });
        }
        expect(seen).toStrictEqual([...appended].reverse());
      });

      test('type keeps only that type, and combines with beforeId and limit', async () => {
        const appended = await appendMany(9);
        const logins = appended.filter((event) => event.type === 'login').reverse();
        expect(await store.audit.list({ type: 'login' })).toStrictEqual(logins);
        expect(await store.audit.list({ type: 'login', beforeId: logins[1]!.id, limit: 2 })).toStrictEqual(logins.slice(2, 4));
        expect(await store.audit.list({ type: 'nothing' })).toEqual([]);
      });
    });

    test('schemaVersion is a positive integer', async () => {
      const version = await store.schemaVersion();
      expect(Number.isInteger(version)).toBe(true);
      expect(version).toBeGreaterThan(0);
    });

    test('after close, every call rejects with a RoamgateError', async () => {
      await store.users.put(alice);
      await store.close();
      closedByTest = true;
      const calls: Array<Promise<unknown>> = [
        store.users.get('alice'),
        store.users.put(alice),
        store.leases.create(lease('l1')),
        store.leases.listLive(T),
        store.rules.list(),
        store.registrations.put(registration('r')),
        store.audit.append({ at: T, type: 'login', detail: {} }),
        store.audit.list(),
        store.schemaVersion(),
      ];
      for (const call of calls) {
        const error = await call.then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(isRoamgateError(error)).toBe(true);
      }
    });
  });
}
