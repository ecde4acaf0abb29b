import type { RunPostgres } from './postgres-session';
import type { Store } from './store';
import { REGISTRATION_COLUMNS, type RegistrationRow, registrationFromRow } from './store-rows';

/** The `registrations` table: servers added by an admin or registered by themselves. */
export function postgresRegistrations(run: RunPostgres): Store['registrations'] {
  return {
    list: () =>
      run('registrations.list', async (db) =>
        (await db.query<RegistrationRow>(`SELECT ${REGISTRATION_COLUMNS} FROM registrations ORDER BY id`)).rows.map(registrationFromRow),
      ),
    put: (entry) =>
      run('registrations.put', async (db) => {
        await db.query(
          `INSERT INTO registrations (${REGISTRATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, service = excluded.service, host = excluded.host,
             port = excluded.port, priority = excluded.priority, expires_at = excluded.expires_at`,
          [entry.id, entry.origin, entry.service, entry.host, entry.port, entry.priority, entry.expiresAt ?? null],
        );
      }),
    remove: (id) =>
      run('registrations.remove', async (db) => (await db.query('DELETE FROM registrations WHERE id = $1', [id])).rowCount > 0),
  };
}
