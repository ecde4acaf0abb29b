import type { RunPostgres } from './postgres-session';
import type { LeaseRecord, Store } from './store';
import { LEASE_COLUMNS, POSTGRES_ROWS, type LeaseColumns, leaseRecord } from './store-rows';

type LeaseRow = LeaseColumns<unknown, boolean>;
const leaseFromRow = (row: LeaseRow) => leaseRecord(row, POSTGRES_ROWS);

function leaseParams(lease: LeaseRecord): unknown[] {
  return [
    lease.id,
    lease.tokenHash,
    lease.userId,
    JSON.stringify(lease.attributes),
    lease.address,
    lease.issuedAt,
    lease.expiresAt,
    lease.revokedAt ?? null,
    lease.home ? JSON.stringify(lease.home) : null,
    lease.peer ?? null,
    lease.tokenOnly === true,
  ];
}

/** The `leases` table: live and ended leases (only their tokens' hashes). */
export function postgresLeases(run: RunPostgres): Store['leases'] {
  const one = async (operation: string, where: string, key: string) =>
    run(operation, async (db) => {
      const { rows } = await db.query<LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM leases WHERE ${where} = $1`, [key]);
      return rows[0] && leaseFromRow(rows[0]);
    });
  return {
    create: (lease) =>
      run('leases.create', async (db) => {
        await db.query(`INSERT INTO leases (${LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, leaseParams(lease));
      }),
    get: (id) => one('leases.get', 'id', id),
    getByTokenHash: (tokenHash) => one('leases.getByTokenHash', 'token_hash', tokenHash),
    listLive: (now) =>
      run('leases.listLive', async (db) => {
        const { rows } = await db.query<LeaseRow>(
          `SELECT ${LEASE_COLUMNS} FROM leases WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY issued_at, id`,
          [now],
        );
        return rows.map(leaseFromRow);
      }),
    // `now` comes from the caller, so injected clocks and the store agree on what is live.
    renew: (id, expiresAt, now) =>
      run('leases.renew', async (db) => {
        const sql = 'UPDATE leases SET expires_at = $1 WHERE id = $2 AND revoked_at IS NULL AND expires_at > $3';
        return (await db.query(sql, [expiresAt, id, now])).rowCount > 0;
      }),
    revoke: (id, at) =>
      run(
        'leases.revoke',
        async (db) => (await db.query('UPDATE leases SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])).rowCount > 0,
      ),
    purge: (before) =>
      run('leases.purge', async (db) => (await db.query('DELETE FROM leases WHERE expires_at < $1 OR revoked_at < $1', [before])).rowCount),
  };
}
