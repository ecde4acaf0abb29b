import type { User } from '../../plugin/directory';
import { hashToken, LeaseManager, normalizeAddress, type LeaseEnd } from '../../plugin/lease-manager';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import type { LeaseRecord } from '../../store/store';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';

const T = 1_700_000_000_000;
const TTL_SECONDS = 3600;
const TTL_MS = TTL_SECONDS * 1000;
const alice: User = { id: 'alice', attributes: { department: 'sales' } };
const bob: User = { id: 'bob', attributes: { department: 'it' } };

let clock: ManualClock;
let store: SqliteStore;
const managers: LeaseManager[] = [];
/** A manager on the shared store and clock, closed after the test. */
function manager(ttlSeconds = TTL_SECONDS): LeaseManager {
  const created = new LeaseManager(store, ttlSeconds, clock);
  managers.push(created);
  return created;
}
/** Records every lease end a manager announces. */
function endsOf(leases: LeaseManager): Array<[string, LeaseEnd]> {
  const ends: Array<[string, LeaseEnd]> = [];
  leases.onEnd((lease, why) => ends.push([lease.id, why]));
  return ends;
}

beforeEach(() => {
  clock = new ManualClock(T);
  store = openSqliteStore(':memory:');
});
afterEach(async () => {
  for (const created of managers.splice(0)) created.close();
  await store.close();
});

describe('normalizeAddress', () => {
  test.each<[string | undefined, string]>([
    [undefined, ''],
    ['', ''],
    ['127.0.0.2', '127.0.0.2'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['::1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['::ffff:7f00:2', '::ffff:7f00:2'],
    ['::ffff:1.2.3.4.5', '::ffff:1.2.3.4.5'],
    ['::ffff:', '::ffff:'],
    ['x::ffff:1.2.3.4', 'x::ffff:1.2.3.4'],
  ])('%j -> %j', (address, expected) => {
    expect(normalizeAddress(address)).toBe(expected);
  });
});

describe('hashToken', () => {
  test('is the hex SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('LeaseManager.issue', () => {
  test('returns a 43-character base64url token and a lease lasting the TTL from now', async () => {
    const { token, lease } = await manager().issue(alice, '::ffff:192.0.2.7');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(lease).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tokenHash: hashToken(token),
      userId: 'alice',
      attributes: { department: 'sales' },
      address: '192.0.2.7',
      issuedAt: T,
      expiresAt: T + TTL_MS,
    });
  });

  test('every lease gets its own id and token', async () => {
    const leases = manager();
    const [first, second] = await Promise.all([leases.issue(alice, '192.0.2.7'), leases.issue(alice, '192.0.2.7')]);
    expect(first.token).not.toBe(second.token);
    expect(first.lease.id).not.toBe(second.lease.id);
  });

  test('the store keeps the token hash, never the token', async () => {
    const { token, lease } = await manager().issue(alice, '192.0.2.7');
    const stored = await store.leases.get(lease.id);
    expect(stored?.tokenHash).toBe(hashToken(token));
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(await store.leases.getByTokenHash(hashToken(token))).toEqual(lease);
  });

  test('a record read back from the store has exactly the fields of the lease issued', async () => {
    const { lease } = await manager().issue(alice, '192.0.2.7');
    const stored = (await store.leases.get(lease.id)) as LeaseRecord;
    expect(Object.keys(stored).sort()).toEqual(['address', 'attributes', 'expiresAt', 'id', 'issuedAt', 'tokenHash', 'userId']);
  });

  test('the lease keeps a copy of the attributes, not the user object', async () => {
    const user: User = { id: 'alice', attributes: { department: 'sales' } };
    const { lease } = await manager().issue(user, '192.0.2.7');
    (user.attributes as Record<string, string>).department = 'it';
    expect(lease.attributes).toEqual({ department: 'sales' });
  });

  test('the TTL is the one the manager was made with', async () => {
    const { lease } = await manager(60).issue(alice, '192.0.2.7');
    expect(lease.expiresAt - lease.issuedAt).toBe(60_000);
  });
});

describe('LeaseManager.issue while the store writes', () => {
  test('the lease is listed from the moment issue() starts (a home lease it stands on is not released under it)', async () => {
    const leases = manager();
    const issuing = leases.issue(
      { ...alice, home: { realm: 'home.example', username: 'alice', token: 'home-token', expiresAt: T + TTL_MS, services: [] } },
      '127.0.0.2',
    );
    expect(leases.list().map((lease) => lease.home?.token)).toEqual(['home-token']);
    await issuing;
    expect(leases.list()).toHaveLength(1);
  });

  test('a lease whose write fails is forgotten, and the failure reaches the caller', async () => {
    const leases = manager();
    jest.spyOn(store.leases, 'create').mockRejectedValueOnce(new Error('disk full'));
    await expect(leases.issue(alice, '127.0.0.2')).rejects.toThrow('disk full');
    expect(leases.list()).toEqual([]);
    expect(leases.findByAddress('127.0.0.2')).toBeUndefined();
  });
});

describe('LeaseManager lookups', () => {
  test('findByToken finds the lease of its token only', async () => {
    const leases = manager();
    const a = await leases.issue(alice, '192.0.2.7');
    const b = await leases.issue(bob, '192.0.2.8');
    expect(leases.findByToken(a.token)?.id).toBe(a.lease.id);
    expect(leases.findByToken(b.token)?.id).toBe(b.lease.id);
    expect(leases.findByToken('')).toBeUndefined();
    expect(leases.findByToken(a.lease.tokenHash)).toBeUndefined();
    expect(leases.findByToken(a.token.slice(0, -1))).toBeUndefined();
  });

  test.each([
    ['the same address', '127.0.0.2', '127.0.0.2'],
    ['an IPv4-mapped lookup of a plain login', '127.0.0.2', '::ffff:127.0.0.2'],
    ['a plain lookup of an IPv4-mapped login', '::ffff:127.0.0.2', '127.0.0.2'],
    ['IPv6 in another case', '2001:db8::7', '2001:DB8::7'],
  ])('findByAddress matches %s', async (_name, loginAddress, lookup) => {
    const leases = manager();
    const { lease } = await leases.issue(alice, loginAddress);
    expect(leases.findByAddress(lookup)?.id).toBe(lease.id);
  });

  test.each([
    ['another IPv4 address', '127.0.0.20'],
    ['a prefix of the address', '127.0.0.'],
    ['the IPv6 loopback', '::1'],
    ['no address', undefined],
    ['the empty address', ''],
  ])('findByAddress does not match %s', async (_name, lookup) => {
    const leases = manager();
    await leases.issue(alice, '127.0.0.2');
    expect(leases.findByAddress(lookup)).toBeUndefined();
  });

  test('findByAddress: the newest lease for an address wins, whatever the order of issue', async () => {
    const leases = manager();
    const first = await leases.issue(alice, '192.0.2.7');
    clock.advance(1000);
    const second = await leases.issue(bob, '192.0.2.7');
    clock.advance(1000);
    await leases.issue(alice, '192.0.2.99');
    expect(leases.findByAddress('192.0.2.7')?.userId).toBe('bob');
    // When the newest ends, the older lease for the address is the one in force again.
    await leases.revoke(second.lease.id);
    expect(leases.findByAddress('192.0.2.7')?.id).toBe(first.lease.id);
  });

  test('get and list: live leases only, list newest first', async () => {
    const leases = manager();
    const a = await leases.issue(alice, '192.0.2.7');
    clock.advance(10);
    const b = await leases.issue(bob, '192.0.2.8');
    clock.advance(10);
    const c = await leases.issue(bob, '192.0.2.9');
    await leases.revoke(b.lease.id);
    expect(leases.get(a.lease.id)?.userId).toBe('alice');
    expect(leases.get(b.lease.id)).toBeUndefined();
    expect(leases.get('no-such-id')).toBeUndefined();
    expect(leases.list().map((lease) => lease.id)).toEqual([c.lease.id, a.lease.id]);
  });
});

describe('LeaseManager expiry', () => {
  test('lookups fail from the moment the clock reaches expiresAt, before any sweep', async () => {
    const leases = manager();
    const { token, lease } = await leases.issue(alice, '192.0.2.7');
    clock.set(lease.expiresAt - 1);
    expect(leases.findByToken(token)?.id).toBe(lease.id);
    expect(leases.findByAddress('192.0.2.7')?.id).toBe(lease.id);
    clock.set(lease.expiresAt);
    expect(leases.findByToken(token)).toBeUndefined();
    expect(leases.findByAddress('192.0.2.7')).toBeUndefined();
    expect(leases.get(lease.id)).toBeUndefined();
    expect(leases.list()).toEqual([]);
  });

  test("sweep() announces 'expired' exactly once per expired lease, and leaves live ones alone", async () => {
    const leases = manager();
    const ends = endsOf(leases);
    const old = await leases.issue(alice, '192.0.2.7');
    clock.advance(TTL_MS / 2);
    const young = await leases.issue(bob, '192.0.2.8');
    expect(leases.sweep()).toBe(0);
    clock.set(old.lease.expiresAt + 1);
    expect(leases.sweep()).toBe(1);
    expect(leases.sweep()).toBe(0);
    expect(ends).toEqual([[old.lease.id, 'expired']]);
    expect(leases.findByToken(young.token)?.id).toBe(young.lease.id);
    clock.set(young.lease.expiresAt);
    expect(leases.sweep()).toBe(1);
    expect(ends).toEqual([
      [old.lease.id, 'expired'],
      [young.lease.id, 'expired'],
    ]);
  });

  test("a revoked lease is not announced again as 'expired' when its time runs out", async () => {
    const leases = manager();
    const ends = endsOf(leases);
    const { lease } = await leases.issue(alice, '192.0.2.7');
    await leases.revoke(lease.id);
    clock.set(lease.expiresAt + 1);
    expect(leases.sweep()).toBe(0);
    expect(ends).toEqual([[lease.id, 'revoked']]);
  });

  test('an unsubscribed listener hears nothing', async () => {
    const leases = manager();
    const heard: string[] = [];
    const unsubscribe = leases.onEnd((lease) => heard.push(lease.id));
    const kept = endsOf(leases);
    unsubscribe();
    const { lease } = await leases.issue(alice, '192.0.2.7');
    await leases.revoke(lease.id);
    expect(heard).toEqual([]);
    expect(kept).toEqual([[lease.id, 'revoked']]);
  });
});

describe('LeaseManager.revoke', () => {
  test("ends the lease at once, announces 'revoked' and records revokedAt in the store", async () => {
    const leases = manager();
    const ends = endsOf(leases);
    const { token, lease } = await leases.issue(alice, '192.0.2.7');
    clock.advance(5000);
    expect(await leases.revoke(lease.id)).toBe(true);
    expect(ends).toEqual([[lease.id, 'revoked']]);
    expect(leases.findByToken(token)).toBeUndefined();
    expect(leases.findByAddress('192.0.2.7')).toBeUndefined();
    expect(leases.get(lease.id)).toBeUndefined();
    expect((await store.leases.get(lease.id))?.revokedAt).toBe(T + 5000);
    expect(await store.leases.listLive(clock.now())).toEqual([]);
  });

  test('false, and no announcement, for an unknown, already revoked or expired lease', async () => {
    const leases = manager();
    const ends = endsOf(leases);
    const revoked = await leases.issue(alice, '192.0.2.7');
    const expiring = await leases.issue(bob, '192.0.2.8');
    await leases.revoke(revoked.lease.id);
    ends.length = 0;
    clock.set(expiring.lease.expiresAt);
    expect(await leases.revoke('no-such-id')).toBe(false);
    expect(await leases.revoke(revoked.lease.id)).toBe(false);
    expect(await leases.revoke(expiring.lease.id)).toBe(false);
    expect(ends).toEqual([]);
    expect((await store.leases.get(expiring.lease.id))?.revokedAt).toBeUndefined();
  });

  test('revoking one lease leaves the others working', async () => {
    const leases = manager();
    const a = await leases.issue(alice, '192.0.2.7');
    const b = await leases.issue(bob, '192.0.2.8');
    await leases.revoke(a.lease.id);
    expect(leases.findByToken(b.token)?.id).toBe(b.lease.id);
  });
});

describe('LeaseManager.renew', () => {
  test('extends by the TTL from now, in memory and in the store', async () => {
    const leases = manager();
    const ends = endsOf(leases);
    const { token, lease } = await leases.issue(alice, '192.0.2.7');
    clock.set(T + TTL_MS - 1000);
    const renewed = await leases.renew(lease.id);
    expect(renewed?.expiresAt).toBe(clock.now() + TTL_MS);
    expect(renewed?.issuedAt).toBe(T);
    expect((await store.leases.get(lease.id))?.expiresAt).toBe(clock.now() + TTL_MS);
    clock.set(T + TTL_MS + 1);
    expect(leases.sweep()).toBe(0);
    expect(leases.findByToken(token)?.id).toBe(lease.id);
    expect(ends).toEqual([]);
  });

  test('undefined for an unknown, revoked or expired lease, and the store is left alone', async () => {
    const leases = manager();
    const revoked = await leases.issue(alice, '192.0.2.7');
    const expired = await leases.issue(bob, '192.0.2.8');
    await leases.revoke(revoked.lease.id);
    clock.set(expired.lease.expiresAt);
    expect(await leases.renew('no-such-id')).toBeUndefined();
    expect(await leases.renew(revoked.lease.id)).toBeUndefined();
    expect(await leases.renew(expired.lease.id)).toBeUndefined();
    expect((await store.leases.get(expired.lease.id))?.expiresAt).toBe(T + TTL_MS);
    expect(leases.findByToken(expired.token)).toBeUndefined();
  });

  test('undefined when the store no longer has the lease live (revoked elsewhere)', async () => {
    const leases = manager();
    const { lease } = await leases.issue(alice, '192.0.2.7');
    await store.leases.revoke(lease.id, clock.now());
    expect(await leases.renew(lease.id)).toBeUndefined();
    expect(leases.get(lease.id)?.expiresAt).toBe(T + TTL_MS);
  });
});

describe('LeaseManager.load (a restart)', () => {
  test('a second manager on the same store finds the live lease, not the revoked or expired ones', async () => {
    const before = manager();
    const expired = await before.issue(alice, '192.0.2.1');
    clock.advance(1000 * 1000);
    const live = await before.issue(alice, '::ffff:192.0.2.7');
    const revoked = await before.issue(bob, '192.0.2.8');
    await before.revoke(revoked.lease.id);
    clock.set(expired.lease.expiresAt + 1);
    before.close();

    const after = manager();
    await after.load();
    expect(after.findByToken(live.token)).toEqual(live.lease);
    expect(after.findByAddress('192.0.2.7')?.id).toBe(live.lease.id);
    expect(after.findByAddress('::ffff:192.0.2.7')?.id).toBe(live.lease.id);
    expect(after.findByToken(revoked.token)).toBeUndefined();
    expect(after.findByAddress('192.0.2.8')).toBeUndefined();
    expect(after.findByToken(expired.token)).toBeUndefined();
    expect(after.findByAddress('192.0.2.1')).toBeUndefined();
    expect(after.list().map((lease) => lease.id)).toEqual([live.lease.id]);
  });

  test('leases loaded after a restart expire, renew and revoke like new ones', async () => {
    const before = manager();
    const a = await before.issue(alice, '192.0.2.7');
    const b = await before.issue(bob, '192.0.2.8');
    const c = await before.issue(bob, '192.0.2.9');

    const after = manager();
    const ends = endsOf(after);
    await after.load();
    expect(await after.revoke(a.lease.id)).toBe(true);
    clock.set(T + TTL_MS - 1);
    expect((await after.renew(b.lease.id))?.expiresAt).toBe(clock.now() + TTL_MS);
    clock.set(T + TTL_MS);
    expect(after.sweep()).toBe(1);
    expect(ends).toEqual([
      [a.lease.id, 'revoked'],
      [c.lease.id, 'expired'],
    ]);
    expect((await store.leases.get(a.lease.id))?.revokedAt).toBe(T);
    expect((await store.leases.get(b.lease.id))?.expiresAt).toBe(T + 2 * TTL_MS - 1);
    expect(after.findByToken(b.token)?.id).toBe(b.lease.id);
  });

  test('load() starts a sweeper that close() ends', async () => {
    jest.useFakeTimers(TIMERS_ONLY);
    try {
      const leases = manager();
      const ends = endsOf(leases);
      await leases.load();
      const { lease } = await leases.issue(alice, '192.0.2.7');
      clock.set(lease.expiresAt);
      jest.advanceTimersByTime(1000);
      expect(ends).toEqual([[lease.id, 'expired']]);
      leases.close();
      const other = await leases.issue(bob, '192.0.2.8');
      clock.set(other.lease.expiresAt);
      jest.advanceTimersByTime(10_000);
      expect(ends).toHaveLength(1);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('LeaseManager with a failing store', () => {
  test('issue rejects and keeps nothing when the store cannot write', async () => {
    const leases = manager();
    await store.close();
    await expect(leases.issue(alice, '192.0.2.7')).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
    expect(leases.findByAddress('192.0.2.7')).toBeUndefined();
    expect(leases.list()).toEqual([]);
  });

  // BUG (plugin/lease-manager.ts revoke, lines 117-120): revoke forgets the lease in memory before the
  // store write; when that write fails, revoke rejects (the admin API answers 500) but the lease has
  // already stopped working in memory, its listeners are never told (so its open relays stay open),
  // and the store still has it live, so the next restart brings it back. Memory and store disagree.
  test('a revoke the store fails to record either leaves the lease live or tells its listeners', async () => {
    const leases = manager();
    const ends = endsOf(leases);
    const { token, lease } = await leases.issue(alice, '192.0.2.7');
    await store.close();
    await expect(leases.revoke(lease.id)).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
    const stillLive = leases.findByToken(token) !== undefined;
    expect({ stillLive, told: ends.length === 1 }).not.toEqual({ stillLive: false, told: false });
  });
});

describe('LeaseManager.purgeEnded', () => {
  test('deletes from the store leases ended longer ago than the retention, and only those', async () => {
    const leases = manager();
    await leases.load();
    const revoked = (await leases.issue(alice, '127.0.0.2')).lease;
    await leases.revoke(revoked.id);
    const expiring = (await leases.issue(bob, '127.0.0.3')).lease;
    clock.set(T + 10);
    const live = (await leases.issue(alice, '127.0.0.4')).lease;
    const retention = 2 * TTL_MS;
    // Nothing has been over for the whole retention yet.
    clock.set(T + retention);
    expect(await leases.purgeEnded(retention)).toBe(0);
    // The revoked lease (ended at T) is; the expired one (ended at T + TTL) is not, nor the live one.
    clock.set(T + retention + 1);
    expect(await leases.purgeEnded(retention)).toBe(1);
    expect(await store.leases.get(revoked.id)).toBeUndefined();
    expect(await store.leases.get(expiring.id)).toBeDefined();
    expect(await store.leases.get(live.id)).toBeDefined();
    clock.set(T + TTL_MS + retention + 1);
    expect(await leases.purgeEnded(retention)).toBe(1);
    expect(await store.leases.get(expiring.id)).toBeUndefined();
  });
});

describe('LeaseManager.refresh and reloadAll: what another process did to a lease', () => {
  test('a lease issued by another manager on the store becomes known; renewed there, its expiry follows; revoked there, it ends here as revoked', async () => {
    const there = manager();
    const here = manager();
    const ends = endsOf(here);
    const { token, lease } = await there.issue(alice, '10.0.0.1');
    expect(here.findByToken(token)).toBeUndefined();
    await here.refresh(lease.id);
    expect(here.findByToken(token)?.id).toBe(lease.id);
    expect(here.findByAddress('10.0.0.1')?.id).toBe(lease.id);
    clock.advance(1000);
    await there.renew(lease.id);
    await here.refresh(lease.id);
    expect(here.get(lease.id)?.expiresAt).toBe(T + 1000 + TTL_MS);
    expect(await there.revoke(lease.id)).toBe(true);
    await here.refresh(lease.id);
    expect(here.findByToken(token)).toBeUndefined();
    expect(ends).toEqual([[lease.id, 'revoked']]);
    // Revoking it here as well changes nothing: the store says it was revoked already.
    expect(await here.revoke(lease.id)).toBe(false);
  });

  test('a lease deleted from the store ends here as revoked; an unknown id that is not live changes nothing', async () => {
    const here = manager();
    const ends = endsOf(here);
    const { lease } = await here.issue(bob, '10.0.0.2');
    await here.refresh('no-such-lease');
    expect(ends).toEqual([]);
    await store.leases.revoke(lease.id, T);
    await store.leases.purge(T + 1);
    await here.refresh(lease.id);
    expect(ends).toEqual([[lease.id, 'revoked']]);
  });

  test('revoking a lease another process revoked first ends it here but says it was not this call that revoked it', async () => {
    const there = manager();
    const here = manager();
    const ends = endsOf(here);
    const { lease } = await there.issue(alice, '10.0.0.3');
    await here.refresh(lease.id);
    await there.revoke(lease.id);
    expect(await here.revoke(lease.id)).toBe(false);
    expect(ends).toEqual([[lease.id, 'revoked']]);
  });

  test('reloadAll takes in every live lease and ends the ones gone', async () => {
    const there = manager();
    const here = manager();
    const ends = endsOf(here);
    const first = await there.issue(alice, '10.0.0.4');
    await here.reloadAll();
    expect(here.list().map((lease) => lease.id)).toEqual([first.lease.id]);
    const second = await there.issue(bob, '10.0.0.5');
    await there.revoke(first.lease.id);
    await here.reloadAll();
    expect(here.list().map((lease) => lease.id)).toEqual([second.lease.id]);
    expect(ends).toEqual([[first.lease.id, 'revoked']]);
  });
});
