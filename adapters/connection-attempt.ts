import type { Socket } from 'node:net';
import type { AccessDecision } from '../access-decision';
import { RoamgateError, type RoamgateErrorCode } from '../errors';
import type { Identity } from '../identity';
import { formatAddress } from '../net/address';
import { type ConnectOptions, type DialWaiter, dialFirst } from '../net/connect-server';
import { endWithLastWord } from '../net/last-word';
import { type RelayResult, type RelayWatcher, startRelay } from '../net/relay';
import { DEFAULT_TCP_KEEPALIVE_MS } from '../net/tcp-keepalive';
import type { ServerInfo } from '../server-info';
import { type ConnectionRecord, type GatewayContext, isAnswer, type RelayLimits } from './gateway-context';
import type { LiveRelay, RelayProgress } from './live-relays';

type Outcome = ConnectionRecord['outcome'];

/**
 * What became of a connection that failed, by the code of its failure: the
 * one table every path records by. A client turned away (no right, no login,
 * a forbidden destination, a bad request) is `refused`; the gateway failing
 * itself is `error`; anything else is a server that could not be used.
 */
const OUTCOME_OF_FAILURE: Partial<Record<RoamgateErrorCode, Outcome>> = {
  ROAMGATE_ACCESS_DENIED: 'refused',
  ROAMGATE_LOGIN_REQUIRED: 'refused',
  ROAMGATE_LOGIN_FAILED: 'refused',
  ROAMGATE_DESTINATION_REFUSED: 'refused',
  ROAMGATE_BAD_REQUEST: 'refused',
  ROAMGATE_IDLE_TIMEOUT: 'refused',
  ROAMGATE_TOO_MANY_CLIENTS: 'refused',
  ROAMGATE_SOURCE_FAILED: 'error',
};

/** The outcome recorded for a connection that failed with `error`. */
export function outcomeOfFailure(error: RoamgateError): Outcome {
  return OUTCOME_OF_FAILURE[error.code] ?? 'unreachable';
}

/** Any thrown value as a RoamgateError (unknown failures keep their cause). */
export function asRoamgateError(error: unknown): RoamgateError {
  if (error instanceof RoamgateError) return error;
  return new RoamgateError('ROAMGATE_SOURCE_FAILED', 'internal error while choosing a server', { cause: error });
}

/** The refusal for a denied decision: anonymous clients are told a login may help. */
export function denial(identity: Identity, decision: AccessDecision): RoamgateError {
  return new RoamgateError(identity.kind === 'anonymous' ? 'ROAMGATE_LOGIN_REQUIRED' : 'ROAMGATE_ACCESS_DENIED', decision.reason);
}

/** TCP keepalive for a relay that lasts (see net/relay.ts). */
const KEEPALIVE = Object.freeze({ idleMs: DEFAULT_TCP_KEEPALIVE_MS });

/** Who a connection is until it is identified: nobody, from nowhere yet. */
const ANONYMOUS: Identity = Object.freeze({ kind: 'anonymous', address: '' });

/** Describes an identity for the record. */
export function describeIdentity(identity: Identity): string {
  return identity.kind === 'user' ? identity.user.id : 'anonymous';
}

/**
 * One attempt at a connection, from accept to record: the record, the
 * access check, tracking from the moment it is authorized (so a lease
 * revoked or a rule changed cuts it even while it connects), the servers
 * tried in the gateway's order with failover, the relay, the outcome of a
 * failure, the refusal and its linger, and the one record at the end.
 * Every adapter and the tunnel endpoint go through it, so these rules
 * cannot drift between copies. Once admitted, the attempt is itself the
 * live relay the gateway tracks, the waiter its dial reports to and the
 * watcher its relay tells: no closures are made per connection. connect()
 * and relay() return promises; a path run as one state object (the
 * transparent relay, adapters/line-relay.ts) calls dial() and startRelay()
 * and goes on from connected() and relayed() instead, with no promise.
 */
export class ConnectionAttempt implements LiveRelay, DialWaiter, RelayWatcher {
  readonly record: ConnectionRecord;
  readonly startedAt = Date.now();
  /** Who the connection is, once admitted (anonymous until then). */
  identity: Identity = ANONYMOUS;
  private untrack: (() => void) | undefined;
  private upstream: Socket | undefined;
  private cutFor: string | undefined;
  private recorded = false;
  /** When the current dial began (performance.now()), for the connect metric. */
  private dialStartedAt = 0;
  /** Where the current dial reports the servers it tries, when not to the health records. */
  private report: ConnectOptions['report'];
  /** The promise of connect(), connectFirst() or relay(), while one is pending. */
  private waiting: { resolve: (value: unknown) => void; reject: (error: unknown) => void } | undefined;

  constructor(
    protected readonly context: GatewayContext,
    readonly service: string,
    protected socket: Socket,
    initial: { outcome?: Outcome; reason?: string } = {},
  ) {
    this.record = {
      service,
      client: formatAddress(socket.remoteAddress, socket.remotePort),
      identity: 'anonymous',
      bytesFromClient: 0,
      bytesFromServer: 0,
      durationMs: 0,
      outcome: initial.outcome ?? 'error',
      ...(initial.reason === undefined ? {} : { reason: initial.reason }),
    };
  }

  /** The client's socket is now this one (after STARTTLS, a TLS socket over the first). */
  useClient(socket: Socket): void {
    this.socket = socket;
  }

  /** The client's address and port, as the connection came (LiveRelay). */
  get client(): string {
    return this.record.client;
  }

  /** Why the gateway cut this connection (a revocation, a rule change), or undefined while it has not. */
  get cut(): string | undefined {
    return this.cutFor;
  }

  /** Checks access and records who and by which rule; throws the refusal when denied. */
  authorize(identity: Identity): void {
    this.record.identity = describeIdentity(identity);
    const decision = this.context.authorize(identity, this.service);
    this.record.rule = decision.rule;
    if (!decision.allow) throw denial(identity, decision);
  }

  /** Authorizes, then registers the connection with the gateway, which may cut it from now on. */
  admit(identity: Identity): void {
    this.authorize(identity);
    this.identity = identity;
    this.untrack ??= this.context.track(this);
  }

  /** How far it has got, from the sockets' own counters (LiveRelay). */
  progress(): RelayProgress {
    return {
      ...(this.record.server === undefined ? {} : { server: this.record.server }),
      bytesFromClient: this.socket.bytesRead,
      bytesFromServer: this.upstream?.bytesRead ?? 0,
    };
  }

  /** Cuts the connection, both sockets, for `reason` (LiveRelay: a revocation, a rule change, an admin). */
  close(reason: string): void {
    this.cutFor = reason;
    this.record.reason = reason;
    this.socket.destroy();
    this.upstream?.destroy();
  }

  /**
   * The identity's servers for this service in the gateway's order, the first
   * that opens (`open`, default a plain connect) becoming the server.
   */
  connect(identity: Identity, limits: RelayLimits, open?: ConnectOptions['open']): Promise<Socket> {
    return this.promised<Socket>(() => this.dial(identity, limits, open));
  }

  /**
   * connect() without a promise, for a path that runs as one state object
   * (the transparent relay): the outcome goes to {@link connected}. The
   * servers are usually known at once, and then nothing is awaited.
   */
  protected dial(identity: Identity, limits: RelayLimits, open?: ConnectOptions['open']): void {
    let candidates: ReturnType<GatewayContext['resolve']>;
    try {
      candidates = this.context.resolve(this.service, identity);
    } catch (error) {
      this.connected(asRoamgateError(error), undefined);
      return;
    }
    if (isAnswer(candidates)) this.dialCandidates(this.service, candidates, limits, undefined, open);
    else
      candidates.then(
        (list) => this.dialCandidates(this.service, list, limits, undefined, open),
        (error: unknown) => this.connected(asRoamgateError(error), undefined),
      );
  }

  /**
   * Connects to the first of `candidates` that answers (`label` names them in
   * the failure) and keeps it as the server; each server tried is reported
   * to `report`, by default the gateway's health records.
   */
  connectFirst(
    label: string,
    candidates: readonly ServerInfo[],
    limits: RelayLimits,
    report?: ConnectOptions['report'],
    open?: ConnectOptions['open'],
  ): Promise<Socket> {
    return this.promised<Socket>(() => this.dialCandidates(label, candidates, limits, report, open));
  }

  private dialCandidates(
    label: string,
    candidates: readonly ServerInfo[],
    limits: RelayLimits,
    report: ConnectOptions['report'],
    open: ConnectOptions['open'],
  ): void {
    this.report = report;
    this.dialStartedAt = performance.now();
    // Keepalive is the relay's to turn on, once the connection has lasted (see net/relay.ts).
    dialFirst(label, candidates, { connectTimeoutMs: limits.connectTimeoutMs, keepAliveMs: 0, open }, this);
  }

  /** DialWaiter: a server tried, for its health record. */
  tried(server: ServerInfo, failure: string | null): void {
    if (this.report) this.report(server, failure);
    else this.context.reportHealth(this.service, server, failure);
  }

  /** DialWaiter: the dial is over; the metric and the server's name, then {@link connected}. */
  dialed(error: RoamgateError | null, socket: Socket | undefined, server: ServerInfo | undefined): void {
    try {
      this.context.connected?.(this.service, error ? outcomeOfFailure(error) : 'connected', performance.now() - this.dialStartedAt);
      if (server && socket) this.setServer(formatAddress(server.host, server.port), socket);
    } catch (thrown) {
      // Called from a socket's event: a failure here is this attempt's, never an uncaught one.
      socket?.destroy();
      this.connected(asRoamgateError(thrown), undefined);
      return;
    }
    this.connected(error, socket);
  }

  /** What follows a dial: the promise of connect() or connectFirst() settled. A path run as one state object goes on from here. */
  protected connected(error: RoamgateError | null, upstream: Socket | undefined): void {
    this.settle(error, upstream);
  }

  /** Names the server (for the record) and gives the connection its server socket, which a cut destroys too. */
  setServer(address: string, upstream: Socket): void {
    this.record.server = address;
    this.upstream = upstream;
    if (this.socket.destroyed) upstream.destroy();
  }

  /**
   * Whether the client is still there now that its server is reached. When it
   * is not, the server socket is closed and the record says why: the gateway's
   * cut (an access refusal, its reason recorded already) or a client that left.
   */
  clientStayed(): boolean {
    if (!this.socket.destroyed) return true;
    this.upstream?.destroy();
    if (this.cutFor !== undefined) this.record.outcome = 'refused';
    else this.record.reason = 'client left before the server answered';
    return false;
  }

  /** Relays bytes both ways until both sides close, counting them into the record. */
  relay(client: Socket, upstream: Socket, idleTimeoutMs: number): Promise<void> {
    return this.promised<void>(() => this.startRelay(client, upstream, idleTimeoutMs));
  }

  /** relay() without a promise: {@link relayed} follows when both sides have closed. */
  protected startRelay(client: Socket, upstream: Socket, idleTimeoutMs: number): void {
    this.record.outcome = 'relayed';
    if (this.cutFor === undefined) delete this.record.reason;
    startRelay(client, upstream, idleTimeoutMs, KEEPALIVE, this);
  }

  /** RelayWatcher: counts the relay's bytes into the record, then {@link relayed}. */
  relayEnded(result: RelayResult): void {
    this.record.bytesFromClient = result.bytesFromClient;
    this.record.bytesFromServer = result.bytesFromServer;
    if (result.end !== 'closed') this.record.reason ??= result.end;
    this.relayed();
  }

  /** What follows a relay: the promise of relay() settled. A path run as one state object goes on from here. */
  protected relayed(): void {
    this.settle(null, undefined);
  }

  /** A promise for what `start` sets going, settled by the step's end (connected or relayed). */
  private promised<T>(start: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting = { resolve: resolve as (value: unknown) => void, reject };
      start();
    });
  }

  private settle(error: RoamgateError | null, value: unknown): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (error) waiting?.reject(error);
    else waiting?.resolve(value);
  }

  /**
   * Records a failure and returns the error to refuse with: when the gateway
   * cut the connection, that reason as an access refusal (whatever failed
   * next only followed from it); else the error itself. The outcome comes
   * from the one table.
   */
  fail(thrown: unknown): RoamgateError {
    const error = asRoamgateError(this.cutFor === undefined ? thrown : new RoamgateError('ROAMGATE_ACCESS_DENIED', this.cutFor));
    this.upstream?.destroy();
    this.record.outcome = outcomeOfFailure(error);
    this.record.reason = error.message;
    return error;
  }

  /** Writes the refusal as the client's last word and waits for it to hang up (cut after the linger). */
  refuse(reply: string): Promise<void> {
    return endWithLastWord(this.socket, reply);
  }

  /** Untracks the connection and records it, once, however it ended. */
  finish(): void {
    if (this.recorded) return;
    this.recorded = true;
    this.untrack?.();
    this.untrack = undefined;
    this.record.durationMs = Date.now() - this.startedAt;
    this.context.record(this.record);
  }
}
