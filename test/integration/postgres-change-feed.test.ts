import { openPostgresStore, type PostgresStore } from '../../store/postgres-store';
import type { StoreChange } from '../../store/store';
import { type PostgresServer, startPostgres } from '../helpers/postgres';
import { until } from '../helpers/until';
import { alice, lease, registration, rule, T } from '../unit/store-contract-fixtures';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 30_000);
afterAll(async () => {
  await server?.close();
});

/** A store's feed, as heard: every change with the time it arrived. */
class Heard {
  readonly changes: Array<{ change: StoreChange; at: number }> = [];
  constructor(store: PostgresStore) {
    store.changes!.subscribe((change) => this.changes.push({ change, at: performance.now() }));
  }
  /** Waits for `change` (compared as JSON), at most 1 s; returns when it came. */
  async next(change: StoreChange): Promise<number> {
    const matches = (heard: { change: StoreChange }) => JSON.stringify(heard.change) === JSON.stringify(change);
    await until(
      () => this.changes.some(matches),
      () => `${JSON.stringify(change)} among ${JSON.stringify(this.changes)}`,
      1000,
      1,
    );
    return this.changes.find(matches)!.at;
  }
  list(): StoreChange[] {
    return this.changes.map((heard) => heard.change);
  }
}

let a: PostgresStore;
let b: PostgresStore;
beforeEach(async () => {
  const url = await server.createDatabase();
  [a, b] = [await openPostgresStore(url), await openPostgresStore(url)];
});
afterEach(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe('PostgresStore change feed (LISTEN/NOTIFY)', () => {
  test('every write to a cached table by one store is heard by the other within 1 s; measured', async () => {
    const onB = new Heard(b);
    const latencies: number[] = [];
    const heardWithin = async (write: () => Promise<unknown>, change: StoreChange) => {
      const started = performance.now();
      await write();
      latencies.push((await onB.next(change)) - started);
    };
    await heardWithin(() => a.users.put(alice), { table: 'users', id: 'alice' });
    await heardWithin(() => a.leases.create(lease('l1')), { table: 'leases', id: 'l1' });
    await heardWithin(() => a.rules.put(rule('r1')), { table: 'rules', id: 'r1' });
    await heardWithin(() => a.registrations.put(registration('reg1')), { table: 'registrations', id: 'reg1' });
    await heardWithin(() => a.sessions.put('session-hash', '{}', T + 1000), { table: 'sessions', id: 'session-hash' });
    await heardWithin(() => a.failures.record('login', 'alice@example.org', T), {
      table: 'failures',
      scope: 'login',
      key: 'alice@example.org',
    });
    // Changes and deletions too, and ids that need escaping in the database.
    onB.changes.length = 0;
    for (let i = 0; i < 20; i++)
      await heardWithin(() => a.leases.revoke('l1', T + i).then(() => a.users.put({ ...alice, id: `u\u0000${i}` })), {
        table: 'users',
        id: `u\u0000${i}`,
      });
    await heardWithin(() => a.users.remove('alice'), { table: 'users', id: 'alice' });
    await heardWithin(() => a.sessions.purge(T + 2000), { table: 'sessions', id: 'session-hash' });
    latencies.sort((x, y) => x - y);
    const median = latencies[Math.floor(latencies.length / 2)]!;
    process.stdout.write(
      `change feed latency over ${latencies.length} writes: median ${median.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms\n`,
    );
    expect(latencies.at(-1)).toBeLessThan(1000);
    // Nothing unchanged is announced: the revoke of an already revoked lease changed no row.
    expect(onB.list().filter((change) => change.table === 'leases')).toHaveLength(1);
  });

  test('a store never hears its own writes', async () => {
    const onA = new Heard(a);
    const onB = new Heard(b);
    await a.users.put(alice);
    await a.rules.put(rule('r1'));
    await a.failures.record('login', 'alice', T);
    // Notifications reach each listener in commit order: once A hears B's later write, it has had its chance at its own.
    await b.users.put({ ...alice, id: 'bob' });
    await onA.next({ table: 'users', id: 'bob' });
    expect(onA.list()).toEqual([{ table: 'users', id: 'bob' }]);
    await onB.next({ table: 'rules', id: 'r1' });
    expect(onB.list()).toEqual([
      { table: 'users', id: 'alice' },
      { table: 'rules', id: 'r1' },
      { table: 'failures', scope: 'login', key: 'alice' },
    ]);
  });

  test("when the listener's connection is killed, it reconnects and says '*'; then hears again", async () => {
    const onB = new Heard(b);
    const killed = await server.sql<{ killed: boolean }>(
      'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
      [`roamgate-feed ${b.origin}`],
    );
    expect(killed).toEqual([{ killed: true }]);
    await onB.next({ table: '*' });
    await a.users.put(alice);
    await onB.next({ table: 'users', id: 'alice' });
    // A's listener was left alone: it says nothing of missed changes.
    const onA = new Heard(a);
    await b.users.put({ ...alice, id: 'bob' });
    await onA.next({ table: 'users', id: 'bob' });
    expect(onA.list()).toEqual([{ table: 'users', id: 'bob' }]);
  });

  test('a change made outside roamgate (psql, no origin) is heard by every store', async () => {
    const onA = new Heard(a);
    const onB = new Heard(b);
    const database = a.target.database;
    await server.sql("UPDATE users SET disabled = true WHERE id = 'nobody'", [], database);
    await a.users.put(alice);
    await server.sql("UPDATE users SET disabled = true WHERE id = 'alice'", [], database);
    await onA.next({ table: 'users', id: 'alice' });
    await onB.next({ table: 'users', id: 'alice' });
  });
});
