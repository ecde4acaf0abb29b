import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import { formatHttpResponse, httpRefusal } from '../protocols/http/status';
import { parseBearer, parseTunnelTarget } from '../protocols/http/tunnel-target';
import type { Identity } from '../identity';
import { ConnectionAttempt } from './connection-attempt';
import type { GatewayContext, RelayLimits } from './gateway-context';
import { HTTP_PROXY_SERVICE, type HttpProxyAdapter } from './http-proxy-adapter';

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
  client.on('error', () => undefined);
  const attempt = new ConnectionAttempt(deps.context, service, client, { outcome: 'refused', reason: 'tunnel' });
  try {
    const token = parseBearer(req.headers['proxy-authorization']);
    const identity = token === null ? undefined : deps.identityOfToken(token, client.remoteAddress ?? '');
    if (identity?.kind !== 'user') {
      const reason = token === null ? 'tunnel without a lease token' : 'tunnel with an unknown, expired or revoked lease token';
      attempt.fail(new RoamgateError('ROAMGATE_LOGIN_REQUIRED', reason));
      return await attempt.refuse(formatHttpResponse(407, `${reason}; log in again`, BEARER_CHALLENGE));
    }
    if (service === HTTP_PROXY_SERVICE) return await serveWebProxyTunnel(deps, attempt, identity, client, head);
    attempt.admit(identity);
    const upstream = await attempt.connect(identity, deps.limits);
    if (!attempt.clientStayed()) return;
    client.write('HTTP/1.1 200 Tunnel established\r\n\r\n');
    if (head.length) upstream.write(head);
    await attempt.relay(client, upstream, deps.limits.idleTimeoutMs);
  } catch (thrown) {
    await attempt.refuse(httpRefusal(attempt.fail(thrown)));
  } finally {
    attempt.finish();
  }
}

/** The web proxy speaks HTTP inside the tunnel; it applies its allowlist and records each request. */
async function serveWebProxyTunnel(
  deps: TunnelDeps,
  attempt: ConnectionAttempt,
  identity: Identity,
  client: Socket,
  head: Buffer,
): Promise<void> {
  attempt.authorize(identity);
  if (!deps.httpProxy) throw new RoamgateError('ROAMGATE_ACCESS_DENIED', 'this gateway offers no web proxy');
  client.write('HTTP/1.1 200 Tunnel established\r\n\r\n');
  if (head.length) client.unshift(head);
  attempt.record.outcome = 'relayed';
  attempt.record.reason = 'web proxy tunnel';
  await deps.httpProxy.handle(client, identity);
}
