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

/** Whom a connect tells how it went, once: `opened`, or `failed` (its socket destroyed). It holds the connect timer. */
interface ConnectWaiter {
  timer: NodeJS.Timeout | undefined;
  opened(socket: Socket): void;
  failed(error: RoamgateError): void;
}

/** Where a connecting socket keeps its waiter, so that its listeners are shared functions rather than closures per connect. */
const WAITER = Symbol('roamgate.connectWaiter');
type ConnectingSocket = Socket & { [WAITER]?: ConnectWaiter };

/**
 * Starts a connect to host:port that tells `waiter` once: opened, or failed
 * with a RoamgateError after `timeoutMs` or on an error. TCP keepalive
 * probes after `keepAliveMs` idle (0: keepalive left off).
 */
function startConnect(host: string, port: number, timeoutMs: number, keepAliveMs: number, waiter: ConnectWaiter): void {
  const socket: ConnectingSocket = connect({ host, port, noDelay: true, keepAlive: keepAliveMs > 0, keepAliveInitialDelay: keepAliveMs });
  socket[WAITER] = waiter;
  waiter.timer = setTimeout(connectTimedOut, timeoutMs, socket, timeoutMs);
  waiter.timer.unref();
  socket.on('error', connectFailed);
  socket.on('connect', connectOpened);
}

/** The waiter of a connect that has just ended, once (undefined after): its timer and connect listener gone. */
function settle(socket: ConnectingSocket): ConnectWaiter | undefined {
  const waiter = socket[WAITER];
  if (waiter === undefined) return undefined;
  socket[WAITER] = undefined;
  clearTimeout(waiter.timer);
  socket.removeListener('connect', connectOpened);
  return waiter;
}

function connectOpened(this: ConnectingSocket): void {
  const waiter = settle(this);
  if (waiter === undefined) return;
  this.removeListener('error', connectFailed);
  waiter.opened(this);
}

// The error listener stays on a failed socket: a destroyed socket must not raise an unhandled 'error'.
function connectFailed(this: ConnectingSocket, error: NodeJS.ErrnoException): void {
  const waiter = settle(this);
  if (waiter === undefined) return;
  this.destroy();
  waiter.failed(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `connect failed: ${error.code ?? error.message}`, { cause: error }));
}

function connectTimedOut(socket: ConnectingSocket, timeoutMs: number): void {
  const waiter = settle(socket);
  if (waiter === undefined) return;
  socket.destroy();
  waiter.failed(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', `connect timed out after ${timeoutMs} ms`));
}

/** A connect's outcome as a promise's. */
class PromisedConnect implements ConnectWaiter {
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly opened: (socket: Socket) => void,
    readonly failed: (error: RoamgateError) => void,
  ) {}
}

/**
 * Connects to one host:port, failing with a RoamgateError after `timeoutMs`; TCP keepalive probes after
 * `keepAliveMs` idle (0: keepalive left off).
 */
export function connectWithTimeout(host: string, port: number, timeoutMs: number, keepAliveMs = DEFAULT_TCP_KEEPALIVE_MS): Promise<Socket> {
  return new Promise((resolve, reject) => startConnect(host, port, timeoutMs, keepAliveMs, new PromisedConnect(resolve, reject)));
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

/** Whom a dial tells how it went (a state object, such as a connection attempt: no closures per connection). */
export interface DialWaiter {
  /** Told about each server tried: null when it opened, else why it failed (for its health record). */
  tried(server: ServerInfo, failure: string | null): void;
  /** Told once: the first server that opened and its socket, or (error set) why none did. */
  dialed(error: RoamgateError | null, socket: Socket | undefined, server: ServerInfo | undefined): void;
}

/**
 * Tries the candidates in order, each with the connect timeout, and tells
 * `waiter` of the first that answers. The error when none does names the
 * service but never a server address: it is shown to the client. A failure
 * with code ROAMGATE_ACCESS_DENIED (the server refused the user) ends the
 * dial at once. A plain server is connected without a promise; a hop or a
 * caller's own `open` goes through its promise.
 */
export function dialFirst(service: string, candidates: readonly ServerInfo[], options: DialOptions, waiter: DialWaiter): void {
  new Dial(service, candidates, options, waiter).tryNext();
}

/** How a dial opens its candidates: ConnectOptions without the report, which the waiter takes. */
export type DialOptions = Omit<ConnectOptions, 'report'>;

/** One dial through the candidates: the state its connects report to. */
class Dial implements ConnectWaiter {
  timer: NodeJS.Timeout | undefined;
  private next = 0;
  private server: ServerInfo | undefined;
  private allTimedOut = true;
  private lastFailure: RoamgateError | undefined;

  constructor(
    private readonly service: string,
    private readonly candidates: readonly ServerInfo[],
    private readonly options: DialOptions,
    private readonly waiter: DialWaiter,
  ) {}

  tryNext(): void {
    if (this.next === this.candidates.length) {
      this.waiter.dialed(this.noneOpened(), undefined, undefined);
      return;
    }
    const server = this.candidates[this.next++];
    this.server = server;
    const { open, connectTimeoutMs } = this.options;
    const keepAliveMs = this.options.keepAliveMs ?? DEFAULT_TCP_KEEPALIVE_MS;
    // A connect that throws at once (a port Node rejects) is that server's failure, like any other: the next is tried.
    try {
      if (open === undefined && !server.tunnel) startConnect(server.host, server.port, connectTimeoutMs, keepAliveMs, this);
      else
        (open ? open(server) : connectServer(server, connectTimeoutMs, keepAliveMs)).then(
          (socket) => this.opened(socket),
          (error: unknown) => this.failed(asFailure(error)),
        );
    } catch (error) {
      this.failed(asFailure(error));
    }
  }

  opened(socket: Socket): void {
    const server = this.server!;
    this.report(server, null);
    this.waiter.dialed(null, socket, server);
  }

  failed(failure: RoamgateError): void {
    if (failure.code === 'ROAMGATE_ACCESS_DENIED') {
      this.waiter.dialed(failure, undefined, undefined);
      return;
    }
    this.lastFailure = failure;
    if (failure.code !== 'ROAMGATE_UPSTREAM_TIMEOUT') this.allTimedOut = false;
    this.report(this.server!, failure.message);
    this.tryNext();
  }

  /** A report is advisory: one that throws must not end the dial (it runs in a socket's event, where a throw would be uncaught). */
  private report(server: ServerInfo, failure: string | null): void {
    try {
      this.waiter.tried(server, failure);
    } catch {
      // Nothing to do: the dial goes on, and the server's health is simply not updated this once.
    }
  }

  private noneOpened(): RoamgateError {
    const { candidates, service } = this;
    if (candidates.length === 0) return new RoamgateError('ROAMGATE_NO_SERVER', `no ${service} server is configured for you`);
    // A single hop's failure says it best (its gateway and reason).
    if (candidates.length === 1 && candidates[0].tunnel && this.lastFailure) return this.lastFailure;
    const tried = candidates.length === 1 ? 'the server' : `all ${candidates.length} servers`;
    return this.allTimedOut
      ? new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', `${service} service unavailable: ${tried} did not answer in time`)
      : new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `${service} service unavailable: could not reach ${tried}`);
  }
}

/**
 * Tries the candidates in order, each with the connect timeout, and returns
 * the first that answers (see {@link dialFirst}).
 */
export function connectFirst(
  service: string,
  candidates: readonly ServerInfo[],
  options: ConnectOptions,
): Promise<{ socket: Socket; server: ServerInfo }> {
  return new Promise((resolve, reject) => {
    dialFirst(service, candidates, options, {
      tried: (server, failure) => options.report?.(server, failure),
      dialed: (error, socket, server) => (error ? reject(error) : resolve({ socket: socket!, server: server! })),
    });
  });
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
