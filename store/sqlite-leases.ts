import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { LeaseRecord, Store } from './store';
import { LEASE_COLUMNS, SQLITE_ROWS, type LeaseColumns, leaseRecord } from './store-rows';

type LeaseRow = LeaseColumns<string, number>;
const leaseFromRow = (row: LeaseRow) => leaseRecord(row, SQLITE_ROWS);

/** The `leases` table: live and ended leases (only their tokens' hashes). */
export function sqliteLeases(db: Database.Database, run: RunOperation): Store['leases'] {
  const statements = {
    create: db.prepare<[LeaseRow]>(
      `INSERT INTO leases (${LEASE_COLUMNS}) VALUES (@id, @token_hash, @user_id, @attributes, @address, @issued_at, @expires_at, @revoked_at, @home, @peer, @token_only)`,
    ),
    get: db.prepare<[string], LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM leases WHERE id = ?`),
    getByTokenHash: db.prepare<[string], LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM leases WHERE token_hash = ?`),
    listLive: db.prepare<[number], LeaseRow>(
      `SELECT ${LEASE_COLUMNS} FROM leases WHERE revoked_at IS NULL AND expires_at > ? ORDER BY issued_at, id`,
    ),
    renew: db.prepare<[number, string, number]>('UPDATE leases SET expires_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ?'),
    revoke: db.prepare<[number, string]>('UPDATE leases SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    purge: db.prepare<[number, number]>('DELETE FROM leases WHERE expires_at < ? OR revoked_at < ?'),
  };
  return {
    create: (lease) =>
      run('leases.create', () => {
        statements.create.run({
          id: lease.id,
          token_hash: lease.tokenHash,
          user_id: lease.userId,
          attributes: JSON.stringify(lease.attributes),
          address: lease.address,
          issued_at: lease.issuedAt,
          expires_at: lease.expiresAt,
          revoked_at: lease.revokedAt ?? null,
          home: lease.home ? JSON.stringify(lease.home) : null,
          peer: lease.peer ?? null,
          token_only: lease.tokenOnly ? 1 : 0,
        });
      }),
    get: (id) =>
      run('leases.get', () => {
        const row = statements.get.get(id);
        return row && leaseFromRow(row);
      }),
    getByTokenHash: (tokenHash) =>
      run('leases.getByTokenHash', () => {
        const row = statements.getByTokenHash.get(tokenHash);
        return row && leaseFromRow(row);
      }),
    listLive: (now) => run('leases.listLive', () => statements.listLive.all(now).map(leaseFromRow)),
    // `now` comes from the caller, so injected clocks and the store agree on what is live.
    renew: (id, expiresAt, now) => run('leases.renew', () => statements.renew.run(expiresAt, id, now).changes > 0),
    revoke: (id, at) => run('leases.revoke', () => statements.revoke.run(at, id).changes > 0),
    purge: (before) => run('leases.purge', () => statements.purge.run(before, before).changes),
  };
}

/**
 * Every lease the file holds, live or ended (revoked, expired, not yet purged), oldest first: what
 * `roamgate store copy` carries over, which the Store contract does not list.
 */
export function everySqliteLease(db: Database.Database): LeaseRecord[] {
  return db.prepare<[], LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM leases ORDER BY issued_at, id`).all().map(leaseFromRow);
}
