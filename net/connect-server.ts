import { connect, type Socket } from 'node:net';
import { RoamgateError } from '../errors';
import type { ServerInfo } from '../server-info';
import { DEFAULT_TCP_KEEPALIVE_MS } from './tcp-keepalive';
import { openTunnel } from './tunnel-client';

export interface ConnectOptions {
  connectTimeoutMs: number;
  /**
   * Idle time before TCP keepalive probes start (ms); default DEFAULT_TCP_KEEPALIVE_MS. 0: not turned on at
   * connect, for a caller that relays the socket and lets the relay turn it on if the connection lasts (net/relay.ts).
   */
  keepAliveMs?: number;
  /** Told about each attempt: null on success, else why it failed. */
  report?: (server: ServerInfo, failure: string | null) => void;
  /**
   * Opens one candidate; default {@link connectServer}. A login relay passes
   * one that also logs in there. A failure with code ROAMGATE_ACCESS_DENIED
   * (the server refused the user) ends the attempt at once: every other
   * server of the same user would be asked the same question.
   */
  open?: (server: ServerInfo) => Promise<Socket>;
}

/**
 * Connects to one host:port, failing with a RoamgateError after `timeoutMs`; TCP keepalive probes after
 * `keepAliveMs` idle (0: keepalive left off).
 */
export function connectWithTimeout(host: string, port: number, timeoutMs: number, keepAliveMs = DEFAULT_TCP_KEEPALIVE_MS): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true, keepAlive: keepAliveMs > 0, keepAliveInitialDelay: keepAliveMs });
    // on() and removeListener() rather than once(): once() allocates a wrapper per call, and this runs per connection.
    const settle = (error: Error | null) => {
      clearTimeout(timer);
      if (error === null) {
        socket.removeListener('error', onError);
        socket.removeListener('connect', onConnect);
        resolve(socket);
      } else {
        // The error listener stays: a destroyed socket must not raise an unhandled 'error'.
        socket.destroy();
        reject(error);
      }
    };
    const onError = (error: NodeJS.ErrnoException) =>
      settle(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `connect failed: ${error.code ?? error.message}`, { cause: error }));
    const onConnect = () => settle(null);
    const timer = setTimeout(
      () => settle(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', `connect timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    socket.on('error', onError);
    socket.on('connect', onConnect);
  });
}

/**
 * Opens a connection to one server: straight to it, or through another
 * gateway's tunnel endpoint when the server is a hop (a visitor's home).
 */
export function connectServer(server: ServerInfo, timeoutMs: number, keepAliveMs = DEFAULT_TCP_KEEPALIVE_MS): Promise<Socket> {
  return server.tunnel
    ? connectHop(server.tunnel, timeoutMs, keepAliveMs)
    : connectWithTimeout(server.host, server.port, timeoutMs, keepAliveMs);
}

async function connectHop(hop: NonNullable<ServerInfo['tunnel']>, timeoutMs: number, keepAliveMs: number): Promise<Socket> {
  try {
    return await openTunnel(hop.url, hop.service, hop.token, timeoutMs, { keepAliveMs });
  } catch (error) {
    const failure = error as RoamgateError;
    // The hop's own words name the gateway by URL; say who it is instead, and keep its reason when it gave one.
    if (failure.code === 'ROAMGATE_UPSTREAM_REFUSED' || failure.code === 'ROAMGATE_UPSTREAM_TIMEOUT') {
      throw new RoamgateError(failure.code, `${hop.label} cannot be reached; ${hop.service} from there is unavailable`, { cause: error });
    }
    throw new RoamgateError(failure.code, `${hop.label}: ${failure.message}`, { cause: error });
  }
}

/**
 * Tries the candidates in order, each with the connect timeout, and returns
 * the first that answers. The error thrown when none does names the service
 * but never a server address: it is shown to the client.
 */
export async function connectFirst(
  service: string,
  candidates: readonly ServerInfo[],
  options: ConnectOptions,
): Promise<{ socket: Socket; server: ServerInfo }> {
  if (candidates.length === 0) throw new RoamgateError('ROAMGATE_NO_SERVER', `no ${service} server is configured for you`);
  const open = options.open ?? ((server: ServerInfo) => connectServer(server, options.connectTimeoutMs, options.keepAliveMs));
  let allTimedOut = true;
  let lastFailure: RoamgateError | undefined;
  for (const server of candidates) {
    try {
      const socket = await open(server);
      options.report?.(server, null);
      return { socket, server };
    } catch (error) {
      const failure = asFailure(error);
      if (failure.code === 'ROAMGATE_ACCESS_DENIED') throw failure;
      lastFailure = failure;
      if (failure.code !== 'ROAMGATE_UPSTREAM_TIMEOUT') allTimedOut = false;
      options.report?.(server, failure.message);
    }
  }
  // A single hop's failure says it best (its gateway and reason).
  if (candidates.length === 1 && candidates[0].tunnel && lastFailure) throw lastFailure;
  const tried = candidates.length === 1 ? 'the server' : `all ${candidates.length} servers`;
  return allTimedOut
    ? Promise.reject(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', `${service} service unavailable: ${tried} did not answer in time`))
    : Promise.reject(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `${service} service unavailable: could not reach ${tried}`));
}

/** A failure to open a server as a RoamgateError: what is not one already is the server's failure. */
function asFailure(error: unknown): RoamgateError {
  if (error instanceof RoamgateError) return error;
  return new RoamgateError(
    'ROAMGATE_UPSTREAM_REFUSED',
    `server failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    { cause: error },
  );
}
