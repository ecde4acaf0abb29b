import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { Store } from './store';
import { RULE_COLUMNS, SQLITE_ROWS, type RuleColumns, ruleRecord } from './store-rows';

type RuleRow = RuleColumns<number>;
const ruleFromRow = (row: RuleRow) => ruleRecord(row, SQLITE_ROWS);

/** The `rules` table: access rules added through the admin API. */
export function sqliteRules(db: Database.Database, run: RunOperation): Store['rules'] {
  const statements = {
    list: db.prepare<[], RuleRow>(`SELECT ${RULE_COLUMNS} FROM rules ORDER BY created_at, id`),
    get: db.prepare<[string], RuleRow>(`SELECT ${RULE_COLUMNS} FROM rules WHERE id = ?`),
    put: db.prepare<[RuleRow]>(
      `INSERT INTO rules (${RULE_COLUMNS}) VALUES (@id, @subject, @service, @allow, @reason, @created_at, @updated_at)
       ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, service = excluded.service, allow = excluded.allow,
         reason = excluded.reason, created_at = excluded.created_at, updated_at = excluded.updated_at`,
    ),
    remove: db.prepare<[string]>('DELETE FROM rules WHERE id = ?'),
  };
  return {
    list: () => run('rules.list', () => statements.list.all().map(ruleFromRow)),
    get: (id) =>
      run('rules.get', () => {
        const row = statements.get.get(id);
        return row && ruleFromRow(row);
      }),
    put: (rule) =>
      run('rules.put', () => {
        statements.put.run({
          id: rule.id,
          subject: rule.subject,
          service: rule.service,
          allow: rule.allow ? 1 : 0,
          reason: rule.reason ?? null,
          created_at: rule.createdAt,
          updated_at: rule.updatedAt,
        });
      }),
    remove: (id) => run('rules.remove', () => statements.remove.run(id).changes > 0),
  };
}
