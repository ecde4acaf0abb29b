import type { RunPostgres } from './postgres-session';
import type { Store } from './store';
import { USER_COLUMNS, POSTGRES_ROWS, type UserColumns, userRecord } from './store-rows';

type UserRow = UserColumns<unknown, boolean>;
const userFromRow = (row: UserRow) => userRecord(row, POSTGRES_ROWS);

/** The `users` table: the directory's users managed with `roamgate users ...`. */
export function postgresUsers(run: RunPostgres): Store['users'] {
  return {
    get: (id) =>
      run('users.get', async (db) => {
        const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
        return rows[0] && userFromRow(rows[0]);
      }),
    list: () =>
      run('users.list', async (db) => (await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`)).rows.map(userFromRow)),
    put: (user) =>
      run('users.put', async (db) => {
        await db.query(
          `INSERT INTO users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, attributes = excluded.attributes,
             disabled = excluded.disabled, created_at = excluded.created_at, updated_at = excluded.updated_at`,
          [user.id, user.passwordHash, JSON.stringify(user.attributes), user.disabled, user.createdAt, user.updatedAt],
        );
      }),
    remove: (id) => run('users.remove', async (db) => (await db.query('DELETE FROM users WHERE id = $1', [id])).rowCount > 0),
  };
}
