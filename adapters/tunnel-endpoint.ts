import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import { formatHttpResponse, httpRefusal } from '../protocols/http/status';
import { parseBearer, parseTunnelTarget } from '../protocols/http/tunnel-target';
import type { Identity } from '../identity';
import { connectFirst } from '../net/connect-server';
import type { ConnectionRecord, GatewayContext, RelayLimits } from './gateway-context';
import { asRoamgateError, newConnectionRecord, trackConnection } from './gateway-context';
import { formatAddress } from '../net/address';
import { HTTP_PROXY_SERVICE, type HttpProxyAdapter } from './http-proxy-adapter';
import { relay } from '../net/relay';

/** The 407 answer of the tunnel: a lease token is what it takes. */
const BEARER_CHALLENGE = 'Bearer realm="roamgate"';

export interface TunnelDeps {
  context: GatewayContext;
  /** The user behind a lease token, or undefined. */
  identityOfToken(token: string, address: string): Identity | undefined;
  limits: RelayLimits;
  /** The gateway's web proxy, which serves `http-proxy` tunnels itself (allowlist and all). */
  httpProxy?: HttpProxyAdapter;
}

/**
 * The tunnel endpoint on the gateway's own HTTP(S) server: a local proxy asks
 * `CONNECT <service>.roamgate:1` with `Proxy-Authorization: Bearer <lease
 * token>`, and the gateway identifies the lease, checks access, resolves and
 * relays exactly as an adapter does. One port for every service; it works
 * through TLS and NAT, and the terminal never learns a server address.
 * Returns false for CONNECT requests that are not tunnel requests.
 */
export function tunnelEndpoint(deps: TunnelDeps) {
  return (req: IncomingMessage, client: Socket, head: Buffer): boolean => {
    const service = parseTunnelTarget(req.url);
    if (service === null) return false;
    void serveTunnel(deps, service, req, client, head);
    return true;
  };
}

async function serveTunnel(deps: TunnelDeps, service: string, req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
  const { context } = deps;
  const started = Date.now();
  client.on('error', () => undefined);
  const entry: ConnectionRecord = { ...newConnectionRecord(service, client, 'refused'), reason: 'tunnel' };
  const finish = () => {
    entry.durationMs = Date.now() - started;
    context.record(entry);
  };
  const token = parseBearer(req.headers['proxy-authorization']);
  const identity = token === null ? undefined : deps.identityOfToken(token, client.remoteAddress ?? '');
  if (!identity || identity.kind !== 'user') {
    entry.reason = token === null ? 'tunnel without a lease token' : 'tunnel with an unknown, expired or revoked lease token';
    client.end(formatHttpResponse(407, `${entry.reason}; log in again`, BEARER_CHALLENGE));
    return finish();
  }
  entry.identity = identity.user.id;
  const decision = context.authorize(identity, service);
  entry.rule = decision.rule;
  if (!decision.allow) {
    entry.reason = decision.reason;
    client.end(httpRefusal(new RoamgateError('ROAMGATE_ACCESS_DENIED', decision.reason)));
    return finish();
  }
  if (service === HTTP_PROXY_SERVICE) {
    if (!deps.httpProxy) {
      entry.reason = 'this gateway offers no web proxy';
      client.end(httpRefusal(new RoamgateError('ROAMGATE_ACCESS_DENIED', entry.reason)));
      return finish();
    }
    // The web proxy speaks HTTP inside the tunnel; it applies its allowlist and records each request.
    client.write('HTTP/1.1 200 Tunnel established\r\n\r\n');
    if (head.length) client.unshift(head);
    entry.outcome = 'relayed';
    entry.reason = 'web proxy tunnel';
    await deps.httpProxy.handle(client, identity);
    return finish();
  }

  const tracked = trackConnection(context, service, identity, entry, client);
  try {
    const candidates = await context.resolve(service, identity);
    const { socket: upstream, server } = await connectFirst(service, candidates, {
      connectTimeoutMs: deps.limits.connectTimeoutMs,
      report: (tried, failure) => context.reportHealth(service, tried, failure),
    });
    entry.server = formatAddress(server.host, server.port);
    tracked.attach(upstream);
    if (client.destroyed) {
      upstream.destroy();
      // Cut by the gateway (an access refusal, its reason recorded already), or gone by itself.
      if (tracked.cut !== undefined) entry.outcome = 'refused';
      else entry.reason = 'client left before the server answered';
      return finish();
    }
    client.write('HTTP/1.1 200 Tunnel established\r\n\r\n');
    if (head.length) upstream.write(head);
    entry.outcome = 'relayed';
    entry.reason = undefined;
    const result = await relay(client, upstream, deps.limits.idleTimeoutMs);
    entry.bytesFromClient = result.bytesFromClient;
    entry.bytesFromServer = result.bytesFromServer;
    if (result.end !== 'closed') entry.reason ??= result.end;
  } catch (thrown) {
    const error = asRoamgateError(tracked.explain(thrown));
    entry.outcome = error.code === 'ROAMGATE_ACCESS_DENIED' ? 'refused' : 'unreachable';
    entry.reason = error.message;
    if (client.writable) client.end(httpRefusal(error));
  } finally {
    tracked.untrack();
  }
  finish();
}
