import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { asRoamgateError, describeIdentity, outcomeOfFailure } from '../../adapters/connection-attempt';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import type { LiveRelay } from '../../adapters/live-relays';
import { RoamgateError } from '../../errors';
import type { ServerInfo } from '../../server-info';
import type { WebGrant } from './web-guard';
import { reachableByWeb, webTarget, type WebTarget } from './web-targets';

/** What an exchange reports to: the gateway's health reports and record. */
export interface WebExchangeSink {
  reportHealth(service: string, server: ServerInfo, failure: string | null): void;
  record(entry: ConnectionRecord): void;
}

/** Methods a proxy may send again after a failure that came once the request had reached the server (RFC 9110, 9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Whether a request carries a body: then it cannot be sent again (its bytes are gone). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A failure of the server's side with the code the failover rules read. */
function timedOut(message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = 'ETIMEDOUT';
  return error;
}

/**
 * One request (or WebSocket upgrade) through a web route, from the guard's decision to the record: its candidates
 * tried in the gateway's order, the next one only while nothing was written to the client and the request can be
 * sent again (no body; and an idempotent method once a server may have seen it); each server's health told after
 * its try; connect and silence limits on the server's connection; one record when the request ends, however it ended.
 */
export class WebExchange {
  readonly record: ConnectionRecord;
  /** The target being tried; the proxy's events for any other are an earlier attempt's. */
  target: WebTarget | undefined;
  /** The status the client was answered (for an upgrade: 101, the server's, or the gateway's refusal). */
  status: number | undefined;
  private server: ServerInfo | undefined;
  private candidates: readonly ServerInfo[] = [];
  private next = 0;
  private tried = 0;
  private allTimedOut = true;
  private proxyReq: ClientRequest | undefined;
  private upstream: Socket | undefined;
  private connected = false;
  private answered = false;
  private failed: RoamgateError | undefined;
  private untrack: (() => void) | undefined;
  private recorded = false;
  private readonly started = performance.now();

  constructor(
    private readonly sink: WebExchangeSink,
    readonly service: string,
    private readonly req: IncomingMessage,
    /** Who the request is (the guard's grant, or the identity of a refusal). */
    readonly grant: WebGrant,
  ) {
    this.record = {
      service,
      client: grant.identity.address,
      identity: describeIdentity(grant.identity),
      bytesFromClient: 0,
      bytesFromServer: 0,
      durationMs: 0,
      outcome: 'error',
      ...(grant.rule === undefined ? {} : { rule: grant.rule }),
    };
  }

  /** The guard refused the request. */
  refused(refusal: { status: number; reason: string }): void {
    this.record.outcome = 'refused';
    this.record.reason = refusal.reason;
    this.status = refusal.status;
  }

  /** Takes the candidates (in the order to try them) and moves to the first; false when there is none web can reach. */
  begin(candidates: readonly ServerInfo[]): boolean {
    this.candidates = candidates.filter(reachableByWeb);
    if (this.advance()) return true;
    this.fail(this.unavailable());
    return false;
  }

  /**
   * The upstream request for the current target: its connect may take `connectTimeoutMs`, then the server may be
   * silent for `silenceMs` (none for a WebSocket, which has its own pings).
   */
  attach(proxyReq: ClientRequest, connectTimeoutMs: number, silenceMs: number | undefined): void {
    this.proxyReq = proxyReq;
    if (proxyReq.socket) this.watch(proxyReq, proxyReq.socket, connectTimeoutMs, silenceMs);
    else proxyReq.once('socket', (socket: Socket) => this.watch(proxyReq, socket, connectTimeoutMs, silenceMs));
  }

  /** The server answered (or switched protocols): it is healthy, and this request is its. */
  answer(status?: number): void {
    this.answered = true;
    this.allTimedOut = false;
    if (status !== undefined) this.status = status;
    this.record.outcome = 'relayed';
    delete this.record.reason;
    this.sink.reportHealth(this.service, this.server!, null);
  }

  /** An upgraded WebSocket stays registered with the gateway until it closes: a revoked lease or a changed rule cuts it. */
  tracked(track: (relay: LiveRelay) => () => void): void {
    const startedAt = Date.now() - Math.round(performance.now() - this.started);
    this.untrack = track({
      service: this.service,
      identity: this.grant.identity,
      client: this.record.client,
      startedAt,
      progress: () => ({
        ...(this.record.server === undefined ? {} : { server: this.record.server }),
        bytesFromClient: this.req.socket.bytesRead,
        bytesFromServer: this.upstream?.bytesRead ?? 0,
      }),
      close: (reason) => {
        this.record.reason = reason;
        this.req.socket.destroy();
        this.upstream?.destroy();
      },
    });
  }

  /**
   * The current server failed with `error`; `pristine` when the client is still there and has been sent nothing.
   * True when the next candidate is now the target (send the request again); false when the request has failed
   * (the record says how; `failure` is what to answer, if anything can still be answered).
   */
  serverFailed(error: NodeJS.ErrnoException, pristine: boolean): boolean {
    if (this.answered) {
      this.record.reason = `server failed during the response: ${error.code ?? error.message}`;
      return false;
    }
    if (error.code !== 'ETIMEDOUT') this.allTimedOut = false;
    const failure = `${this.connected ? 'server failed' : 'connect failed'}: ${error.code ?? error.message}`;
    this.sink.reportHealth(this.service, this.server!, failure);
    // Not yet connected, the server saw nothing; once it may have, only an idempotent request is sent again.
    const resendable = pristine && !hasBody(this.req) && (!this.connected || IDEMPOTENT_METHODS.has(this.req.method ?? ''));
    if (resendable && this.advance()) return true;
    this.fail(this.unavailable());
    return false;
  }

  /** What to answer a request no server served. */
  get failure(): RoamgateError {
    return this.failed ?? this.unavailable();
  }

  /** Records a failure before any server answered: the outcome by the adapters' one table. */
  fail(thrown: unknown): RoamgateError {
    const error = asRoamgateError(thrown);
    this.failed = error;
    this.record.outcome = outcomeOfFailure(error);
    this.record.reason = error.message;
    return error;
  }

  /** The client went away: the server's request is dropped. */
  abandon(): void {
    this.proxyReq?.destroy();
  }

  /** Records the request, once: its status, the bytes of the last server's connection, how long it took. */
  finish(status: number | undefined, clientLeft: boolean): void {
    if (this.recorded) return;
    this.recorded = true;
    this.untrack?.();
    if (clientLeft) {
      this.abandon();
      this.record.reason ??= 'client left before the response was complete';
    }
    if (status !== undefined) this.record.status = status;
    if (this.upstream) {
      this.record.bytesFromClient = this.upstream.bytesWritten;
      this.record.bytesFromServer = this.upstream.bytesRead;
    }
    this.record.durationMs = Math.round(performance.now() - this.started);
    this.sink.record(this.record);
  }

  private watch(proxyReq: ClientRequest, socket: Socket, connectTimeoutMs: number, silenceMs: number | undefined): void {
    if (proxyReq !== this.proxyReq) return;
    this.upstream = socket;
    // One timeout on the server's socket (no timer of its own): the connect limit, then the silence limit, if any.
    socket.once('timeout', () =>
      proxyReq.destroy(
        timedOut(this.connected ? `the server was silent for ${silenceMs} ms` : `connect timed out after ${connectTimeoutMs} ms`),
      ),
    );
    const connected = () => {
      this.connected = true;
      socket.setTimeout(silenceMs ?? 0);
    };
    if (!socket.connecting) return connected();
    socket.setTimeout(connectTimeoutMs);
    socket.once('connect', connected);
  }

  /** Moves to the next candidate whose target can be made; false when none is left. */
  private advance(): boolean {
    while (this.next < this.candidates.length) {
      const server = this.candidates[this.next++];
      try {
        this.target = webTarget(server);
      } catch (error) {
        this.sink.reportHealth(this.service, server, `unusable: ${(error as Error).message}`);
        continue;
      }
      this.server = server;
      this.record.server = this.target.host;
      this.tried++;
      this.connected = false;
      this.proxyReq = this.upstream = undefined;
      return true;
    }
    this.target = undefined;
    return false;
  }

  private unavailable(): RoamgateError {
    if (this.tried === 0) return new RoamgateError('ROAMGATE_NO_SERVER', `no server for ${this.service}`);
    const tried = this.tried === 1 ? 'the server' : `all ${this.tried} servers`;
    return this.allTimedOut
      ? new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', `${this.service} service unavailable: ${tried} did not answer in time`)
      : new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `${this.service} service unavailable: could not reach ${tried}`);
  }
}
