import type { SessionData } from 'express-session';
import { hashToken } from '../../plugin/lease-manager';
import { ANONYMOUS_SESSION_MAX_AGE_MS, StoredSessions } from '../../plugin/session-store';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import { ManualClock } from '../helpers/clock';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;

/** The callback API of express-session's Store, as a promise. */
function call<R>(body: (done: (error?: unknown, result?: R) => void) => void): Promise<R | undefined> {
  return new Promise((resolve, reject) => body((error, result) => (error ? reject(error) : resolve(result))));
}

const sessionWith = (expires: Date | undefined, extra: Record<string, unknown> = {}) =>
  ({
    cookie: { originalMaxAge: expires ? expires.getTime() - T : null, expires, httpOnly: true, path: '/' },
    ...extra,
  }) as unknown as SessionData;

describe('StoredSessions (express-session store over the roamgate store)', () => {
  let store: SqliteStore;
  let clock: ManualClock;
  let sessions: StoredSessions;
  beforeEach(() => {
    clock = new ManualClock(T);
    store = openSqliteStore(':memory:');
    sessions = new StoredSessions(store, 2 * HOUR, clock);
  });
  afterEach(async () => {
    await store.close();
  });

  test('a session set is got back as it was, until its cookie expires', async () => {
    await call((done) => sessions.set('sid-1', sessionWith(new Date(T + HOUR), { passport: { user: 'alice' }, leaseId: 'l1' }), done));
    const got = await call<SessionData | null>((done) => sessions.get('sid-1', done));
    expect(got).toMatchObject({ passport: { user: 'alice' }, leaseId: 'l1', cookie: { httpOnly: true } });
    clock.set(T + HOUR + 1);
    expect(await call<SessionData | null>((done) => sessions.get('sid-1', done))).toBeNull();
  });

  test('the store keeps a hash of the session id, never the id', async () => {
    await call((done) => sessions.set('sid-secret', sessionWith(new Date(T + HOUR)), done));
    expect(await store.sessions.get('sid-secret', T)).toBeUndefined();
    expect(await store.sessions.get(hashToken('sid-secret'), T)).toBeDefined();
  });

  test('a session nobody logged in with is kept for an hour at most, whatever its cookie says', async () => {
    await call((done) => sessions.set('sid-anon', sessionWith(new Date(T + 8 * HOUR), { csrfToken: 'x' }), done));
    clock.set(T + ANONYMOUS_SESSION_MAX_AGE_MS);
    expect(await call((done) => sessions.get('sid-anon', done))).not.toBeNull();
    clock.set(T + ANONYMOUS_SESSION_MAX_AGE_MS + 1);
    expect(await call((done) => sessions.get('sid-anon', done))).toBeNull();
  });

  test('past maxAnonymous sessions nobody logged in with, the oldest is dropped; logged-in sessions never are', async () => {
    const capped = new StoredSessions(store, 2 * HOUR, clock, 3);
    const set = (sid: string, extra: Record<string, unknown>) =>
      call((done) => capped.set(sid, sessionWith(new Date(T + HOUR), extra), done));
    const present = async (sid: string) => (await call((done) => capped.get(sid, done))) !== null;
    // One page opened, then logged in with: no longer anonymous, so never dropped.
    await set('sid-user', { csrfToken: 'u' });
    await set('sid-user', { csrfToken: 'u', passport: { user: 'alice' } });
    for (const sid of ['sid-a', 'sid-b', 'sid-c']) await set(sid, { csrfToken: sid });
    // Setting a known one again does not count twice.
    await set('sid-a', { csrfToken: 'sid-a2' });
    expect(await Promise.all(['sid-user', 'sid-a', 'sid-b', 'sid-c'].map(present))).toEqual([true, true, true, true]);
    await set('sid-d', { csrfToken: 'sid-d' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await Promise.all(['sid-user', 'sid-a', 'sid-b', 'sid-c', 'sid-d'].map(present))).toEqual([true, false, true, true, true]);
    // A destroyed one frees its place.
    await call((done) => capped.destroy('sid-b', done));
    await set('sid-e', { csrfToken: 'sid-e' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await Promise.all(['sid-user', 'sid-c', 'sid-d', 'sid-e'].map(present))).toEqual([true, true, true, true]);
  });

  test('a cookie with no expiry lives for the default lifetime', async () => {
    await call((done) => sessions.set('sid-2', sessionWith(undefined, { passport: { user: 'alice' } }), done));
    clock.set(T + 2 * HOUR);
    expect(await call((done) => sessions.get('sid-2', done))).not.toBeNull();
    clock.set(T + 2 * HOUR + 1);
    expect(await call((done) => sessions.get('sid-2', done))).toBeNull();
  });

  test('touch moves the expiry; destroy ends the session', async () => {
    await call((done) => sessions.set('sid-3', sessionWith(new Date(T + HOUR), { passport: { user: 'alice' } }), done));
    clock.set(T + HOUR - 1);
    await call((done) => sessions.touch('sid-3', sessionWith(new Date(T + 3 * HOUR), { passport: { user: 'alice' } }), done));
    clock.set(T + 2 * HOUR);
    expect(await call((done) => sessions.get('sid-3', done))).not.toBeNull();
    await call((done) => sessions.destroy('sid-3', done));
    expect(await call((done) => sessions.get('sid-3', done))).toBeNull();
  });

  test('a row that is not JSON reaches the callback as an error', async () => {
    await store.sessions.put(hashToken('sid-bad'), '{not json', T + HOUR);
    await expect(call((done) => sessions.get('sid-bad', done))).rejects.toBeInstanceOf(SyntaxError);
  });

  test('a store that fails reaches the callback as an error', async () => {
    await store.close();
    await expect(call((done) => sessions.get('sid-4', done))).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
    await expect(call((done) => sessions.set('sid-4', sessionWith(undefined), done))).rejects.toMatchObject({
      code: 'ROAMGATE_SHUTTING_DOWN',
    });
  });
});
