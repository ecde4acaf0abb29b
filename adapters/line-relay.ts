import type { Socket } from 'node:net';
import type { RoamgateError } from '../errors';
import { ConnectionAttempt } from './connection-attempt';
import type { GatewayContext, RelayLimits } from './gateway-context';
import type { ConnectionHandler, ConnectionOver } from './tcp-listener';

/** A line protocol (SMTP, POP3, NNTP), or any TCP service (the generic adapter), as the transparent relay sees it. */
export interface LineProtocol {
  service: string;
  /** The protocol's answer to a refusal, e.g. `421 4.3.0 ...\r\n`. */
  refusal: (error: RoamgateError) => string;
}

/**
 * The connection path for a line protocol relayed transparently (and for the
 * generic TCP adapter, which relays every client so):
 * identify -> authorize -> resolve -> connect (with failover) -> relay -> record.
 * The server's greeting reaches the client untouched. Anything the client
 * sends early (pipelining) stays buffered until the server is connected.
 * Its listener gives the client TCP_NODELAY (see TcpListenerOptions.noDelay).
 */
export function lineRelayHandler(protocol: LineProtocol, context: GatewayContext, limits: RelayLimits): ConnectionHandler {
  return (client, over) => new TransparentRelay(context, protocol, limits, client, over).start();
}

/**
 * One transparent connection, run as a single state object: each step is
 * started by the one before it (the server reached, the relay over), with no
 * promise or closure of its own; it tells the listener it is over once, after the record.
 */
class TransparentRelay extends ConnectionAttempt {
  constructor(
    context: GatewayContext,
    private readonly protocol: LineProtocol,
    private readonly limits: RelayLimits,
    client: Socket,
    private readonly over: ConnectionOver,
  ) {
    super(context, protocol.service, client);
  }

  start(): void {
    try {
      const identity = this.context.identify(this.socket);
      this.admit(identity);
      // Nothing here waits on the client: until the relay (and its idle limit) starts, the connect timeouts bound the wait.
      this.dial(identity, this.limits);
    } catch (thrown) {
      this.refuseFor(thrown);
    }
  }

  protected override connected(error: RoamgateError | null, upstream: Socket | undefined): void {
    if (error) {
      this.refuseFor(error);
      return;
    }
    try {
      if (this.clientStayed()) this.startRelay(this.socket, upstream!, this.limits.idleTimeoutMs);
      else this.end();
    } catch (thrown) {
      this.refuseFor(thrown);
    }
  }

  protected override relayed(): void {
    this.end();
  }

  /** The refusal, in the protocol, as the client's last word; then the end. */
  private refuseFor(thrown: unknown): void {
    const error = this.fail(thrown);
    const end = (): void => this.end();
    this.refuse(this.protocol.refusal(error)).then(end, end);
  }

  private end(): void {
    try {
      this.finish();
    } finally {
      this.over.done();
    }
  }
}
