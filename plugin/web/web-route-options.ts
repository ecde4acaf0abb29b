import { RoamgateError } from '../../errors';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_WEB_TIMEOUT_MS } from '../defaults';
import { SERVICE_NAME } from '../option-schemas';

/**
 * Options of one `gw.web(service, options)` route.
 * @example
 * app.use('/wiki', gw.web('wiki', { path: '/wiki', timeoutMs: 120_000 }));
 */
export interface WebRouteOptions {
  /**
   * Where the host mounts the route (`/wiki`). Needed only for WebSockets through `gw.attach(server)`: upgrades under
   * this path go to this route, with the path taken off as Express takes it off a mounted route's requests.
   */
  path?: string;
  /** Send the server's own `host:port` as `Host` rather than the client's (default true). */
  changeOrigin?: boolean;
  /** How long a server may stay silent once connected before the request fails with 504 (ms); default DEFAULT_WEB_TIMEOUT_MS. */
  timeoutMs?: number;
  /** How long a connect to one server may take before the next is tried (ms); default DEFAULT_CONNECT_TIMEOUT_MS, as the adapters. */
  connectTimeoutMs?: number;
}

/** WebRouteOptions after validation: complete and frozen. */
export interface NormalizedWebRouteOptions {
  readonly path?: string;
  readonly changeOrigin: boolean;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
}

/** A mount path: `/segment` at least once, printable ASCII; no trailing slash, no query, no `.` or `..` segment (checked apart). */
const MOUNT_PATH = /^(\/[\x21-\x2e\x30-\x7e]+)+$/;

/** Checks the service name and the options of `gw.web(service, options)`; throws ROAMGATE_INVALID_OPTIONS naming the bad one. */
export function normalizeWebRouteOptions(service: unknown, options: unknown = {}): NormalizedWebRouteOptions {
  const invalid = (message: string): never => {
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message);
  };
  if (typeof service !== 'string' || !SERVICE_NAME.test(service)) invalid('web: the service must be a service name (a-z, 0-9, -)');
  const at = `web('${service}')`;
  if (typeof options !== 'object' || options === null) return invalid(`${at}: options must be an object`);
  const {
    path,
    changeOrigin = true,
    timeoutMs = DEFAULT_WEB_TIMEOUT_MS,
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
    ...unknown
  } = options as WebRouteOptions;
  const extra = Object.keys(unknown)[0];
  if (extra !== undefined) invalid(`${at}.${extra}: not an option (path, changeOrigin, timeoutMs, connectTimeoutMs)`);
  if (path !== undefined && (typeof path !== 'string' || !MOUNT_PATH.test(path) || /[?#]|\/\.\.?(\/|$)/.test(path)))
    invalid(`${at}.path must be a path like /wiki (no trailing slash)`);
  if (typeof changeOrigin !== 'boolean') invalid(`${at}.changeOrigin must be true or false`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 3_600_000) invalid(`${at}.timeoutMs must be an integer 1-3600000`);
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1 || connectTimeoutMs > 600_000)
    invalid(`${at}.connectTimeoutMs must be an integer 1-600000`);
  return Object.freeze({ ...(path === undefined ? {} : { path }), changeOrigin, timeoutMs, connectTimeoutMs });
}
