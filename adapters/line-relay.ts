import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import { connectFirst } from '../net/connect-server';
import type { ConnectionRecord, GatewayContext, RelayLimits } from './gateway-context';
import type { AccessDecision } from '../access-decision';
import { asRoamgateError, denial, describeIdentity, newConnectionRecord, trackConnection, type TrackedConnection } from './gateway-context';
import { formatAddress } from '../net/address';
import { relay } from '../net/relay';
import { REFUSAL_LINGER_MS } from './tcp-listener';

/** A line protocol (SMTP, POP3, NNTP) as the transparent relay sees it. */
export interface LineProtocol {
  service: string;
  /** The protocol's answer to a refusal, e.g. `421 4.3.0 ...\r\n`. */
  refusal: (error: RoamgateError) => string;
}

/**
 * The connection path for a line protocol relayed transparently:
 * identify -> authorize -> resolve -> connect (with failover) -> relay -> record.
 * The server's greeting reaches the client untouched. Anything the client
 * sends early (pipelining) stays buffered until the server is connected.
 */
export function lineRelayHandler(protocol: LineProtocol, context: GatewayContext, limits: RelayLimits) {
  return async (client: Socket): Promise<void> => {
    const started = Date.now();
    const entry: ConnectionRecord = newConnectionRecord(protocol.service, client);
    client.setNoDelay(true);
    // Until the relay starts, a client that says nothing is still bounded by the idle limit.
    const cut = () => client.destroy();
    client.setTimeout(limits.idleTimeoutMs, cut);
    let tracked: TrackedConnection | undefined;
    try {
      const identity: Identity = context.identify(client);
      entry.identity = describeIdentity(identity);
      const decision: AccessDecision = context.authorize(identity, protocol.service);
      entry.rule = decision.rule;
      if (!decision.allow) throw denial(identity, decision);
      tracked = trackConnection(context, protocol.service, identity, entry, client);
      const candidates = await context.resolve(protocol.service, identity);
      const { socket: upstream, server } = await connectFirst(protocol.service, candidates, {
        connectTimeoutMs: limits.connectTimeoutMs,
        report: (tried: ServerInfo, failure) => context.reportHealth(protocol.service, tried, failure),
      });
      entry.server = formatAddress(server.host, server.port);
      tracked.attach(upstream);
      if (client.destroyed) {
        upstream.destroy();
        // Cut by the gateway (an access refusal, its reason recorded already), or gone by itself.
        if (tracked.cut !== undefined) entry.outcome = 'refused';
        else entry.reason = 'client left before the server answered';
      } else {
        // The relay keeps its own idle limit: drop this timer and its listener for the relay's lifetime.
        client.setTimeout(0);
        client.removeListener('timeout', cut);
        const result = await relay(client, upstream, limits.idleTimeoutMs);
        entry.outcome = 'relayed';
        entry.bytesFromClient = result.bytesFromClient;
        entry.bytesFromServer = result.bytesFromServer;
        if (result.end !== 'closed') entry.reason ??= result.end;
      }
    } catch (thrown) {
      const error = asRoamgateError(tracked ? tracked.explain(thrown) : thrown);
      entry.outcome = error.code === 'ROAMGATE_ACCESS_DENIED' || error.code === 'ROAMGATE_LOGIN_REQUIRED' ? 'refused' : error.code === 'ROAMGATE_SOURCE_FAILED' ? 'error' : 'unreachable';
      entry.reason = error.message;
      if (!client.destroyed) {
        client.end(protocol.refusal(error));
        client.setTimeout(REFUSAL_LINGER_MS, () => client.destroy());
      }
      await new Promise<void>((resolve) => (client.closed ? resolve() : client.once('close', () => resolve())));
    } finally {
      tracked?.untrack();
      entry.durationMs = Date.now() - started;
      context.record(entry);
    }
  };
}
