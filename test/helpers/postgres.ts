/**
 * Debian's PostgreSQL (`apt-get install -y postgresql`, as test/interop/servers/install.sh does) as a real server
 * for the tests: a cluster of its own made with initdb in a fresh directory, listening on 127.0.0.1:<free port>
 * and on a socket in a private directory, with fsync off (a test's data need not survive a power cut). As root it
 * runs as the unprivileged `postgres` user (PostgreSQL refuses to run as root). Debian's own cluster (`main`, port
 * 5432) is never used nor started.
 *
 *   const server = await startPostgres();
 *   const url = await server.createDatabase();   // postgres://roamgate:<password>@127.0.0.1:<port>/test_1
 *   ...
 *   await server.close();                          // also killed if the test process exits first
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { refusedPort } from './net';
import { until } from './until';

/** Where Debian's postgresql-15 puts its programs. */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';
/** The superuser the tests connect as, with a password (so that URLs carry one, as in production). */
export const POSTGRES_TEST_USER = 'roamgate';
export const POSTGRES_TEST_PASSWORD = 'test-secret-Pw-9d3f';
/** A server not accepting connections by then has failed (ms). */
const START_TIMEOUT_MS = 20_000;

export interface PostgresServer {
  port: number;
  /** The URL of `database` (with the test user's password). */
  url(database: string): string;
  /** Creates a fresh, empty database; returns its URL. */
  createDatabase(): Promise<string>;
  /**
   * Creates a fresh, empty schema in one shared database (`schemas`); returns a URL whose connections use only it
   * (`search_path`). Far quicker than a database, for the many stores of the contract suite; but every schema of the
   * database shares one NOTIFY channel, so tests of the change feed take a database each.
   */
  createSchema(): Promise<string>;
  /** Runs SQL on `database` (default `postgres`) as the superuser; returns the rows. */
  sql<R = Record<string, unknown>>(text: string, params?: unknown[], database?: string): Promise<R[]>;
  /** Fast shutdown (clients are disconnected); the data stays, for start(). */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

/** uid and gid of the `postgres` user when running as root, else nothing (run as ourselves). */
function unprivileged(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Makes the cluster's data directory with initdb: UTF-8, a password for TCP logins, trust on the private socket. */
function initCluster(dir: string, user: { uid: number; gid: number } | undefined): string {
  const data = join(dir, 'data');
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${POSTGRES_TEST_PASSWORD}\n`, { mode: 0o600 });
  mkdirSync(join(dir, 'socket'));
  if (user) for (const path of [dir, passwordFile, join(dir, 'socket')]) chownSync(path, user.uid, user.gid);
  const args = ['-D', data, '-U', POSTGRES_TEST_USER, '--pwfile', passwordFile, '--auth-local=trust', '--auth-host=scram-sha-256'];
  execFileSync(join(POSTGRES_BIN, 'initdb'), [...args, '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'], {
    stdio: 'pipe',
    ...(user ?? {}),
  });
  return data;
}

/** Starts a fresh PostgreSQL cluster; throws (with its log) when it does not come up. */
export async function startPostgres(): Promise<PostgresServer> {
  if (!existsSync(join(POSTGRES_BIN, 'postgres'))) throw new Error(`${POSTGRES_BIN}/postgres is missing: apt-get install -y postgresql`);
  const user = unprivileged();
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-postgres-'));
  const data = initCluster(dir, user);
  const port = await refusedPort();
  let server: ChildProcess | undefined;
  let log = '';
  const running = () => server !== undefined && server.exitCode === null && server.signalCode === null;
  // Immediate shutdown if the test process ends first: no orphan server, whatever happened to the test.
  const killOnExit = () => server?.kill('SIGQUIT');
  process.on('exit', killOnExit);

  const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const start = async () => {
    log = '';
    const child = spawn(join(POSTGRES_BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', join(dir, 'socket'), ...settings], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(user ?? {}),
    });
    server = child;
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.once('error', (error) => (log += error.message));
    await until(
      () => /ready to accept connections/.test(log) || child.exitCode !== null,
      () => `PostgreSQL to start on port ${port}: ${log}`,
      START_TIMEOUT_MS,
    );
    if (child.exitCode !== null) throw new Error(`PostgreSQL did not start: ${log}`);
  };
  const stop = async () => {
    const child = server;
    if (!child || !running()) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT'); // fast shutdown: active transactions rolled back, clients disconnected
    await exited;
  };

  const url = (database: string) =>
    `postgres://${POSTGRES_TEST_USER}:${encodeURIComponent(POSTGRES_TEST_PASSWORD)}@127.0.0.1:${port}/${database}`;
  const sql = async <R>(text: string, params: unknown[] = [], database = 'postgres'): Promise<R[]> => {
    const client = new Client({ connectionString: url(database) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(text, params)).rows as R[];
    } finally {
      await client.end();
    }
  };
  let databases = 0;
  let schemas = 0;
  try {
    await start();
  } catch (error) {
    await stop();
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url,
    sql,
    createDatabase: async () => {
      const name = `test_${process.pid}_${++databases}`;
      await sql(`CREATE DATABASE ${name}`);
      return url(name);
    },
    createSchema: async () => {
      if (schemas === 0) await sql('CREATE DATABASE schemas');
      const name = `test_${++schemas}`;
      await sql(`CREATE SCHEMA ${name}`, [], 'schemas');
      return `${url('schemas')}?options=${encodeURIComponent(`-c search_path=${name}`)}`;
    },
    stop,
    start,
    close: async () => {
      await stop();
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
