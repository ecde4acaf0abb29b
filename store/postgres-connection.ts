import { DatabaseError, type PoolConfig, types as pgTypes } from 'pg';
import { RoamgateError } from '../errors';

/** Connections a store keeps to the server at most. */
export const DEFAULT_POSTGRES_POOL_SIZE = 10;
/** How long connecting to the server may take before a call is refused as the store being unavailable (ms). */
export const DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS = 2_000;
/** How long one statement may take before its call fails and its connection is dropped (ms). */
export const DEFAULT_POSTGRES_QUERY_TIMEOUT_MS = 15_000;
/** How often a store that cannot reach its server tries again, so that health turns ok without traffic (ms). */
export const DEFAULT_POSTGRES_RETRY_INTERVAL_MS = 1_000;
/** How long a connection may sit unused in the pool before it is closed (ms). */
const IDLE_CONNECTION_MS = 30_000;

/** Where a store's server is, as it may be said in logs and messages: never the password. */
export interface PostgresTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  /** The URL with its password (in the user part or `?password=`) replaced by `***`. */
  masked: string;
}

/** `url` with its password replaced by `***`, for logs and messages; a URL that does not parse is not shown at all. */
export function maskPostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(a store.url that is not a URL)';
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString().replace('%2A%2A%2A', '***');
}

/** Whether `url` is a URL PostgreSQL clients take (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  try {
    return ['postgres:', 'postgresql:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/** Where `url` points, without its password. Throws ROAMGATE_INVALID_OPTIONS for what is not a postgres:// URL. */
export function postgresTarget(url: string): PostgresTarget {
  if (!isPostgresUrl(url)) {
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', 'store: the url must be postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  const parsed = new URL(url);
  const host = parsed.searchParams.get('host') ?? (decodeURIComponent(parsed.hostname) || 'localhost');
  const user =
    decodeURIComponent(parsed.username) || parsed.searchParams.get('user') || process.env.PGUSER || process.env.USER || 'postgres';
  return {
    host,
    port: Number(parsed.port || parsed.searchParams.get('port') || 5432),
    database: decodeURIComponent(parsed.pathname.slice(1)) || user,
    user,
    masked: maskPostgresUrl(url),
  };
}

/** Type parsers: BIGINT (times, ids, counts) as numbers rather than strings; every time in the store is below 2^53. */
const storeTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pgTypes.builtins.INT8 ? (value: string) => Number(value) : pgTypes.getTypeParser(oid, format)) as typeof pgTypes.getTypeParser,
};

/** The settings every connection of a store (its pool, its listener) has. */
export function connectionConfig(url: string, timeouts: { connectTimeoutMs: number; queryTimeoutMs: number }): PoolConfig {
  return {
    connectionString: url,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    query_timeout: timeouts.queryTimeoutMs,
    idleTimeoutMillis: IDLE_CONNECTION_MS,
    keepAlive: true,
    application_name: 'roamgate',
    types: storeTypes,
  };
}

/** SQLSTATEs that say the server (or the way to it) cannot be used now, not that the call was wrong. */
const SERVER_FAULT = /^(08|57P0|53300|28|3D000)/;

/** What our own code throws (a bad value, a bug): a failed call, never an unusable server. */
const PROGRAM_ERRORS: ReadonlySet<string> = new Set(['TypeError', 'RangeError', 'SyntaxError', 'ReferenceError']);

/**
 * Whether a failure says the store cannot be used now (the server is down,
 * unreachable, restarting, refuses our login) rather than that this call
 * failed. pg reports what the server said as a DatabaseError with its
 * SQLSTATE; anything else it rejects a call with is about the connection
 * (refused, reset, timed out, terminated); a TypeError or SyntaxError is ours.
 * Errors are told by name, not class: Node's own come from another realm
 * under some runners (Jest).
 */
export function isServerFault(error: unknown): boolean {
  if (error instanceof DatabaseError) return SERVER_FAULT.test(error.code ?? '');
  if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') return false;
  return !(error instanceof RoamgateError) && !PROGRAM_ERRORS.has((error as Error).name);
}

/** One line naming the server, what failed and what to do about it. */
export function describeServerFault(target: PostgresTarget, error: unknown, connectTimeoutMs: number): string {
  const at = `PostgreSQL at ${target.host}:${target.port}`;
  const message = typeof (error as Error | undefined)?.message === 'string' ? (error as Error).message : String(error);
  const code = (error as { code?: unknown }).code;
  if (error instanceof DatabaseError) {
    const said = `(${error.code}: ${message})`;
    if (error.code === '3D000') return `${at} has no database ${target.database} ${said}: create it (createdb ${target.database})`;
    if (error.code?.startsWith('28')) return `${at} refused the login of ${target.user} ${said}: check the user and password in store.url`;
    if (error.code === '53300') return `${at} has no connection left ${said}: lower store.poolSize or raise its max_connections`;
    if (error.code?.startsWith('57P0')) return `${at} is shutting down or starting ${said}: start it, or wait until it is up`;
    return `${at} failed ${said}: check the server's log`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `cannot find the host ${target.host} (${code}): check the host in store.url and DNS`;
  if (code === 'ECONNREFUSED')
    return `${at} refused the connection (ECONNREFUSED): start the server, or check the host and port in store.url`;
  if (typeof code === 'string') return `cannot reach ${at} (${code}: ${message}): check that the server is up and the network to it`;
  if (/timeout/i.test(message))
    return `${at} did not answer within ${connectTimeoutMs} ms (${message}): check that the server is up and the network to it`;
  return `lost the connection to ${at} (${message}): check that the server is up and the network to it`;
}
