import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { Store } from './store';
import { USER_COLUMNS, SQLITE_ROWS, type UserColumns, userRecord } from './store-rows';

type UserRow = UserColumns<string, number>;
const userFromRow = (row: UserRow) => userRecord(row, SQLITE_ROWS);

/** The `users` table: the directory's users managed with `roamgate users ...`. */
export function sqliteUsers(db: Database.Database, run: RunOperation): Store['users'] {
  const statements = {
    get: db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`),
    list: db.prepare<[], UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`),
    put: db.prepare<[UserRow]>(
      `INSERT INTO users (${USER_COLUMNS}) VALUES (@id, @password_hash, @attributes, @disabled, @created_at, @updated_at)
       ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, attributes = excluded.attributes,
         disabled = excluded.disabled, created_at = excluded.created_at, updated_at = excluded.updated_at`,
    ),
    remove: db.prepare<[string]>('DELETE FROM users WHERE id = ?'),
  };
  return {
    get: (id) =>
      run('users.get', () => {
        const row = statements.get.get(id);
        return row && userFromRow(row);
      }),
    list: () => run('users.list', () => statements.list.all().map(userFromRow)),
    put: (user) =>
      run('users.put', () => {
        statements.put.run({
          id: user.id,
          password_hash: user.passwordHash,
          attributes: JSON.stringify(user.attributes),
          disabled: user.disabled ? 1 : 0,
          created_at: user.createdAt,
          updated_at: user.updatedAt,
        });
      }),
    remove: (id) => run('users.remove', () => statements.remove.run(id).changes > 0),
  };
}
