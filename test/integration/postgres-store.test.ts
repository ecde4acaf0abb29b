import { createServer, type Server, type Socket } from 'node:net';
import { Client } from 'pg';
import { isRoamgateError } from '../../errors';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from '../../store/postgres-migrations';
import { openPostgresStore, PostgresStore } from '../../store/postgres-store';
import { isStoreUnavailable, type StoreChange, type StoreHealth } from '../../store/store';
import { hashPassword } from '../../plugin/password';
import { startGateway } from '../helpers/gateway';
import { POSTGRES_TEST_PASSWORD, type PostgresServer, startPostgres } from '../helpers/postgres';
import { until } from '../helpers/until';
import { alice, lease, rule, T } from '../unit/store-contract-fixtures';
import { storeContract } from '../unit/store-contract';

// Every test opens a store of its own (in a schema or a database of its own), which takes a real server tens to
// hundreds of ms to make; the contract's nonce property opens 50.
jest.setTimeout(60_000);

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 30_000);
afterAll(async () => {
  await server?.close();
});

/** What `promise` rejected with, and after how long; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => ({ error, ms: Date.now() - started }),
  );
}

/** Stores a test opened, closed after it whatever happened. */
const toClose: PostgresStore[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((store) => store.close()));
});
async function open(url: string, options?: ConstructorParameters<typeof PostgresStore>[1]): Promise<PostgresStore> {
  const store = await openPostgresStore(url, options);
  toClose.push(store);
  return store;
}

// Each store in a schema of its own: a database each would take the suite minutes.
storeContract('PostgresStore', async () => openPostgresStore(await server.createSchema()));

describe('PostgresStore, PostgreSQL specifics: schema', () => {
  test('migrations are numbered 1, 2, ... with no gaps, and POSTGRES_SCHEMA_VERSION is the last', () => {
    expect(POSTGRES_MIGRATIONS.map((migration) => migration.version)).toEqual(POSTGRES_MIGRATIONS.map((_, index) => index + 1));
    expect(POSTGRES_SCHEMA_VERSION).toBe(POSTGRES_MIGRATIONS.length);
  });

  test('three stores opening one empty database at once migrate it exactly once', async () => {
    const url = await server.createDatabase();
    const database = url.slice(url.lastIndexOf('/') + 1);
    const stores = await Promise.all([1, 2, 3].map(() => open(url)));
    for (const store of stores) expect(await store.schemaVersion()).toBe(POSTGRES_SCHEMA_VERSION);
    const steps = await server.sql<{ version: number }>('SELECT version FROM roamgate_schema ORDER BY version', [], database);
    expect(steps.map((step) => step.version)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
    const tables = await server.sql<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
      [],
      database,
    );
    expect(tables.map((table) => table.name)).toEqual([
      'audit',
      'leases',
      'peer_nonces',
      'registrations',
      'roamgate_schema',
      'rules',
      'sessions',
      'users',
    ]);
    // All three work on the one schema.
    await stores[0]!.users.put(alice);
    expect(await stores[2]!.users.get('alice')).toStrictEqual(alice);
  });

  test('a database written by a newer roamgate is refused, and left as it was', async () => {
    const url = await server.createDatabase();
    const database = url.slice(url.lastIndexOf('/') + 1);
    await (await openPostgresStore(url)).close();
    await server.sql("INSERT INTO roamgate_schema (version, description, applied_at) VALUES (99, 'from the future', 0)", [], database);
    const { error } = await rejection(openPostgresStore(url));
    expect(isRoamgateError(error) && error.code).toBe('ROAMGATE_INVALID_OPTIONS');
    expect((error as Error).message).toBe(
      `store: database schema version 99 is newer than this roamgate (knows ${POSTGRES_SCHEMA_VERSION})`,
    );
    // A store made without waiting refuses its calls the same way.
    const lazy = new PostgresStore(url);
    toClose.push(lazy);
    expect(((await rejection(lazy.users.list())).error as Error).message).toMatch(/newer than this roamgate/);
    const steps = await server.sql<{ version: number }>('SELECT version FROM roamgate_schema ORDER BY version', [], database);
    expect(steps.map((step) => step.version)).toEqual([1, 99]);
  });

  test('text with U+0000 and U+0001 keeps its value and its order', async () => {
    const store = await open(await server.createDatabase());
    const ids = ['a', 'a\u0000', 'a\u0000b', 'a\u0001', 'a\u0001\u0001', 'a\u0002', 'b'];
    for (const id of [...ids].reverse()) await store.users.put({ ...alice, id, passwordHash: `h${id}` });
    expect((await store.users.list()).map((user) => user.id)).toEqual(ids);
    expect((await store.users.get('a\u0000b'))?.passwordHash).toBe('ha\u0000b');
  });
});

describe('PostgresStore, PostgreSQL specifics: two stores on one database', () => {
  test('nonces.admit raced from two stores admits each nonce exactly once, and fills a peer exactly to its limit', async () => {
    const url = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    for (let round = 0; round < 30; round++) {
      const verdicts = await Promise.all([a, b].map((store) => store.nonces.admit('peer.example', `n${round}`, T + 1000, T, 1000)));
      expect(verdicts.sort()).toEqual(['admitted', 'replayed']);
    }
    const max = 5;
    const verdicts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).nonces.admit('full.example', `m${i}`, T + 1000, T, max)),
    );
    expect(verdicts.filter((verdict) => verdict === 'admitted')).toHaveLength(max);
    expect(verdicts.filter((verdict) => verdict === 'full')).toHaveLength(12 - max);
  });

  test('what one store writes, the other reads at once', async () => {
    const url = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    await a.leases.create(lease('l1'));
    await a.rules.put(rule('r1'));
    expect(await b.leases.get('l1')).toStrictEqual(lease('l1'));
    expect(await b.leases.revoke('l1', T + 5)).toBe(true);
    expect(await a.leases.revoke('l1', T + 6)).toBe(false);
    expect(await a.rules.list()).toStrictEqual([rule('r1')]);
  });
});

describe('PostgresStore, PostgreSQL specifics: the server goes away', () => {
  test('stopped: calls are refused within the connect timeout, health says why; started again: everything is back', async () => {
    const store = await open(await server.createDatabase(), { connectTimeoutMs: 1000, retryIntervalMs: 100 });
    const changes: StoreChange[] = [];
    store.changes?.subscribe((change) => changes.push(change));
    const healths: StoreHealth[] = [];
    store.onHealthChange((health) => healths.push(health));
    await store.users.put(alice);
    await store.leases.create(lease('l1'));
    await server.stop();
    try {
      for (const call of [
        () => store.users.get('alice'),
        () => store.leases.listLive(T),
        () => store.audit.append({ at: T, type: 'x', detail: {} }),
      ]) {
        const { error, ms } = await rejection(call());
        expect(isStoreUnavailable(error)).toBe(true);
        expect(ms).toBeLessThan(1000 + 500);
      }
      const health = store.health();
      expect(health).toMatchObject({ ok: false, problem: 'unreachable' });
      expect(health.reason).toContain(`127.0.0.1:${server.port}`);
      expect(health.reason).not.toContain(POSTGRES_TEST_PASSWORD);
      // One word to the listeners, however the failure changed meanwhile (terminated, then refused).
      expect(healths).toEqual([expect.objectContaining({ ok: false, problem: 'unreachable', since: health.since })]);
    } finally {
      await server.start();
    }
    // The retry finds it back without a call; calls go through, and nothing written before was lost.
    await until(() => store.health().ok, 'health to be ok again');
    expect(healths.at(-1)?.ok).toBe(true);
    expect(await store.users.get('alice')).toStrictEqual(alice);
    expect(await store.leases.get('l1')).toStrictEqual(lease('l1'));
    // The feed lost its connection too: once back it says changes may have been missed.
    await until(() => changes.some((change) => change.table === '*'), "the feed's '*' after the outage");
  });

  test('a server that accepts but never answers: calls are refused after the connect timeout, never hang', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const store = new PostgresStore(`postgres://roamgate:${POSTGRES_TEST_PASSWORD}@127.0.0.1:${port}/nothing`, { connectTimeoutMs: 500 });
      toClose.push(store);
      const { error, ms } = await rejection(store.users.get('alice'));
      expect(isStoreUnavailable(error)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(450);
      expect(ms).toBeLessThan(1500);
      expect(store.health().reason).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port} did not answer within 500 ms`));
      expect((error as Error).message).not.toContain(POSTGRES_TEST_PASSWORD);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('every connection busy (not an outage): a call waiting for one fails after the connect timeout, health stays ok', async () => {
    const url = await server.createDatabase();
    const store = await open(url, { poolSize: 1, connectTimeoutMs: 500 });
    await store.users.put(alice);
    // Another session holds the users table: the store's one connection waits on it.
    const blocker = new Client({ connectionString: url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      const held = store.users.get('alice');
      const { error, ms } = await rejection(store.rules.list());
      expect(isRoamgateError(error) && !isStoreUnavailable(error) && error.code).toBe('ROAMGATE_SOURCE_FAILED');
      expect((error as Error).message).toMatch(/all 1 connections to 127\.0\.0\.1:\d+ stayed busy for 500 ms \(raise store\.poolSize\)/);
      expect(ms).toBeLessThan(1500);
      expect(store.health().ok).toBe(true);
      await blocker.query('COMMIT');
      expect(await held).toStrictEqual(alice);
    } finally {
      await blocker.end();
    }
  });

  test('a wrong password or a missing database is refused at once, naming the fix and never the password', async () => {
    const wrong = await rejection(openPostgresStore(server.url('postgres').replace(encodeURIComponent(POSTGRES_TEST_PASSWORD), 'not-it')));
    expect(isStoreUnavailable(wrong.error)).toBe(true);
    expect((wrong.error as Error).message).toMatch(
      /refused the login of roamgate \(28P01: .*\): check the user and password in store\.url/,
    );
    const missing = await rejection(openPostgresStore(server.url('no_such_database')));
    expect((missing.error as Error).message).toMatch(/has no database no_such_database .*: create it \(createdb no_such_database\)/);
    expect((missing.error as Error).message).not.toContain(POSTGRES_TEST_PASSWORD);
  });
});

describe('a gateway with store: { url }', () => {
  test('keeps its state in PostgreSQL, is not ready while the server is down (logged without the password), and closes its store', async () => {
    const url = await server.createDatabase();
    const store = await open(url);
    await store.users.put({ ...alice, passwordHash: await hashPassword('correct horse battery') });
    const access = [{ subject: 'authenticated', service: 'pop3', allow: true }];
    const gw = await startGateway({ store: { url, connectTimeoutMs: 1000 }, access }, true);
    const base = `http://127.0.0.1:${(gw.http!.address() as { port: number }).port}/roamgate`;
    const ready = async () => (await fetch(`${base}/readyz`)).status;
    const logIn = async () =>
      (
        await fetch(`${base}/login`, {
          method: 'POST',
          body: JSON.stringify({ username: 'alice', password: 'correct horse battery' }),
          headers: { 'content-type': 'application/json' },
        })
      ).status;
    try {
      expect(await ready()).toBe(200);
      await server.stop();
      try {
        // A login needs the store: refused as a temporary failure, and the gateway is not ready.
        expect(await logIn()).toBe(503);
        await until(async () => (await ready()) === 503, 'readyz 503 while the server is down');
      } finally {
        await server.start();
      }
      await until(async () => (await ready()) === 200, 'readyz 200 once the server is back');
      expect(await logIn()).toBe(201);
      expect((await store.leases.listLive(Date.now())).map((live) => live.userId)).toEqual(['alice']);
      const logged = gw.logger.lines.filter((line) => ['store-unusable', 'store-usable'].includes(String(line.obj.event)));
      expect(logged.map((line) => line.obj.event)).toEqual(['store-unusable', 'store-usable']);
      expect(logged[0]!.msg).toContain(`PostgreSQL at 127.0.0.1:${server.port}`);
      expect(JSON.stringify(gw.logger.lines)).not.toContain(POSTGRES_TEST_PASSWORD);
    } finally {
      await gw.close();
    }
    // The gateway opened its store, so it closed it: none of its connections is left.
    await store.close();
    const left = await server.sql("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'roamgate%'", [
      store.target.database,
    ]);
    expect(left).toEqual([]);
  });
});
