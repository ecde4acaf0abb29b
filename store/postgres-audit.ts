import type { PostgresSession, RunPostgres } from './postgres-session';
import { checkAuditQuery, checkPruneLimits, DEFAULT_AUDIT_LIST_LIMIT, MAX_AUDIT_LIST_LIMIT } from './sqlite-audit';
import type { AuditEvent, AuditPruneLimits, AuditQuery, Store } from './store';

interface AuditRow {
  id: number;
  at: number;
  type: string;
  actor: string | null;
  address: string | null;
  detail: Record<string, unknown>;
}

const AUDIT_COLUMNS = 'id, at, type, actor, address, detail';
/** Events one INSERT of appendMany carries (5 parameters each; PostgreSQL takes at most 65535). */
const APPEND_ROWS_PER_STATEMENT = 1000;

/** The filters of an audit query, each a condition on the parameter it is given. */
const AUDIT_FILTERS = [
  ['type', 'type = $'],
  ['actor', 'actor = $'],
  ['since', 'at >= $'],
  ['until', 'at < $'],
  ['beforeId', 'id < $'],
] as const;

function auditFromRow(row: AuditRow): AuditEvent {
  const event: AuditEvent = { id: row.id, at: row.at, type: row.type, detail: row.detail };
  if (row.actor !== null) event.actor = row.actor;
  if (row.address !== null) event.address = row.address;
  return event;
}

function eventParams(event: Omit<AuditEvent, 'id'>): unknown[] {
  return [event.at, event.type, event.actor ?? null, event.address ?? null, JSON.stringify(event.detail)];
}

/** Inserts `events` in their order, a statement per APPEND_ROWS_PER_STATEMENT: ids follow the order of a VALUES list. */
async function insertInOrder(db: PostgresSession, events: ReadonlyArray<Omit<AuditEvent, 'id'>>): Promise<void> {
  for (let start = 0; start < events.length; start += APPEND_ROWS_PER_STATEMENT) {
    const chunk = events.slice(start, start + APPEND_ROWS_PER_STATEMENT);
    const values = chunk.map((_, row) => `(${[1, 2, 3, 4, 5].map((column) => `$${row * 5 + column}`).join(', ')})`);
    await db.query(`INSERT INTO audit (at, type, actor, address, detail) VALUES ${values.join(', ')}`, chunk.flatMap(eventParams));
  }
}

/** The events `query` asks for, newest first: one WHERE built of the filters it uses, walking the id, (type, id) or at index. */
async function listEvents(db: PostgresSession, query: AuditQuery, limit: number): Promise<AuditEvent[]> {
  const used = AUDIT_FILTERS.filter(([key]) => query[key] !== undefined);
  const where = used.length === 0 ? '' : ` WHERE ${used.map(([, condition], index) => `${condition}${index + 1}`).join(' AND ')}`;
  const params = [...used.map(([key]) => query[key]), limit];
  const { rows } = await db.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit${where} ORDER BY id DESC LIMIT $${params.length}`, params);
  return rows.map(auditFromRow);
}

/** One transaction: the age limit first, then the row cap with what is left of the limit. */
async function pruneEvents(db: PostgresSession, { before, maxRows, limit }: AuditPruneLimits): Promise<number> {
  return db.transaction(async () => {
    // Through the audit_at index: only the rows deleted are read.
    const older = (
      await db.query('DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 ORDER BY at LIMIT $2)', [before, limit])
    ).rowCount;
    if (older >= limit) return older;
    // Ids only grow, so the newest maxRows events all have ids above max(id) - maxRows (fewer are kept
    // when a rolled-back append left a gap in the ids): deleting up to it needs no count of the table.
    const beyond = await db.query(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE id <= (SELECT max(id) FROM audit) - $1 ORDER BY id LIMIT $2)',
      [maxRows, limit - older],
    );
    return older + beyond.rowCount;
  });
}

/** The `audit` table: the audit trail, newest first when listed. */
export function postgresAudit(run: RunPostgres): Store['audit'] {
  return {
    append: (event) =>
      run('audit.append', async (db) => {
        const { rows } = await db.query<AuditRow>(
          `INSERT INTO audit (at, type, actor, address, detail) VALUES ($1, $2, $3, $4, $5) RETURNING ${AUDIT_COLUMNS}`,
          eventParams(event),
        );
        // Returned as it is read back: a copy, optional fields absent rather than undefined.
        return auditFromRow(rows[0]!);
      }),
    appendMany: (events) =>
      run('audit.appendMany', async (db) => {
        if (events.length > 0) await db.transaction(() => insertInOrder(db, events));
      }),
    list: (query: AuditQuery = {}) =>
      run('audit.list', async (db) => {
        const limit = Math.min(query.limit ?? DEFAULT_AUDIT_LIST_LIMIT, MAX_AUDIT_LIST_LIMIT);
        checkAuditQuery(query, limit);
        return listEvents(db, query, limit);
      }),
    prune: (limits) =>
      run('audit.prune', async (db) => {
        checkPruneLimits(limits);
        return pruneEvents(db, limits);
      }),
  };
}
