import type { ClientBase } from 'pg';

/**
 * PostgreSQL's text cannot hold U+0000, which the Store contract lets ids,
 * hashes and every other text carry. Such text is kept escaped: U+0000 as
 * U+0001 U+0001, U+0001 as U+0001 U+0002. The escape keeps the order of code
 * points (what `ORDER BY id` sorts by under COLLATE "C"), and text without
 * either character (all text in practice) is kept as it is.
 */
export function toColumnText(text: string): string {
  if (!text.includes('\u0000') && !text.includes('\u0001')) return text;
  return text.replaceAll('\u0001', '\u0001\u0002').replaceAll('\u0000', '\u0001\u0001');
}

/** The text {@link toColumnText} kept as `column`. */
export function fromColumnText(column: string): string {
  if (!column.includes('\u0001')) return column;
  // Left to right, every U+0001 starts a pair, so neither replacement can match across two pairs.
  return column.replaceAll('\u0001\u0001', '\u0000').replaceAll('\u0001\u0002', '\u0001');
}

/** What one statement returned: rows with their text decoded, and how many rows it touched. */
export interface SessionResult<R> {
  rows: R[];
  rowCount: number;
}

/** One connection taken from the pool for one store call. */
export interface PostgresSession {
  /** Runs one statement; text parameters and text columns go through {@link toColumnText}. */
  query<R>(text: string, params?: readonly unknown[]): Promise<SessionResult<R>>;
  /** Runs `body` as one transaction: committed when it returns, rolled back when it throws. */
  transaction<T>(body: () => Promise<T>): Promise<T>;
}

/**
 * Runs one store call on a connection of the pool as the Store contract's
 * promise: every failure arrives as a rejected promise carrying a
 * RoamgateError that names `operation` (`users.get`); one that says the
 * server cannot be used is a StoreUnavailableError.
 */
export type RunPostgres = <T>(operation: string, body: (session: PostgresSession) => Promise<T>) => Promise<T>;

function decodeRow<R>(row: Record<string, unknown>): R {
  for (const [key, value] of Object.entries(row)) if (typeof value === 'string') row[key] = fromColumnText(value);
  return row as R;
}

/** The session of a connection taken from the pool. */
export function sessionOf(client: ClientBase): PostgresSession {
  const query = async <R>(text: string, params: readonly unknown[] = []): Promise<SessionResult<R>> => {
    const encoded = params.map((param) => (typeof param === 'string' ? toColumnText(param) : param));
    const result = await client.query(text, encoded);
    return { rows: result.rows.map((row: Record<string, unknown>) => decodeRow<R>(row)), rowCount: result.rowCount ?? 0 };
  };
  return {
    query,
    transaction: async (body) => {
      await client.query('BEGIN');
      try {
        const result = await body();
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that failed cannot roll back; the pool drops it (see PostgresStore.run).
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
  };
}
