import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { Store } from './store';
import { REGISTRATION_COLUMNS, type RegistrationRow, registrationFromRow } from './store-rows';

/** The `registrations` table: servers added by an admin or registered by themselves. */
export function sqliteRegistrations(db: Database.Database, run: RunOperation): Store['registrations'] {
  const statements = {
    list: db.prepare<[], RegistrationRow>(`SELECT ${REGISTRATION_COLUMNS} FROM registrations ORDER BY id`),
    put: db.prepare<[RegistrationRow]>(
      `INSERT INTO registrations (${REGISTRATION_COLUMNS}) VALUES (@id, @origin, @service, @host, @port, @priority, @expires_at)
       ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, service = excluded.service, host = excluded.host,
         port = excluded.port, priority = excluded.priority, expires_at = excluded.expires_at`,
    ),
    remove: db.prepare<[string]>('DELETE FROM registrations WHERE id = ?'),
  };
  return {
    list: () => run('registrations.list', () => statements.list.all().map(registrationFromRow)),
    put: (entry) =>
      run('registrations.put', () => {
        statements.put.run({
          id: entry.id,
          origin: entry.origin,
          service: entry.service,
          host: entry.host,
          port: entry.port,
          priority: entry.priority,
          expires_at: entry.expiresAt ?? null,
        });
      }),
    remove: (id) => run('registrations.remove', () => statements.remove.run(id).changes > 0),
  };
}
