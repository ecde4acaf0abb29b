import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStore } from '../../store/postgres-store';
import { openSqliteStore } from '../../store/sqlite-store';
import type { AuditEvent, Store } from '../../store/store';
import { runCli } from '../helpers/cli';
import { POSTGRES_TEST_PASSWORD, type PostgresServer, startPostgres } from '../helpers/postgres';
import { alice, lease, registration, rule, T } from '../unit/store-contract-fixtures';

jest.setTimeout(60_000);

let server: PostgresServer;
let dir: string;
beforeAll(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'roamgate-store-copy-'));
}, 30_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `roamgate store ...`; resolves to its exit status and output. */
async function storeCli(args: string[]): Promise<{ status: number | null; output: string }> {
  const cli = runCli(['store', ...args]);
  const status = await cli.exited;
  return { status, output: cli.output() };
}

/** The whole audit trail, oldest first, without ids (which the copy numbers anew). */
async function trail(store: Store): Promise<Array<Omit<AuditEvent, 'id'>>> {
  const events: AuditEvent[] = [];
  for (let page = await store.audit.list({ limit: 1000 }); page.length > 0; ) {
    events.push(...page);
    page = await store.audit.list({ limit: 1000, beforeId: page[page.length - 1]!.id });
  }
  return events.reverse().map(({ id: _id, ...event }) => event);
}

const now = Date.now();
const leases = [
  lease('live', { issuedAt: now, expiresAt: now + 3_600_000, tokenOnly: true }),
  lease('revoked', { issuedAt: now + 1, expiresAt: now + 3_600_000, revokedAt: now + 2 }),
  lease('expired', { issuedAt: T, expiresAt: T + 60_000, peer: 'visit.example' }),
];

/** A SQLite store with some of everything: 2 users, 2 rules, 1 registration, 3 leases, 2500 audit events. */
async function sqliteFile(name: string): Promise<string> {
  const file = join(dir, name);
  const store = openSqliteStore(file);
  await store.users.put(alice);
  await store.users.put({ ...alice, id: 'bob', disabled: true });
  await store.rules.put(rule('r1', { allow: false, reason: 'no' }));
  await store.rules.put(rule('r2', { createdAt: T + 1 }));
  await store.registrations.put(registration('registered:1', { origin: 'registered', expiresAt: now + 60_000 }));
  for (const each of leases) await store.leases.create(each);
  await store.audit.appendMany(
    Array.from({ length: 2500 }, (_, i) => ({ at: T + i, type: i % 3 === 0 ? 'login' : 'connection', actor: `u${i % 7}`, detail: { i } })),
  );
  await store.close();
  return file;
}

describe('roamgate store copy --from FILE --to URL', () => {
  test('copies everything, keeping lease states and the order and times of the audit trail; refuses a second copy unless --force', async () => {
    const file = await sqliteFile('full.db');
    const url = await server.createDatabase();
    const first = await storeCli(['copy', '--from', file, '--to', url]);
    expect(first.output).toMatch(
      /^copied .*full\.db to postgres:\/\/roamgate:\*\*\*@127\.0\.0\.1:\d+\/\w+: 2 users, 2 rules, 1 registrations, 3 leases \(1 revoked, 1 expired\), 2500 audit events\n$/,
    );
    expect(first.status).toBe(0);

    const [source, target] = [openSqliteStore(file), await openPostgresStore(url)];
    try {
      expect(await target.users.list()).toStrictEqual(await source.users.list());
      expect(await target.rules.list()).toStrictEqual(await source.rules.list());
      expect(await target.registrations.list()).toStrictEqual(await source.registrations.list());
      for (const each of leases) expect(await target.leases.get(each.id)).toStrictEqual(each);
      expect((await target.leases.listLive(Date.now())).map((live) => live.id)).toEqual(['live']);
      expect(await trail(target)).toStrictEqual(await trail(source));

      const second = await storeCli(['copy', '--from', file, '--to', url]);
      expect(second.output).toMatch(/already holds 2 users, 3 leases and 2 rules: copy into an empty database, or add --force/);
      expect(second.status).toBe(2);
      expect(second.output).not.toContain(POSTGRES_TEST_PASSWORD);

      await target.users.put({ ...alice, attributes: { changed: 'in postgres' } });
      const forced = await storeCli(['copy', '--from', file, '--to', url, '--force']);
      expect(forced.output).toMatch(/2 users, 2 rules, 1 registrations, 0 leases \(0 revoked, 0 expired, 3 already there kept\)/);
      expect(forced.status).toBe(0);
      expect(await target.users.get('alice')).toStrictEqual(alice);
    } finally {
      await Promise.all([source.close(), target.close()]);
    }
  });

  test('refusals: no such file, no URL, not a PostgreSQL URL, an unknown verb, a server that is not there (password masked)', async () => {
    const file = await sqliteFile('small.db');
    const cases: Array<[string[], RegExp]> = [
      [['copy', '--from', join(dir, 'missing.db'), '--to', server.url('x')], /missing\.db: no such file/],
      [['copy', '--from', file], /store copy needs --from FILE and --to URL/],
      [['copy', '--from', file, '--to', 'mysql://u:p@h/db'], /--to must be a URL postgres:\/\//],
      [['move'], /unknown store command move/],
      [
        ['copy', '--from', file, `--to=postgres://roamgate:${POSTGRES_TEST_PASSWORD}@127.0.0.1:1/none`],
        /PostgreSQL at 127\.0\.0\.1:1 refused the connection \(ECONNREFUSED\)/,
      ],
    ];
    for (const [args, expected] of cases) {
      const { status, output } = await storeCli(args);
      expect(output).toMatch(expected);
      expect(output).not.toContain(POSTGRES_TEST_PASSWORD);
      expect(status).toBe(2);
    }
  });
});
