import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { Store } from './store';

/** The `sessions` table: login page sessions, keyed by a hash of the session id. */
export function sqliteSessions(db: Database.Database, run: RunOperation): Store['sessions'] {
  const statements = {
    get: db.prepare<[string, number], { data: string }>('SELECT data FROM sessions WHERE id_hash = ? AND expires_at >= ?'),
    put: db.prepare<[string, string, number]>(
      'INSERT INTO sessions (id_hash, data, expires_at) VALUES (?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at',
    ),
    touch: db.prepare<[number, string, number]>('UPDATE sessions SET expires_at = ? WHERE id_hash = ? AND expires_at >= ?'),
    remove: db.prepare<[string]>('DELETE FROM sessions WHERE id_hash = ?'),
    purge: db.prepare<[number]>('DELETE FROM sessions WHERE expires_at < ?'),
  };
  return {
    get: (idHash, now) => run('sessions.get', () => statements.get.get(idHash, now)?.data),
    put: (idHash, data, expiresAt) =>
      run('sessions.put', () => {
        statements.put.run(idHash, data, expiresAt);
      }),
    touch: (idHash, expiresAt, now) => run('sessions.touch', () => statements.touch.run(expiresAt, idHash, now).changes > 0),
    remove: (idHash) => run('sessions.remove', () => statements.remove.run(idHash).changes > 0),
    purge: (before) => run('sessions.purge', () => statements.purge.run(before).changes),
  };
}
