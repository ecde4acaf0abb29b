import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHANGE_RETENTION_MS, type SqliteChanges } from '../../store/sqlite-changes';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import type { StoreChange } from '../../store/store';
import { until } from '../helpers/until';

const opened: SqliteStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

function twoOnOneFile(): [SqliteStore, SqliteStore] {
  const path = join(mkdtempSync(join(tmpdir(), 'roamgate-feed-')), 'feed.db');
  const pair: [SqliteStore, SqliteStore] = [openSqliteStore(path), openSqliteStore(path)];
  opened.push(...pair);
  return pair;
}

function heardBy(store: SqliteStore): StoreChange[] {
  const heard: StoreChange[] = [];
  store.changes!.subscribe((change) => heard.push(change));
  return heard;
}

const RULE = { subject: 'anonymous', service: 'smtp', allow: true, createdAt: 1, updatedAt: 1 };

describe('the change feed of several connections on one SQLite file', () => {
  test("each connection hears the others' writes to users, leases, rules and registrations, in order, never its own", async () => {
    const [a, b] = twoOnOneFile();
    const onA = heardBy(a);
    const onB = heardBy(b);
    await a.rules.put({ id: 'r1', ...RULE });
    await a.users.put({ id: 'carol', passwordHash: 'scrypt$x', attributes: {}, disabled: false, createdAt: 1, updatedAt: 1 });
    await a.registrations.put({ id: 'reg1', origin: 'admin', service: 'pop3', host: '10.0.0.1', port: 110, priority: 0 });
    await a.leases.create({ id: 'l1', tokenHash: 'h1', userId: 'carol', attributes: {}, address: '10.0.0.9', issuedAt: 1, expiresAt: 2 });
    await a.leases.revoke('l1', 2);
    await b.rules.remove('r1');
    await until(
      () => onB.length >= 5 && onA.length >= 1,
      () => `the changes (B heard ${JSON.stringify(onB)})`,
      2000,
    );
    expect(onB).toEqual([
      { table: 'rules', id: 'r1' },
      { table: 'users', id: 'carol' },
      { table: 'registrations', id: 'reg1' },
      { table: 'leases', id: 'l1' },
      { table: 'leases', id: 'l1' },
    ]);
    expect(onA).toEqual([{ table: 'rules', id: 'r1' }]);
  });

  test('a failure recorded on one is heard on the other with its scope and key', async () => {
    const [a, b] = twoOnOneFile();
    const onB = heardBy(b);
    await a.failures!.record('login:perAddress', '10.0.0.7\u0000x', Date.now());
    await until(() => onB.length === 1, 'the failure', 2000);
    expect(onB).toEqual([{ table: 'failures', scope: 'login:perAddress', key: '10.0.0.7\u0000x' }]);
  });

  test('a reader that fell behind the rows kept hears that it must read everything again', async () => {
    const [a, b] = twoOnOneFile();
    const onB = heardBy(b);
    await a.rules.put({ id: 'r1', ...RULE });
    await until(() => onB.length === 1, 'the first change', 2000);
    // B stops reading; A writes, and the rows are pruned before B looks again.
    const feed = b.changes as SqliteChanges;
    feed.stop();
    await a.rules.put({ id: 'r2', ...RULE });
    await a.rules.put({ id: 'r3', ...RULE });
    const db = (a as unknown as { db: { prepare(sql: string): { run(...values: unknown[]): void } } }).db;
    db.prepare('DELETE FROM changes WHERE at < ?').run(Date.now() + CHANGE_RETENTION_MS);
    await a.rules.put({ id: 'r4', ...RULE });
    feed.poll();
    expect(onB).toEqual([{ table: 'rules', id: 'r1' }, { table: '*' }, { table: 'rules', id: 'r4' }]);
  });

  test('a store in memory has no feed: nobody else can write to it', () => {
    const store = openSqliteStore(':memory:');
    opened.push(store);
    expect(store.changes).toBeUndefined();
    expect(store.failures).toBeUndefined();
  });
});
