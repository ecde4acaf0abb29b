import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { RoamgateError } from '../errors';
import { migrate } from './migrations';
import { sqliteAudit } from './sqlite-audit';
import { sqliteLeases } from './sqlite-leases';
import type { RunOperation } from './sqlite-operation';
import { sqlitePeerNonces } from './sqlite-peer-nonces';
import { sqliteRegistrations } from './sqlite-registrations';
import { sqliteRules } from './sqlite-rules';
import { sqliteSessions } from './sqlite-sessions';
import { sqliteUsers } from './sqlite-users';
import type { Store } from './store';

/** How long a write waits for another connection's lock on the same file before failing (ms). */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000;

export interface SqliteStoreOptions {
  /** How long to wait for a lock held by another connection (ms). Default {@link DEFAULT_SQLITE_BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number;
}

/**
 * The embedded store: one SQLite file (or `:memory:`) through better-sqlite3.
 * better-sqlite3 is synchronous; the methods are async only to honour the
 * {@link Store} contract, and every failure, SQLite's included, arrives as a
 * rejected promise carrying a {@link RoamgateError}. Each table's statements
 * live in a module of their own (sqlite-users.ts, sqlite-leases.ts, ...).
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly version: number;
  private closed = false;
  readonly users: Store['users'];
  readonly leases: Store['leases'];
  readonly rules: Store['rules'];
  readonly registrations: Store['registrations'];
  readonly nonces: Store['nonces'];
  readonly sessions: Store['sessions'];
  readonly audit: Store['audit'];

  /** Takes an open connection, migrates it and prepares its statements. Most callers want {@link openSqliteStore}. */
  constructor(db: Database.Database) {
    this.db = db;
    this.version = migrate(db);
    const run: RunOperation = (operation, body) => this.run(operation, body);
    this.users = sqliteUsers(db, run);
    this.leases = sqliteLeases(db, run);
    this.rules = sqliteRules(db, run);
    this.registrations = sqliteRegistrations(db, run);
    this.nonces = sqlitePeerNonces(db, run);
    this.sessions = sqliteSessions(db, run);
    this.audit = sqliteAudit(db, run);
  }

  schemaVersion(): Promise<number> {
    return this.run('schemaVersion', () => this.version);
  }

  /** Closes the database; later calls reject. Closing again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.close();
    } catch (error) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: closing ${this.db.name} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Runs one synchronous operation as the contract's promise, turning every failure into a RoamgateError. */
  private async run<T>(operation: string, body: () => T): Promise<T> {
    if (this.closed) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', `store: ${operation} after the store was closed`);
    try {
      return body();
    } catch (error) {
      if (error instanceof RoamgateError) throw error;
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${operation} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/**
 * Opens (creating if need be) the SQLite store at `path`, or a private
 * in-memory one for `':memory:'`, and brings its schema up to date. A new
 * file is made readable by its owner only (mode 0600; SQLite gives its -wal
 * and -shm files the same mode): it holds password and token hashes. An
 * existing file keeps its mode (the gateway warns when others may read it).
 * Throws ROAMGATE_INVALID_OPTIONS when the file was written by a newer
 * roamgate, ROAMGATE_SOURCE_FAILED when it cannot be opened or migrated.
 * @example
 * const store = openSqliteStore('/var/lib/roamgate/roamgate.db');
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:' && path !== '') createPrivately(path);
    db = new Database(path, { timeout: options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS });
    // WAL lets readers (another gateway process, the CLI) work while one writes;
    // it is kept in the file, so set it before anything else touches the schema.
    if (!db.memory) db.pragma('journal_mode = WAL');
    return new SqliteStore(db);
  } catch (error) {
    db?.close();
    if (error instanceof RoamgateError) throw error;
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Creates `path` empty with mode 0600 unless it exists; SQLite then opens it as a new database. */
function createPrivately(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
