import type { RunPostgres } from './postgres-session';
import type { Store } from './store';

/** The `sessions` table: login page sessions, keyed by a hash of the session id. */
export function postgresSessions(run: RunPostgres): Store['sessions'] {
  return {
    get: (idHash, now) =>
      run('sessions.get', async (db) => {
        const { rows } = await db.query<{ data: string }>('SELECT data FROM sessions WHERE id_hash = $1 AND expires_at >= $2', [
          idHash,
          now,
        ]);
        return rows[0]?.data;
      }),
    put: (idHash, data, expiresAt) =>
      run('sessions.put', async (db) => {
        await db.query(
          `INSERT INTO sessions (id_hash, data, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
          [idHash, data, expiresAt],
        );
      }),
    touch: (idHash, expiresAt, now) =>
      run(
        'sessions.touch',
        async (db) =>
          (await db.query('UPDATE sessions SET expires_at = $1 WHERE id_hash = $2 AND expires_at >= $3', [expiresAt, idHash, now]))
            .rowCount > 0,
      ),
    remove: (idHash) =>
      run('sessions.remove', async (db) => (await db.query('DELETE FROM sessions WHERE id_hash = $1', [idHash])).rowCount > 0),
    purge: (before) =>
      run('sessions.purge', async (db) => (await db.query('DELETE FROM sessions WHERE expires_at < $1', [before])).rowCount),
  };
}
