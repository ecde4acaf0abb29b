import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { RoamgateError } from '../errors';
import { migrate } from './migrations';
import { sqliteAudit } from './sqlite-audit';
import { SqliteChanges, sqliteFailures } from './sqlite-changes';
import { sqliteLeases } from './sqlite-leases';
import type { RunOperation } from './sqlite-operation';
import { sqlitePeerNonces } from './sqlite-peer-nonces';
import { sqliteRegistrations } from './sqlite-registrations';
import { sqliteRules } from './sqlite-rules';
import { sqliteSessions } from './sqlite-sessions';
import { sqliteUsers } from './sqlite-users';
import { checkBeforeOpening, SqliteFileWatch, type StoreFinding } from './sqlite-file-watch';
import { type Store, type StoreChanges, type StoreHealth, type StoreProblem, StoreUnavailableError } from './store';

/** How long a write waits for another connection's lock on the same file before failing (ms). */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000;
/** How often the files of a store on disk are checked while it is open (ms); a failed write checks them at once. */
export const DEFAULT_STORE_CHECK_INTERVAL_MS = 5000;

export interface SqliteStoreOptions {
  /** How long to wait for a lock held by another connection (ms). Default {@link DEFAULT_SQLITE_BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number;
  /** How often the files are checked (ms). Default {@link DEFAULT_STORE_CHECK_INTERVAL_MS}. */
  checkIntervalMs?: number;
}

/** SQLite's errors that say the store itself is at fault (its files, the disk), not the call. */
const STORE_FAULT = /^SQLITE_(IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/;

/** What to do about a failed write, by SQLite's error. */
const FAULT_FIXES: ReadonlyArray<[RegExp, StoreProblem, string]> = [
  [/^SQLITE_(CORRUPT|NOTADB)/, 'corrupt', 'the file is damaged or not a database: restore it from a backup'],
  [/^SQLITE_FULL/, 'write-failed', 'the disk is full: free space on it'],
  [/^SQLITE_(READONLY|CANTOPEN)/, 'write-failed', "make the file, its -wal and -shm and their directory writable by the gateway's user"],
  [/^SQLITE_/, 'write-failed', 'check the disk and the kernel log'],
];

function isStoreFault(error: unknown): boolean {
  return STORE_FAULT.test(String((error as { code?: unknown }).code));
}

/** The finding a failed call makes: what SQLite said about `file`, and what to do. */
function faultFinding(file: string, error: unknown): StoreFinding {
  const code = String((error as { code?: unknown }).code);
  const [, problem, fix] = FAULT_FIXES.find(([pattern]) => pattern.test(code)) ?? FAULT_FIXES[FAULT_FIXES.length - 1]!;
  return { problem, file, reason: `SQLite failed on ${file} (${code}: ${(error as Error).message}): ${fix}` };
}

/** Databases left open because closing them would touch an unwritable -shm; referenced so that no finalizer closes them. */
const leftOpen = new Set<Database.Database>();

/**
 * The embedded store: one SQLite file (or `:memory:`) through better-sqlite3.
 * better-sqlite3 is synchronous; the methods are async only to honour the
 * {@link Store} contract, and every failure, SQLite's included, arrives as a
 * rejected promise carrying a {@link RoamgateError}. Each table's statements
 * live in a module of their own (sqlite-users.ts, sqlite-leases.ts, ...).
 *
 * A store on disk watches its files (sqlite-file-watch.ts) every
 * `checkIntervalMs` and after every failed write: while one has vanished, been
 * replaced, cannot be written or is corrupt, {@link health} says so and every
 * call is refused with a {@link StoreUnavailableError}, without SQLite touching
 * the files; a later check that finds them right, and a write that goes
 * through, makes it usable again.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly version: number;
  private readonly files: SqliteFileWatch | undefined;
  private readonly listeners = new Set<(health: StoreHealth) => void>();
  private state: StoreHealth = { ok: true, since: Date.now() };
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly users: Store['users'];
  readonly leases: Store['leases'];
  readonly rules: Store['rules'];
  readonly registrations: Store['registrations'];
  readonly nonces: Store['nonces'];
  readonly sessions: Store['sessions'];
  readonly audit: Store['audit'];
  /** What other connections to the same file wrote (a store in memory has no one else). */
  readonly changes?: StoreChanges;
  readonly failures?: Store['failures'];
  private readonly feed: SqliteChanges | undefined;

  /**
   * Takes an open connection, migrates it, checks that a write goes through and prepares
   * its statements; a connection to a file in WAL mode has its files watched. Most callers
   * want {@link openSqliteStore}.
   */
  constructor(db: Database.Database, checkIntervalMs: number = DEFAULT_STORE_CHECK_INTERVAL_MS) {
    this.db = db;
    this.version = migrate(db);
    this.writeProbe();
    const run: RunOperation = (operation, body) => this.run(operation, body);
    this.users = sqliteUsers(db, run);
    this.leases = sqliteLeases(db, run);
    this.rules = sqliteRules(db, run);
    this.registrations = sqliteRegistrations(db, run);
    this.nonces = sqlitePeerNonces(db, run);
    this.sessions = sqliteSessions(db, run);
    this.audit = sqliteAudit(db, run);
    if (!db.memory) {
      this.feed = new SqliteChanges(db, (body) => this.runQuietly(body));
      this.changes = this.feed;
      this.failures = sqliteFailures(db, run);
      this.files = new SqliteFileWatch(db.name);
      this.timer = setInterval(() => this.checkHealth(), checkIntervalMs);
      this.timer.unref();
    }
  }

  schemaVersion(): Promise<number> {
    return this.run('schemaVersion', () => this.version);
  }

  /** Whether the store can be used now, as the last check found it. */
  health(): StoreHealth {
    return this.state;
  }

  onHealthChange(listener: (health: StoreHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Checks the files now, and, when the store was not usable or `failure` (what a call
   * threw) says the store is at fault, whether a write goes through; returns the new state.
   */
  checkHealth(failure?: unknown): StoreHealth {
    if (this.closed) return this.state;
    let finding = this.files?.inspect();
    if (finding?.problem === 'shm-truncated' && !this.files?.shmUnsafe()) {
      // Given its size back: said, and then checked again like any other call would (the periodic check may be first).
      this.settle(finding);
      finding = this.files?.inspect();
    }
    if (!finding && failure !== undefined) finding = faultFinding(this.db.name, failure);
    else if (!finding && !this.state.ok) finding = this.tryWriting();
    this.settle(finding);
    return this.state;
  }

  /** Closes the database; later calls reject. Closing again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.feed?.stop();
    // A truncated -shm is given its size back here; one that cannot be written stays unsafe.
    const finding = this.files?.guardShm();
    if (finding && this.files?.shmUnsafe()) {
      // Closing checkpoints through the -shm mapping, which would raise SIGBUS: see sqlite-file-watch.ts.
      leftOpen.add(this.db);
      const reason = `${finding.reason}; the database was left open, since closing it would crash the process (SIGBUS): end the process with process.exit()`;
      this.announce({ ok: false, ...finding, reason, since: Date.now() });
      return;
    }
    try {
      this.db.close();
    } catch (error) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: closing ${this.db.name} failed: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      this.files?.close();
    }
  }

  /** Runs one synchronous operation as the contract's promise, turning every failure into a RoamgateError. */
  private async run<T>(operation: string, body: () => T): Promise<T> {
    if (this.closed) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', `store: ${operation} after the store was closed`);
    this.refuseUnlessUsable(operation);
    try {
      const result = body();
      this.files?.noteShmSize();
      return result;
    } catch (error) {
      if (error instanceof RoamgateError) throw error;
      if (isStoreFault(error) && !this.checkHealth(error).ok) throw new StoreUnavailableError(operation, this.state, { cause: error });
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${operation} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Runs a look of the store's own (the change feed's) only when it is safe, and quietly: not while the store is
   * unusable, nor while its -shm could not take SQLite touching it (that would raise SIGBUS). It repairs nothing and
   * reports nothing, so it never changes what the store's calls and checks find: a failure only means "look again
   * later". Undefined when it did not run or failed.
   */
  private runQuietly<T>(body: () => T): T | undefined {
    if (this.closed || !this.state.ok || this.files?.shmUnsafe()) return undefined;
    try {
      const result = body();
      this.files?.noteShmSize();
      return result;
    } catch {
      return undefined;
    }
  }

  /** Refuses a call while the store is not usable, and before SQLite would touch a -shm that cannot take it. */
  private refuseUnlessUsable(operation: string): void {
    const finding = this.state.ok ? this.files?.guardShm() : undefined;
    if (finding) {
      this.settle(finding);
      // A truncated -shm was given its size back: usable again if the files are right and a write goes through.
      if (finding.problem === 'shm-truncated') this.checkHealth();
    }
    if (!this.state.ok) throw new StoreUnavailableError(operation, this.state);
  }

  /** A write transaction that changes nothing: user_version set to what it is. */
  private writeProbe(): void {
    this.db
      .transaction(() => {
        const version = Math.trunc(this.db.pragma('user_version', { simple: true }) as number);
        this.db.pragma(`user_version = ${version}`);
      })
      .immediate();
  }

  private tryWriting(): StoreFinding | undefined {
    try {
      this.writeProbe();
      return undefined;
    } catch (error) {
      return faultFinding(this.db.name, error);
    }
  }

  /** Takes what a check found (nothing: usable) as the state; tells the listeners when it changed. */
  private settle(finding: StoreFinding | undefined): void {
    const { ok, problem, file } = this.state;
    if (finding ? !ok && problem === finding.problem && file === finding.file : ok) return;
    this.announce(finding ? { ok: false, ...finding, since: Date.now() } : { ok: true, since: Date.now() });
  }

  private announce(health: StoreHealth): void {
    this.state = health;
    for (const listener of this.listeners) {
      try {
        listener(health);
      } catch {
        // A listener's failure is its own; the store's state stands.
      }
    }
  }
}

/**
 * Opens (creating if need be) the SQLite store at `path`, or a private
 * in-memory one for `':memory:'`, brings its schema up to date and checks
 * that a write goes through. Before SQLite touches a file, its directory must
 * be writable and the file, its -wal and -shm, where they exist, files this
 * process can write (see sqlite-file-watch.ts for why). A new file is made
 * readable by its owner only (mode 0600; SQLite gives its -wal and -shm files
 * the same mode): it holds password and token hashes. An existing file keeps
 * its mode (the gateway warns when others may read it).
 * Throws ROAMGATE_INVALID_OPTIONS when the file was written by a newer
 * roamgate, ROAMGATE_SOURCE_FAILED when it cannot be opened, written or
 * migrated, with a message naming the file and the fix.
 * @example
 * const store = openSqliteStore('/var/lib/roamgate/roamgate.db');
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:' && path !== '') {
      checkBeforeOpening(path);
      createPrivately(path);
    }
    db = new Database(path, { timeout: options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS });
    // WAL lets readers (another gateway process, the CLI) work while one writes;
    // it is kept in the file, so set it before anything else touches the schema.
    if (!db.memory) db.pragma('journal_mode = WAL');
    return new SqliteStore(db, options.checkIntervalMs);
  } catch (error) {
    db?.close();
    if (error instanceof RoamgateError) throw error;
    const message = isStoreFault(error) ? faultFinding(path, error).reason : (error as Error).message;
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: cannot open ${path}: ${message}`, { cause: error });
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
