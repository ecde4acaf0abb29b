import Database from 'better-sqlite3';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoamgateError } from '../../errors';
import { openSqliteStore, SqliteStore } from '../../store/sqlite-store';
import { isStoreUnavailable, type StoreHealth, type UserRecord } from '../../store/store';
import { until } from '../helpers/until';
import { IMMUTABLE_FLAG_WORKS, makeImmutable, makeUnwritable, UNWRITABLE_BY } from '../helpers/unwritable';

const directory = mkdtempSync(join(tmpdir(), 'roamgate-file-watch-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let count = 0;
/** A path in a directory of its own, which no test has used yet. */
function freshPath(): string {
  const own = join(directory, `case-${++count}`);
  mkdirSync(own);
  return join(own, 'store.db');
}

const T = 1_700_000_000_000;
const alice: UserRecord = { id: 'alice', passwordHash: 'scrypt$x', attributes: {}, disabled: false, createdAt: T, updatedAt: T };

/** Opens a store on a fresh file with alice in it, recording every health change it announces. */
async function openWatched(checkIntervalMs = 60_000) {
  const path = freshPath();
  const store = openSqliteStore(path, { checkIntervalMs });
  const changes: StoreHealth[] = [];
  store.onHealthChange((health) => changes.push(health));
  await store.users.put(alice);
  return { path, store, changes };
}

/** What `promise` rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
}

/** Asserts that a call was refused as the store being unusable, a temporary source failure. */
async function expectRefused(promise: Promise<unknown>, problem: string): Promise<void> {
  const error = await rejection(promise);
  expect(isStoreUnavailable(error)).toBe(true);
  expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
  expect(isStoreUnavailable(error) && error.health.problem).toBe(problem);
}

describe('a store on disk finds its files changed under it', () => {
  test('a deleted file is found by the periodic check: not ok, named, every call refused, announced once', async () => {
    const { path, store, changes } = await openWatched(20);
    expect(store.health()).toMatchObject({ ok: true });
    rmSync(path);
    await until(() => !store.health().ok, 'the store to notice its file is gone');
    expect(store.health()).toMatchObject({ ok: false, problem: 'vanished', file: path });
    expect(store.health().reason).toContain(`${path} was deleted or moved`);
    await expectRefused(store.users.get('alice'), 'vanished');
    await expectRefused(store.audit.append({ at: T, type: 'login', detail: {} }), 'vanished');
    // Later checks find the same problem: no new announcement.
    store.checkHealth();
    store.checkHealth();
    expect(changes.map((health) => health.problem)).toEqual(['vanished']);
    await store.close();
  });

  test('a deleted -wal or -shm is a vanished store too', async () => {
    for (const suffix of ['-wal', '-shm']) {
      const { path, store } = await openWatched();
      rmSync(path + suffix);
      expect(store.checkHealth()).toMatchObject({ ok: false, problem: 'vanished', file: path + suffix });
      await store.close();
    }
  });

  test('a file replaced by another is found; the store refuses calls rather than write the old one', async () => {
    const { path, store } = await openWatched();
    writeFileSync(`${path}.other`, '');
    renameSync(`${path}.other`, path);
    expect(store.checkHealth()).toMatchObject({ ok: false, problem: 'replaced', file: path });
    await expectRefused(store.users.put(alice), 'replaced');
    await store.close();
  });

  test('a header overwritten while open is found as corruption', async () => {
    const { path, store } = await openWatched();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(100, 0x41), 0, 100, 0);
    closeSync(fd);
    expect(store.checkHealth()).toMatchObject({ ok: false, problem: 'corrupt', file: path });
    expect(store.health().reason).toContain("no longer starts with SQLite's header");
    await expectRefused(store.users.get('alice'), 'corrupt');
    await store.close();
  });
});

describe('a store on disk that cannot write', () => {
  (UNWRITABLE_BY ? test : test.skip)(
    `a file or directory made unwritable (${UNWRITABLE_BY}) is found; made writable again, the store is usable again and says so`,
    async () => {
      for (const target of ['file', 'directory'] as const) {
        const { path, store, changes } = await openWatched();
        const unwritable = target === 'file' ? path : join(path, '..');
        const undo = makeUnwritable(unwritable);
        try {
          expect(store.checkHealth()).toMatchObject({ ok: false, problem: 'unwritable', file: unwritable });
          expect(store.health().reason).toMatch(/not writable by this process \((EACCES|EPERM)\)/);
          await expectRefused(store.users.get('alice'), 'unwritable');
        } finally {
          undo();
        }
        expect(store.checkHealth()).toMatchObject({ ok: true });
        expect(await store.users.get('alice')).toEqual(alice);
        expect(changes.map((health) => health.ok)).toEqual([false, true]);
        await store.close();
      }
    },
  );

  test('a write that fails (the database full) marks the store unusable with the reason; once writes go through it is usable again', async () => {
    const path = freshPath();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    const store = new SqliteStore(db, 60_000);
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const big = { ...alice, attributes: { note: 'x'.repeat(64 * 1024) } };
    await expectRefused(store.users.put(big), 'write-failed');
    expect(store.health().reason).toMatch(/SQLITE_FULL.*the disk is full/);
    // Refused without trying, until a check finds that writes go through.
    await expectRefused(store.users.get('alice'), 'write-failed');
    expect(store.checkHealth()).toMatchObject({ ok: true });
    expect(await store.users.get('alice')).toBeUndefined();
    await store.close();
  });
});

describe("a store's -shm, which SQLite maps into memory", () => {
  test('a truncated -shm is given its size back before SQLite touches it: no SIGBUS, nothing lost, the truncation announced', async () => {
    const { path, store, changes } = await openWatched();
    const size = statSync(`${path}-shm`).size;
    truncateSync(`${path}-shm`, 0);
    // Today's store dies here with SIGBUS, taking the process with it.
    expect(await store.users.get('alice')).toEqual(alice);
    await store.users.put({ ...alice, id: 'bob' });
    expect(statSync(`${path}-shm`).size).toBe(size);
    expect(changes.map((health) => health.problem ?? 'ok')).toEqual(['shm-truncated', 'ok']);
    expect(changes[0]!.reason).toContain('was truncated by another program');
    await store.close();
    const reopened = openSqliteStore(path);
    expect((await reopened.users.list()).map((user) => user.id)).toEqual(['alice', 'bob']);
    await reopened.close();
  });

  test('a truncated -shm found first by the periodic check: said, given its size back and usable again in that same check', async () => {
    const { path, store, changes } = await openWatched();
    truncateSync(`${path}-shm`, 0);
    expect(store.checkHealth()).toMatchObject({ ok: true });
    expect(changes.map((health) => health.problem ?? 'ok')).toEqual(['shm-truncated', 'ok']);
    expect(await store.users.get('alice')).toEqual(alice);
    await store.close();
  });

  (IMMUTABLE_FLAG_WORKS ? test : test.skip)(
    'a -shm made immutable is never touched: calls refused; writable again, usable again; close() then leaves the database open',
    async () => {
      const { path, store } = await openWatched();
      let undo = makeImmutable(`${path}-shm`);
      try {
        // Today's store dies here with SIGBUS: SQLite writes its read mark into the mapping.
        await expectRefused(store.users.get('alice'), 'unwritable');
        expect(store.health()).toMatchObject({ ok: false, problem: 'unwritable', file: `${path}-shm` });
        undo();
        expect(store.checkHealth()).toMatchObject({ ok: true });
        expect(await store.users.get('alice')).toEqual(alice);
        undo = makeImmutable(`${path}-shm`);
        // Closing would checkpoint through the mapping: the database is left open, and that is said.
        await store.close();
        expect(store.health().reason).toContain('the database was left open');
      } finally {
        undo();
      }
      const reopened = openSqliteStore(path);
      expect(await reopened.users.get('alice')).toEqual(alice);
      await reopened.close();
    },
  );

  test('a store in memory has no files: always usable', async () => {
    const store = openSqliteStore(':memory:');
    expect(store.checkHealth()).toMatchObject({ ok: true });
    await store.close();
  });
});

describe('a store is checked before it is opened', () => {
  const parts: Array<[string, string]> = [
    ['the file', ''],
    ['its -wal', '-wal'],
    ['its -shm', '-shm'],
    ['its directory', 'directory'],
  ];
  (UNWRITABLE_BY ? test.each(parts) : test.skip.each(parts))(
    'a store when %s cannot be written is refused before SQLite opens it, naming the file and the fix',
    async (_label, which) => {
      const path = freshPath();
      const store = openSqliteStore(path);
      await store.users.put(alice);
      // Left by a process that did not close the store: the -wal and -shm stay.
      const leftBehind = new Database(path);
      leftBehind.prepare('SELECT count(*) FROM users').get();
      await store.close();
      const target = which === 'directory' ? join(path, '..') : path + which;
      const undo = makeUnwritable(target);
      try {
        let error: Error | undefined;
        try {
          await openSqliteStore(path).close();
        } catch (thrown) {
          error = thrown as Error;
        }
        expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
        expect(error?.message).toContain(target);
        expect(error?.message).toMatch(/not writable by this process \((EACCES|EPERM)\).*(chown|chattr)/);
      } finally {
        undo();
        leftBehind.close();
      }
    },
  );

  test('a connection that cannot write is refused when the store is made: a write transaction must go through', async () => {
    const path = freshPath();
    await openSqliteStore(path).close();
    const readOnly = new Database(path, { readonly: true });
    expect(() => new SqliteStore(readOnly)).toThrow(/readonly/);
    readOnly.close();
  });
});
