import type { RunPostgres } from './postgres-session';
import type { Store } from './store';
import { RULE_COLUMNS, POSTGRES_ROWS, type RuleColumns, ruleRecord } from './store-rows';

type RuleRow = RuleColumns<boolean>;
const ruleFromRow = (row: RuleRow) => ruleRecord(row, POSTGRES_ROWS);

/** The `rules` table: access rules added through the admin API. */
export function postgresRules(run: RunPostgres): Store['rules'] {
  return {
    list: () =>
      run('rules.list', async (db) =>
        (await db.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM rules ORDER BY created_at, id`)).rows.map(ruleFromRow),
      ),
    get: (id) =>
      run('rules.get', async (db) => {
        const { rows } = await db.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM rules WHERE id = $1`, [id]);
        return rows[0] && ruleFromRow(rows[0]);
      }),
    put: (rule) =>
      run('rules.put', async (db) => {
        await db.query(
          `INSERT INTO rules (${RULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, service = excluded.service, allow = excluded.allow,
             reason = excluded.reason, created_at = excluded.created_at, updated_at = excluded.updated_at`,
          [rule.id, rule.subject, rule.service, rule.allow, rule.reason ?? null, rule.createdAt, rule.updatedAt],
        );
      }),
    remove: (id) => run('rules.remove', async (db) => (await db.query('DELETE FROM rules WHERE id = $1', [id])).rowCount > 0),
  };
}
