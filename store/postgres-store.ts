import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { RoamgateError } from '../errors';
import { postgresAudit } from './postgres-audit';
import { failurePayload, PostgresChangeFeed } from './postgres-change-feed';
import {
  connectionConfig,
  DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS,
  DEFAULT_POSTGRES_POOL_SIZE,
  DEFAULT_POSTGRES_QUERY_TIMEOUT_MS,
  DEFAULT_POSTGRES_RETRY_INTERVAL_MS,
  describeServerFault,
  isServerFault,
  type PostgresTarget,
  postgresTarget,
} from './postgres-connection';
import { postgresLeases } from './postgres-leases';
import { CHANGE_CHANNEL, migratePostgres } from './postgres-migrations';
import { postgresPeerNonces } from './postgres-peer-nonces';
import { postgresRegistrations } from './postgres-registrations';
import { postgresRules } from './postgres-rules';
import { type PostgresSession, type RunPostgres, sessionOf } from './postgres-session';
import { postgresSessions } from './postgres-sessions';
import { postgresUsers } from './postgres-users';
import { type Store, type StoreChanges, type StoreHealth, StoreUnavailableError } from './store';

export {
  DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS,
  DEFAULT_POSTGRES_POOL_SIZE,
  DEFAULT_POSTGRES_QUERY_TIMEOUT_MS,
  DEFAULT_POSTGRES_RETRY_INTERVAL_MS,
} from './postgres-connection';

export interface PostgresStoreOptions {
  /** Connections kept to the server at most. Default {@link DEFAULT_POSTGRES_POOL_SIZE}. */
  poolSize?: number;
  /** How long connecting may take before a call is refused (ms). Default {@link DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
  /** How long one statement may take (ms). Default {@link DEFAULT_POSTGRES_QUERY_TIMEOUT_MS}. */
  queryTimeoutMs?: number;
  /** How often a store that cannot reach its server tries again (ms). Default {@link DEFAULT_POSTGRES_RETRY_INTERVAL_MS}. */
  retryIntervalMs?: number;
  /** Whether to listen for other processes' changes (`store.changes`). Default true; a one-off command needs none. */
  changeFeed?: boolean;
}

/**
 * The store of a fleet of gateways: one PostgreSQL database through a pool of
 * node-postgres connections. Each table's statements live in a module of
 * their own (postgres-users.ts, postgres-leases.ts, ...), the schema in
 * postgres-migrations.ts, the change feed in postgres-change-feed.ts.
 *
 * The schema is brought up to date before the first call goes through (see
 * {@link openPostgresStore} to wait for it). A call that finds the server
 * down, unreachable or refusing us is rejected with a
 * {@link StoreUnavailableError} within the connect timeout, and {@link health}
 * says why (the host, what failed, what to do) until a call or the retry
 * every `retryIntervalMs` gets through again. Connections broken meanwhile
 * are dropped from the pool and new ones made; nothing here logs.
 *
 * Every connection of the pool carries this instance's origin
 * (`roamgate.origin`), which the tables' triggers put in each change they
 * announce, so that {@link changes} passes on what other instances wrote and
 * never this one's own writes.
 */
export class PostgresStore implements Store {
  /** Where the server is, without the password: for messages. */
  readonly target: PostgresTarget;
  /** This instance's origin in the change notifications. */
  readonly origin = randomUUID();
  readonly users: Store['users'];
  readonly leases: Store['leases'];
  readonly rules: Store['rules'];
  readonly registrations: Store['registrations'];
  readonly nonces: Store['nonces'];
  readonly sessions: Store['sessions'];
  readonly audit: Store['audit'];
  readonly failures: NonNullable<Store['failures']>;
  readonly changes?: StoreChanges;
  private readonly pool: Pool;
  private readonly feed: PostgresChangeFeed | undefined;
  private readonly connectTimeoutMs: number;
  private readonly poolSize: number;
  private readonly retryIntervalMs: number;
  private readonly listeners = new Set<(health: StoreHealth) => void>();
  private state: StoreHealth = { ok: true, since: Date.now() };
  private opening: Promise<number> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Makes the pool (no connection yet); the first call migrates. Most callers want {@link openPostgresStore}. */
  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.target = postgresTarget(url);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS;
    this.retryIntervalMs = options.retryIntervalMs ?? DEFAULT_POSTGRES_RETRY_INTERVAL_MS;
    this.poolSize = options.poolSize ?? DEFAULT_POSTGRES_POOL_SIZE;
    const config = connectionConfig(url, {
      connectTimeoutMs: this.connectTimeoutMs,
      queryTimeoutMs: options.queryTimeoutMs ?? DEFAULT_POSTGRES_QUERY_TIMEOUT_MS,
    });
    this.pool = new Pool({
      ...config,
      max: this.poolSize,
      // Before a new connection is handed out: the origin its writes are announced with.
      verify: (client, done) => {
        client.query("SELECT set_config('roamgate.origin', $1, false)", [this.origin]).then(() => done(), done);
      },
    });
    // A connection lost while idle in the pool: the pool drops it; the next call finds out whether the server is there.
    this.pool.on('error', () => undefined);
    // A connection lost while a call holds it between two statements: that call's next statement fails.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    if (options.changeFeed !== false) {
      this.feed = new PostgresChangeFeed({ ...config, application_name: `roamgate-feed ${this.origin}` }, this.origin);
      this.changes = this.feed;
    }
    const run: RunPostgres = (operation, body) => this.run(operation, body);
    this.users = postgresUsers(run);
    this.leases = postgresLeases(run);
    this.rules = postgresRules(run);
    this.registrations = postgresRegistrations(run);
    this.nonces = postgresPeerNonces(run);
    this.sessions = postgresSessions(run);
    this.audit = postgresAudit(run);
    this.failures = {
      record: (scope, key, _at) =>
        run('failures.record', async (db) => {
          // Nothing is kept: the others count it as they hear it. A key too long to announce is counted here only.
          const payload = failurePayload(scope, key, this.origin);
          if (payload !== undefined) await db.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, payload]);
        }),
    };
  }

  /** Migrates the database and starts the change feed, once; the first call of all waits for it. Returns the schema version. */
  open(): Promise<number> {
    if (this.closed) return Promise.reject(new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'store: open after the store was closed'));
    this.opening ??= this.migrate().catch((error: unknown) => {
      // A database newer than this code stays refused; anything else (no server, no rights yet) is tried again by the next call.
      if (!(error instanceof RoamgateError && error.code === 'ROAMGATE_INVALID_OPTIONS')) this.opening = undefined;
      throw error;
    });
    return this.opening;
  }

  schemaVersion(): Promise<number> {
    if (this.closed) return Promise.reject(new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'store: schemaVersion after the store was closed'));
    return this.open();
  }

  /** How many rows its tables hold (for `roamgate store copy`, and for operators). */
  counts(): Promise<Record<'users' | 'leases' | 'rules' | 'registrations' | 'audit', number>> {
    return this.run('counts', async (db) => {
      const tables = ['users', 'leases', 'rules', 'registrations', 'audit'] as const;
      const { rows } = await db.query<Record<(typeof tables)[number], number>>(
        `SELECT ${tables.map((table) => `(SELECT count(*) FROM ${table}) AS ${table}`).join(', ')}`,
      );
      return rows[0]!;
    });
  }

  /** Whether the store can be used now, as the last call or retry found it. */
  health(): StoreHealth {
    return this.state;
  }

  onHealthChange(listener: (health: StoreHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes the pool and the change feed; later calls reject. Closing again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.feed?.close();
    await this.opening?.catch(() => undefined);
    await this.pool.end();
  }

  private async migrate(): Promise<number> {
    const version = await this.withConnection('open', (client) => migratePostgres(client));
    // Listening before the first call reads anything: what others write from now on is heard.
    await this.feed?.start();
    return version;
  }

  /** Runs one call: waits for the schema, takes a connection, and turns every failure into a RoamgateError. */
  private async run<T>(operation: string, body: (session: PostgresSession) => Promise<T>): Promise<T> {
    if (this.closed) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', `store: ${operation} after the store was closed`);
    await this.open();
    return this.withConnection(operation, (client) => body(sessionOf(client)));
  }

  private async withConnection<T>(operation: string, body: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      // Every connection busy for the whole connect timeout: this process is overloaded, the server is not gone.
      if (this.state.ok && !this.closed && this.pool.totalCount >= this.poolSize && this.pool.idleCount === 0) {
        const busy = `all ${this.poolSize} connections to ${this.target.host}:${this.target.port} stayed busy for ${this.connectTimeoutMs} ms`;
        throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${operation} failed: ${busy} (raise store.poolSize)`, { cause: error });
      }
      throw this.failure(operation, error);
    }
    let broken: Error | undefined;
    try {
      const result = await body(client);
      if (!this.state.ok) this.settle(undefined);
      return result;
    } catch (error) {
      // A connection that failed is not given back to the pool for the next call.
      if (isServerFault(error)) broken = error as Error;
      throw this.failure(operation, error);
    } finally {
      client.release(broken);
    }
  }

  /** The RoamgateError a failed call rejects with; one that says the server cannot be used makes the store unhealthy. */
  private failure(operation: string, error: unknown): RoamgateError {
    if (error instanceof RoamgateError) return error;
    if (this.closed) return new RoamgateError('ROAMGATE_SHUTTING_DOWN', `store: ${operation} after the store was closed`, { cause: error });
    if (isServerFault(error)) {
      this.settle(describeServerFault(this.target, error, this.connectTimeoutMs));
      return new StoreUnavailableError(operation, this.state, { cause: error });
    }
    return new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${operation} failed: ${(error as Error).message}`, { cause: error });
  }

  /**
   * Takes a reason (none: usable) as the state. The listeners hear when the
   * store becomes unusable or usable again; while it stays unusable, the
   * reason is kept up to date (refused, then starting up...) without a word.
   */
  private settle(reason: string | undefined): void {
    if (reason === undefined ? this.state.ok : this.state.reason === reason) return;
    if (reason !== undefined && !this.state.ok) {
      this.state = { ...this.state, reason };
      return;
    }
    this.state = reason === undefined ? { ok: true, since: Date.now() } : { ok: false, problem: 'unreachable', reason, since: Date.now() };
    if (!this.state.ok) this.scheduleRetry();
    for (const listener of this.listeners) {
      try {
        listener(this.state);
      } catch {
        // A listener's failure is its own; the store's state stands.
      }
    }
  }

  /** While not usable, a statement every retryIntervalMs: health turns ok again even when no call comes. */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state.ok || this.closed) return;
      this.withConnection('retry', (client) => client.query('SELECT 1')).then(
        () => undefined,
        () => this.scheduleRetry(),
      );
    }, this.retryIntervalMs);
    this.retryTimer.unref();
  }
}

/**
 * Opens the PostgreSQL store at `url` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`),
 * brings its schema up to date and starts its change feed. Throws
 * ROAMGATE_INVALID_OPTIONS for a URL that is not PostgreSQL's or a database
 * written by a newer roamgate, a StoreUnavailableError (ROAMGATE_SOURCE_FAILED)
 * naming the host and the fix when the server cannot be used; messages never
 * carry the password.
 * @example
 * const store = await openPostgresStore('postgres://roamgate:secret@db.example.org/roamgate');
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const store = new PostgresStore(url, options);
  try {
    await store.open();
    return store;
  } catch (error) {
    await store.close();
    throw error;
  }
}
