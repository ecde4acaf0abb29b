import type { Socket } from 'node:net';
import type { RoamgateError } from '../errors';
import { ConnectionAttempt } from './connection-attempt';
import type { GatewayContext, RelayLimits } from './gateway-context';

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
export function lineRelayHandler(protocol: LineProtocol, context: GatewayContext, limits: RelayLimits) {
  return async (client: Socket): Promise<void> => {
    const attempt = new ConnectionAttempt(context, protocol.service, client);
    try {
      const identity = context.identify(client);
      attempt.admit(identity);
      // Nothing here waits on the client: until the relay (and its idle limit) starts, the connect timeouts bound the wait.
      const upstream = await attempt.connect(identity, limits);
      if (!attempt.clientStayed()) return;
      await attempt.relay(client, upstream, limits.idleTimeoutMs);
    } catch (thrown) {
      const error = attempt.fail(thrown);
      await attempt.refuse(protocol.refusal(error));
    } finally {
      attempt.finish();
    }
  };
}
