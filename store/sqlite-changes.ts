import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { ChangedTable, Store, StoreChange, StoreChanges } from './store';

/** How often a store on a file looks whether another connection wrote (ms). */
export const CHANGE_POLL_INTERVAL_MS = 200;
/** How long a change row stays in the file for slower readers (ms); a reader that fell further behind reloads everything. */
export const CHANGE_RETENTION_MS = 60_000;
/** How often old change rows are deleted (ms). */
const CHANGE_PRUNE_INTERVAL_MS = 10_000;

/** The tables whose writes are fed, with their key column. Sessions are not: every process reads them from the file. */
const FED: ReadonlyArray<readonly [ChangedTable, string]> = [
  ['users', 'id'],
  ['leases', 'id'],
  ['rules', 'id'],
  ['registrations', 'id'],
];

/** Milliseconds since the epoch, in SQL. */
const NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

interface ChangeRow {
  seq: number;
  origin: string;
  tbl: ChangedTable | 'failures';
  row_id: string;
}

/** What a row of the `changes` table says. */
function changeOf(row: ChangeRow): StoreChange {
  if (row.tbl !== 'failures') return { table: row.tbl, id: row.row_id };
  const [scope, key] = JSON.parse(row.row_id) as [string, string];
  return { table: 'failures', scope, key };
}

/** Store.failures on a SQLite file: a row each, which the feed's trigger announces. */
export function sqliteFailures(db: Database.Database, run: RunOperation): NonNullable<Store['failures']> {
  const insert = db.prepare('INSERT INTO failures (at, scope, key) VALUES (?, ?, ?)');
  return {
    record: (scope, key, at) => run('failures.record', () => void insert.run(at, scope, key)),
  };
}

/**
 * The change feed of several processes on one SQLite file. Each connection
 * adds TEMP triggers of its own (they live and die with it), which write a
 * row naming this connection's origin into the `changes` table in the same
 * transaction as the change itself. Readers look at `PRAGMA data_version`
 * (it moves when another connection commits: no I/O while nothing changed)
 * and read the rows after the last one they saw. A connection without the
 * triggers (an operator's sqlite3 shell) writes unheard: the gateways' own
 * periodic checks still see it.
 */
export class SqliteChanges implements StoreChanges {
  private readonly origin = randomUUID();
  private readonly listeners = new Set<(change: StoreChange) => void>();
  private readonly version: Database.Statement;
  private readonly after: Database.Statement;
  private readonly first: Database.Statement;
  private readonly prune: Database.Statement;
  private readonly pruneFailures: Database.Statement;
  private lastSeq: number;
  private lastVersion = -1;
  private lastPrune = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    db: Database.Database,
    /**
     * Runs a look at the file only when the store says it is safe (usable, its -shm able to take SQLite touching
     * it: otherwise the process could die of SIGBUS), without changing the store's health. Undefined when it did
     * not run or failed.
     */
    private readonly guarded: <T>(body: () => T) => T | undefined,
    private readonly pollMs: number = CHANGE_POLL_INTERVAL_MS,
  ) {
    for (const [table, key] of FED) {
      for (const [event, row] of [
        ['INSERT', 'NEW'],
        ['UPDATE', 'NEW'],
        ['DELETE', 'OLD'],
      ] as const) {
        // The origin is a UUID of ours and the names come from FED: nothing here comes from outside.
        db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS roamgate_feed_${table}_${event.toLowerCase()} AFTER ${event} ON main.${table}
          BEGIN INSERT INTO main.changes (at, origin, tbl, row_id) VALUES (${NOW_MS}, '${this.origin}', '${table}', ${row}.${key}); END`);
      }
    }
    // A failure counted here is heard by the others as its scope and key (see Store.failures).
    db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS roamgate_feed_failures AFTER INSERT ON main.failures
      BEGIN INSERT INTO main.changes (at, origin, tbl, row_id) VALUES (NEW.at, '${this.origin}', 'failures', json_array(NEW.scope, NEW.key)); END`);
    this.version = db.prepare('PRAGMA data_version').pluck();
    this.after = db.prepare('SELECT seq, origin, tbl, row_id FROM changes WHERE seq > ? ORDER BY seq LIMIT 1000');
    this.first = db.prepare('SELECT min(seq) FROM changes').pluck();
    this.prune = db.prepare('DELETE FROM changes WHERE at < ?');
    this.pruneFailures = db.prepare('DELETE FROM failures WHERE at < ?');
    this.lastSeq = (db.prepare('SELECT coalesce(max(seq), 0) FROM changes').pluck().get() as number) ?? 0;
  }

  subscribe(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Reads what other connections wrote since the last look, and tells the listeners. */
  poll(): void {
    // When the look did not run or failed, the store's health says why; the next poll looks again.
    const changes = this.guarded(() => this.collect()) ?? [];
    for (const change of changes) for (const listener of this.listeners) listener(change);
  }

  /** What other connections wrote since the last look (nothing when the file did not change since). */
  private collect(): StoreChange[] {
    const changes: StoreChange[] = [];
    const version = this.version.get() as number;
    if (version === this.lastVersion) return changes;
    const oldest = this.first.get() as number | null;
    // Rows this reader never saw were pruned: it cannot know what changed.
    if (oldest !== null && oldest > this.lastSeq + 1 && this.lastSeq > 0) changes.push({ table: '*' });
    for (let rows = this.read(); rows.length > 0; rows = this.read()) {
      for (const row of rows) if (row.origin !== this.origin) changes.push(changeOf(row));
    }
    // Only once everything is read: a look that failed half-way looks again next time.
    this.lastVersion = version;
    this.pruneNowAndThen();
    return changes;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private read(): ChangeRow[] {
    const rows = this.after.all(this.lastSeq) as ChangeRow[];
    if (rows.length > 0) this.lastSeq = rows[rows.length - 1]!.seq;
    return rows;
  }

  private pruneNowAndThen(): void {
    const now = Date.now();
    if (now - this.lastPrune < CHANGE_PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    this.prune.run(now - CHANGE_RETENTION_MS);
    this.pruneFailures.run(now - CHANGE_RETENTION_MS);
  }
}
