import type Database from 'better-sqlite3';
import { RoamgateError } from '../errors';
import type { RunOperation } from './sqlite-operation';
import type { AuditEvent, AuditPruneLimits, AuditQuery, Store } from './store';

/** Audit events returned by one `audit.list` unless the query asks for fewer. */
export const DEFAULT_AUDIT_LIST_LIMIT = 100;
/** The most audit events one `audit.list` returns, whatever the query asks. */
export const MAX_AUDIT_LIST_LIMIT = 1000;

interface AuditRow {
  id: number;
  at: number;
  type: string;
  actor: string | null;
  address: string | null;
  detail: string;
}

const AUDIT_COLUMNS = 'id, at, type, actor, address, detail';

/** The filters of an audit query, each a condition on its own named parameter. */
const AUDIT_FILTERS = [
  ['type', 'type = @type'],
  ['actor', 'actor = @actor'],
  ['since', 'at >= @since'],
  ['until', 'at < @until'],
  ['beforeId', 'id < @beforeId'],
] as const;

type AuditFilter = (typeof AUDIT_FILTERS)[number][0];
type AuditListParams = Partial<Record<AuditFilter, string | number>> & { limit: number };

/**
 * One statement per filter shape (prepared once, then kept) rather than `(@x IS NULL OR ...)`,
 * so that SQLite walks the rowid, the (type, id) or the at index backwards and stops at the limit.
 */
function auditLister(db: Database.Database) {
  const statements = new Map<string, Database.Statement<[AuditListParams], AuditRow>>();
  return (query: AuditQuery, limit: number): AuditRow[] => {
    const used = AUDIT_FILTERS.filter(([key]) => query[key] !== undefined);
    const shape = used.map(([key]) => key).join(',');
    let statement = statements.get(shape);
    if (!statement) {
      const where = used.length === 0 ? '' : ` WHERE ${used.map(([, condition]) => condition).join(' AND ')}`;
      statement = db.prepare<[AuditListParams], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit${where} ORDER BY id DESC LIMIT @limit`);
      statements.set(shape, statement);
    }
    const params: AuditListParams = { limit };
    for (const [key] of used) params[key] = query[key];
    return statement.all(params);
  };
}

export function checkAuditQuery(query: AuditQuery, limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RoamgateError('ROAMGATE_BAD_REQUEST', `store: audit limit must be an integer 0-${MAX_AUDIT_LIST_LIMIT}`);
  }
  for (const key of ['since', 'until', 'beforeId'] as const) {
    const value = query[key];
    if (value !== undefined && !Number.isFinite(value))
      throw new RoamgateError('ROAMGATE_BAD_REQUEST', `store: audit ${key} must be a number`);
  }
}

function auditFromRow(row: AuditRow): AuditEvent {
  const event: AuditEvent = { id: row.id, at: row.at, type: row.type, detail: JSON.parse(row.detail) as Record<string, unknown> };
  if (row.actor !== null) event.actor = row.actor;
  if (row.address !== null) event.address = row.address;
  return event;
}

/**
 * Audit rows one INSERT of a batch carries (5 parameters each; SQLite takes 32766): a statement per row costs a third
 * more per event than one per AUDIT_ROWS_PER_INSERT, and a connection's record is one event.
 */
export const AUDIT_ROWS_PER_INSERT = 50;

const AUDIT_INSERT = 'INSERT INTO audit (at, type, actor, address, detail) VALUES ';

/** One event's columns, in AUDIT_INSERT's order, appended to `values`. */
function pushAuditRow(values: Array<string | number | null>, event: Omit<AuditEvent, 'id'>): void {
  values.push(event.at, event.type, event.actor ?? null, event.address ?? null, JSON.stringify(event.detail));
}

function prepareStatements(db: Database.Database) {
  return {
    appendOne: db.prepare<[Array<string | number | null>]>(`${AUDIT_INSERT}(?, ?, ?, ?, ?)`),
    appendRows: db.prepare<[Array<string | number | null>]>(
      `${AUDIT_INSERT}${Array(AUDIT_ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?)').join(', ')}`,
    ),
    // Through the audit_at index: only the rows deleted are read.
    pruneOlder: db.prepare<[{ before: number; limit: number }]>(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < @before ORDER BY at LIMIT @limit)',
    ),
    // Ids only grow, so the newest maxRows events all have ids above max(id) - maxRows:
    // deleting the ids up to it leaves at most maxRows, without counting the table.
    pruneBeyond: db.prepare<[{ maxRows: number; limit: number }]>(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE id <= (SELECT max(id) FROM audit) - @maxRows ORDER BY id LIMIT @limit)',
    ),
  };
}

export function checkPruneLimits({ before, maxRows, limit }: AuditPruneLimits): void {
  if (!Number.isFinite(before) || !Number.isInteger(maxRows) || maxRows < 0 || !Number.isInteger(limit) || limit < 1)
    throw new RoamgateError('ROAMGATE_BAD_REQUEST', 'store: audit prune needs a time, a row count of 0 or more and a limit of 1 or more');
}

/** The `audit` table: the audit trail, newest first when listed. */
export function sqliteAudit(db: Database.Database, run: RunOperation): Store['audit'] {
  const statements = prepareStatements(db);
  const list = auditLister(db);
  // Writes audit events in one transaction (one file sync for a whole batch), AUDIT_ROWS_PER_INSERT rows per statement.
  const appendBatch = db.transaction((events: ReadonlyArray<Omit<AuditEvent, 'id'>>) => {
    const values: Array<string | number | null> = [];
    let next = 0;
    for (; next + AUDIT_ROWS_PER_INSERT <= events.length; next += AUDIT_ROWS_PER_INSERT) {
      values.length = 0;
      for (let index = next; index < next + AUDIT_ROWS_PER_INSERT; index++) pushAuditRow(values, events[index]!);
      statements.appendRows.run(values);
    }
    for (; next < events.length; next++) {
      values.length = 0;
      pushAuditRow(values, events[next]!);
      statements.appendOne.run(values);
    }
  });
  // One transaction: the age limit first, then the row cap with what is left of the limit.
  const prune = db.transaction(({ before, maxRows, limit }: AuditPruneLimits): number => {
    const older = statements.pruneOlder.run({ before, limit }).changes;
    if (older >= limit) return older;
    return older + statements.pruneBeyond.run({ maxRows, limit: limit - older }).changes;
  });
  return {
    append: (event) =>
      run('audit.append', () => {
        const values: Array<string | number | null> = [];
        pushAuditRow(values, event);
        const { lastInsertRowid } = statements.appendOne.run(values);
        // Returned as it would be read back: a copy, optional fields absent rather than undefined.
        return auditFromRow({
          id: Number(lastInsertRowid),
          at: event.at,
          type: event.type,
          actor: event.actor ?? null,
          address: event.address ?? null,
          detail: values[4] as string,
        });
      }),
    appendMany: (events) =>
      run('audit.appendMany', () => {
        appendBatch(events);
      }),
    list: (query: AuditQuery = {}) =>
      run('audit.list', () => {
        const limit = Math.min(query.limit ?? DEFAULT_AUDIT_LIST_LIMIT, MAX_AUDIT_LIST_LIMIT);
        checkAuditQuery(query, limit);
        return list(query, limit).map(auditFromRow);
      }),
    prune: (limits) =>
      run('audit.prune', () => {
        checkPruneLimits(limits);
        return prune(limits);
      }),
  };
}
