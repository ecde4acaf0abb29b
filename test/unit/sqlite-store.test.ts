import Database from 'better-sqlite3';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { isRoamgateError, RoamgateError } from '../../errors';
import { migrate, MIGRATIONS, SCHEMA_VERSION, type Migration } from '../../store/migrations';
import { openSqliteStore } from '../../store/sqlite-store';
import type { LeaseRecord, RegistrationRecord, RuleRecord, UserRecord } from '../../store/store';
import { storeContract } from './store-contract';

const directory = mkdtempSync(join(tmpdir(), 'roamgate-sqlite-store-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let fileCount = 0;
/** A path no test has used yet. */
const freshPath = (): string => join(directory, `store-${++fileCount}.db`);

/** Removes a database file and the WAL files that may sit beside it. */
function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

/** Runs `body` on a plain better-sqlite3 connection to `path`, closed afterwards. */
function withRawDatabase<T>(path: string, body: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return body(db);
  } finally {
    db.close();
  }
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

/** What `body` threw; fails the test if it returned. */
function thrown(body: () => unknown): unknown {
  try {
    body();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

storeContract('SqliteStore on :memory:', async () => openSqliteStore(':memory:'));

let contractPath = '';
storeContract(
  'SqliteStore on a file',
  async () => openSqliteStore((contractPath = freshPath())),
  async () => removeDatabase(contractPath),
);

const T = 1_700_000_000_000;
const alice: UserRecord = {
  id: 'alice',
  passwordHash: 'scrypt$x',
  attributes: { department: 'sales' },
  disabled: false,
  createdAt: T,
  updatedAt: T,
};
const lease: LeaseRecord = {
  id: 'l1',
  tokenHash: 'h1',
  userId: 'alice',
  attributes: { department: 'sales' },
  address: '192.0.2.7',
  issuedAt: T,
  expiresAt: T + 60_000,
};
const rule: RuleRecord = {
  id: 'r1',
  subject: 'department=sales',
  service: 'smtp',
  allow: false,
  reason: 'not today',
  createdAt: T,
  updatedAt: T,
};
const registration: RegistrationRecord = {
  id: 'registered:1',
  origin: 'registered',
  service: 'smtp',
  host: 'mx.example.org',
  port: 25,
  priority: 10,
  expiresAt: T + 30_000,
};

describe('SqliteStore, SQLite specifics: schema', () => {
  test('migrations are numbered 1, 2, ... with no gaps, and SCHEMA_VERSION is the last', () => {
    expect(MIGRATIONS.map((migration) => migration.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  test('a new file is created at the newest version, in WAL mode, with the indexes the queries rely on', async () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.close();
    withRawDatabase(path, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const objects = db
        .prepare<[], { type: string; name: string }>(
          "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .all();
      expect(objects).toEqual([
        { type: 'index', name: 'audit_at' },
        { type: 'index', name: 'audit_type' },
        { type: 'index', name: 'changes_at' },
        { type: 'index', name: 'failures_at' },
        { type: 'index', name: 'leases_expires_at' },
        { type: 'index', name: 'leases_token_hash' },
        { type: 'index', name: 'peer_nonces_forget' },
        { type: 'index', name: 'rules_created_at' },
        { type: 'index', name: 'sessions_expires_at' },
        { type: 'table', name: 'audit' },
        { type: 'table', name: 'changes' },
        { type: 'table', name: 'failures' },
        { type: 'table', name: 'leases' },
        { type: 'table', name: 'peer_nonces' },
        { type: 'table', name: 'registrations' },
        { type: 'table', name: 'rules' },
        { type: 'table', name: 'sessions' },
        { type: 'table', name: 'users' },
      ]);
      const tokenIndex = db.pragma('index_list(leases)') as Array<{ name: string; unique: number }>;
      expect(tokenIndex.find((index) => index.name === 'leases_token_hash')?.unique).toBe(1);
    });
  });

  test('two stores open on one file (two gateway processes) admit a peer nonce once between them', async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    const second = openSqliteStore(path);
    const T = 1_700_000_000_000;
    const verdicts = await Promise.all(
      [first, second, first, second].map((store) => store.nonces.admit('home.example', 'nonce-0123456789', T + 60_000, T, 10)),
    );
    expect(verdicts.sort()).toEqual(['admitted', 'replayed', 'replayed', 'replayed']);
    await first.close();
    // A restart: the nonce is still remembered.
    const reopened = openSqliteStore(path);
    expect(await reopened.nonces.admit('home.example', 'nonce-0123456789', T + 60_000, T + 1, 10)).toBe('replayed');
    await Promise.all([second.close(), reopened.close()]);
  });

  test('a new store file and its -wal and -shm files are readable by the owner only; an existing file keeps its mode', async () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    await store.users.put(alice);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(statSync(file).mode & 0o777).toBe(0o600);
    await store.close();
    chmodSync(path, 0o640);
    const reopened = openSqliteStore(path);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    await reopened.close();
  });
});

describe('SqliteStore, SQLite specifics: migrations', () => {
  test('an empty file is migrated to the newest version', async () => {
    const path = freshPath();
    writeFileSync(path, '');
    const store = openSqliteStore(path);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.users.put(alice);
    expect(await store.users.get('alice')).toStrictEqual(alice);
    await store.close();
    withRawDatabase(path, (db) => expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION));
  });

  test('an existing version-0 database is migrated and keeps what it had', async () => {
    const path = freshPath();
    withRawDatabase(path, (db) => db.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('kept')"));
    const store = openSqliteStore(path);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.rules.put(rule);
    expect(await store.rules.list()).toStrictEqual([rule]);
    await store.close();
    withRawDatabase(path, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.prepare('SELECT text FROM notes').pluck().all()).toEqual(['kept']);
    });
  });

  test('a database from a newer roamgate is refused, named by version, and left untouched', async () => {
    const path = freshPath();
    const newer = SCHEMA_VERSION + 1;
    withRawDatabase(path, (db) => db.pragma(`user_version = ${newer}`));
    const error = thrown(() => openSqliteStore(path));
    expect(error).toBeInstanceOf(RoamgateError);
    expect((error as RoamgateError).code).toBe('ROAMGATE_INVALID_OPTIONS');
    expect((error as RoamgateError).message).toBe(
      `store: database schema version ${newer} is newer than this roamgate (knows ${SCHEMA_VERSION})`,
    );
    withRawDatabase(path, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(newer);
      expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'users'").pluck().get()).toBe(0);
    });
    // The refused connection was closed: the file can be removed and reused.
    removeDatabase(path);
    await openSqliteStore(path).close();
  });

  test('later migrations run on a database that has the earlier ones, and only they run', () => {
    const db = new Database(':memory:');
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    // Were migration 1 run again, CREATE TABLE users would fail.
    const next: Migration = {
      version: SCHEMA_VERSION + 1,
      description: 'a note on users',
      sql: 'ALTER TABLE users ADD COLUMN note TEXT',
    };
    expect(migrate(db, [...MIGRATIONS, next])).toBe(SCHEMA_VERSION + 1);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    expect((db.pragma('table_info(users)') as Array<{ name: string }>).map((column) => column.name)).toContain('note');
    expect(migrate(db, [...MIGRATIONS, next])).toBe(SCHEMA_VERSION + 1);
    db.close();
  });

  test('a failing migration leaves the database exactly as it was, earlier steps included', () => {
    const db = new Database(':memory:');
    const broken: Migration = {
      version: SCHEMA_VERSION + 1,
      description: 'broken',
      sql: 'CREATE TABLE extra (x TEXT); INSERT INTO nowhere VALUES (1)',
    };
    expect(() => migrate(db, [...MIGRATIONS, broken])).toThrow(/no such table: nowhere/);
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    expect(db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get()).toBe(0);
    db.close();
  });
});

describe('SqliteStore, SQLite specifics: files', () => {
  test('reopening a file finds everything as it was, and audit ids carry on', async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    await first.users.put(alice);
    await first.leases.create(lease);
    await first.rules.put(rule);
    await first.registrations.put(registration);
    const event = await first.audit.append({ at: T, type: 'login', actor: 'alice', detail: { ok: true } });
    await first.close();

    const second = openSqliteStore(path);
    expect(await second.users.list()).toStrictEqual([alice]);
    expect(await second.leases.getByTokenHash('h1')).toStrictEqual(lease);
    expect(await second.leases.listLive(T)).toStrictEqual([lease]);
    expect(await second.rules.list()).toStrictEqual([rule]);
    expect(await second.registrations.list()).toStrictEqual([registration]);
    expect(await second.audit.list()).toStrictEqual([event]);
    const later = await second.audit.append({ at: T + 1, type: 'logout', detail: {} });
    expect(later.id).toBeGreaterThan(event.id);
    await second.close();
  });

  test("a file that is not a database is refused as a source failure, with SQLite's error as cause", () => {
    const path = freshPath();
    writeFileSync(path, 'this is not an SQLite database, but it is long enough to have a header'.repeat(10));
    const error = thrown(() => openSqliteStore(path));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
    expect((error as Error).message).toContain(path);
    expect(((error as Error).cause as { code?: string }).code).toBe('SQLITE_NOTADB');
  });

  test('a path in a missing directory is refused as a source failure', () => {
    const error = thrown(() => openSqliteStore(join(directory, 'missing', 'store.db')));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
  });

  test("a write waits for another connection's lock (busy timeout) instead of failing at once", async () => {
    const path = freshPath();
    const store = openSqliteStore(path, { busyTimeoutMs: 5000 });
    // Another thread takes the write lock and holds it for a while; better-sqlite3
    // blocks this thread while SQLite waits, so the holder cannot live here.
    const holder = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const Database = require(workerData.module);
       const db = new Database(workerData.path);
       db.exec('BEGIN IMMEDIATE');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
       db.exec('COMMIT');
       db.close();`,
      { eval: true, workerData: { module: require.resolve('better-sqlite3'), path, holdMs: 150 } },
    );
    const exited = once(holder, 'exit');
    await once(holder, 'message');
    const started = Date.now();
    await store.users.put(alice);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(await exited).toEqual([0]);
    expect(await store.users.get('alice')).toStrictEqual(alice);
    await store.close();
  });

  test('a lock held past the busy timeout fails the write as a source failure', async () => {
    const path = freshPath();
    const store = openSqliteStore(path, { busyTimeoutMs: 20 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const error = await rejection(store.users.put(alice));
    other.exec('ROLLBACK');
    other.close();
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
    expect(((error as Error).cause as { code?: string }).code).toBe('SQLITE_BUSY');
    await store.users.put(alice);
    await store.close();
  });
});

describe('SqliteStore, SQLite specifics: errors', () => {
  test('a constraint failure is a source failure carrying the SQLite error', async () => {
    const store = openSqliteStore(':memory:');
    await store.leases.create(lease);
    const error = await rejection(store.leases.create({ ...lease, id: 'l2' }));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
    expect((error as Error).message).toMatch(/^store: leases\.create failed: /);
    expect(((error as Error).cause as { code?: string }).code).toBe('SQLITE_CONSTRAINT_UNIQUE');
    await store.close();
  });

  test('strict tables refuse a value of the wrong type instead of storing it', async () => {
    const store = openSqliteStore(':memory:');
    const error = await rejection(store.registrations.put({ ...registration, port: 25.5 }));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
    expect(await store.registrations.list()).toEqual([]);
    await store.close();
  });

  test.each([-1, 1.5, Number.NaN])('an audit limit of %p is a bad request', async (limit) => {
    const store = openSqliteStore(':memory:');
    const error = await rejection(store.audit.list({ limit }));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_BAD_REQUEST');
    await store.close();
  });

  test('calls after close are refused as shutting down; closing again is harmless', async () => {
    const store = openSqliteStore(':memory:');
    await store.close();
    const error = await rejection(store.users.list());
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_SHUTTING_DOWN');
    expect((error as Error).message).toBe('store: users.list after the store was closed');
    await expect(store.close()).resolves.toBeUndefined();
  });
});
