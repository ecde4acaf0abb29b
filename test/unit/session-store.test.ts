import { hashToken } from '../../plugin/lease-manager';
import { ANONYMOUS_SESSION_MAX_AGE_MS, StoredSessions } from '../../plugin/session-store';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import { ManualClock } from '../helpers/clock';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;
const ALICE = { user: { id: 'alice', attributes: {} } };

describe('StoredSessions (login sessions over the roamgate store)', () => {
  let store: SqliteStore;
  let clock: ManualClock;
  let sessions: StoredSessions;
  beforeEach(() => {
    clock = new ManualClock(T);
    store = openSqliteStore(':memory:');
    sessions = new StoredSessions(store, clock);
  });
  afterEach(async () => {
    await store.close();
  });

  test('a session set is got back as it was, until it expires', async () => {
    await sessions.set('sid-1', { ...ALICE, leaseId: 'l1' }, T + HOUR);
    expect(await sessions.get('sid-1')).toEqual({ ...ALICE, leaseId: 'l1' });
    clock.set(T + HOUR + 1);
    expect(await sessions.get('sid-1')).toBeUndefined();
  });

  test('the store keeps a hash of the session id, never the id', async () => {
    await sessions.set('sid-secret', ALICE, T + HOUR);
    expect(await store.sessions.get('sid-secret', T)).toBeUndefined();
    expect(await store.sessions.get(hashToken('sid-secret'), T)).toBeDefined();
  });

  test('a session nobody logged in with is kept for an hour at most, whatever expiry it was given', async () => {
    await sessions.set('sid-anon', { csrfToken: 'x' }, T + 8 * HOUR);
    clock.set(T + ANONYMOUS_SESSION_MAX_AGE_MS);
    expect(await sessions.get('sid-anon')).toBeDefined();
    clock.set(T + ANONYMOUS_SESSION_MAX_AGE_MS + 1);
    expect(await sessions.get('sid-anon')).toBeUndefined();
  });

  test('past maxAnonymous sessions nobody logged in with, the oldest is dropped; logged-in sessions never are', async () => {
    const capped = new StoredSessions(store, clock, 3);
    const present = async (sid: string) => (await capped.get(sid)) !== undefined;
    // One page opened, then logged in with: no longer anonymous, so never dropped.
    await capped.set('sid-user', { csrfToken: 'u' }, T + HOUR);
    await capped.set('sid-user', { csrfToken: 'u', ...ALICE }, T + HOUR);
    for (const sid of ['sid-a', 'sid-b', 'sid-c']) await capped.set(sid, { csrfToken: sid }, T + HOUR);
    // Setting a known one again does not count twice.
    await capped.set('sid-a', { csrfToken: 'sid-a2' }, T + HOUR);
    expect(await Promise.all(['sid-user', 'sid-a', 'sid-b', 'sid-c'].map(present))).toEqual([true, true, true, true]);
    await capped.set('sid-d', { csrfToken: 'sid-d' }, T + HOUR);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await Promise.all(['sid-user', 'sid-a', 'sid-b', 'sid-c', 'sid-d'].map(present))).toEqual([true, false, true, true, true]);
    // A destroyed one frees its place.
    await capped.destroy('sid-b');
    await capped.set('sid-e', { csrfToken: 'sid-e' }, T + HOUR);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await Promise.all(['sid-user', 'sid-c', 'sid-d', 'sid-e'].map(present))).toEqual([true, true, true, true]);
  });

  test('destroy ends the session', async () => {
    await sessions.set('sid-3', ALICE, T + HOUR);
    await sessions.destroy('sid-3');
    expect(await sessions.get('sid-3')).toBeUndefined();
  });

  test('a row that is not JSON rejects', async () => {
    await store.sessions.put(hashToken('sid-bad'), '{not json', T + HOUR);
    await expect(sessions.get('sid-bad')).rejects.toBeInstanceOf(SyntaxError);
  });
});
