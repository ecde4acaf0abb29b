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
 */
export function lineRelayHandler(protocol: LineProtocol, context: GatewayContext, limits: RelayLimits) {
  return async (client: Socket): Promise<void> => {
    const attempt = new ConnectionAttempt(context, protocol.service, client);
    client.setNoDelay(true);
    // Until the relay starts, a client that says nothing is still bounded by the idle limit.
    const cut = () => client.destroy();
    client.setTimeout(limits.idleTimeoutMs, cut);
    try {
      const identity = context.identify(client);
      attempt.admit(identity);
      const upstream = await attempt.connect(identity, limits);
      if (!attempt.clientStayed()) return;
      // The relay keeps its own idle limit: drop this timer and its listener for the relay's lifetime.
      client.setTimeout(0);
      client.removeListener('timeout', cut);
      await attempt.relay(client, upstream, limits.idleTimeoutMs);
    } catch (thrown) {
      const error = attempt.fail(thrown);
      await attempt.refuse(protocol.refusal(error));
    } finally {
      attempt.finish();
    }
  };
}
