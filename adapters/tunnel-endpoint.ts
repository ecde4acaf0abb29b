import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import { formatHttpResponse, httpRefusal } from '../protocols/http/status';
import { parseBearer, parseTunnelTarget } from '../protocols/http/tunnel-target';
import type { Identity } from '../identity';
import { ClientsPerAddress, DEFAULT_MAX_CLIENTS_PER_ADDRESS, PlacesPerKey } from './client-limits';
import { ConnectionAttempt, describeIdentity } from './connection-attempt';
import type { GatewayContext, RelayLimits } from './gateway-context';
import { HTTP_PROXY_SERVICE, type HttpProxyAdapter } from './http-proxy-adapter';

/** The 407 answer of the tunnel: a lease token is what it takes. */
const BEARER_CHALLENGE = 'Bearer realm="roamgate"';

/** Open tunnels at once through the endpoint, all services together (as an adapter's default `maxClients`). */
export const DEFAULT_MAX_TUNNELS = 1000;
/** Open tunnels at once on one lease: one terminal's mail, news and web programs together. */
export const DEFAULT_MAX_TUNNELS_PER_LEASE = 100;

/** How many tunnels may be open at once; past any of these the tunnel is refused with 503. */
export interface TunnelCaps {
  /** In all; default DEFAULT_MAX_TUNNELS. */
  maxTunnels: number;
  /** On one lease; default DEFAULT_MAX_TUNNELS_PER_LEASE. */
  maxTunnelsPerLease: number;
  /** From one address (an IPv6 /64 counts as one); default DEFAULT_MAX_CLIENTS_PER_ADDRESS. */
  maxTunnelsPerAddress: number;
  /** Loopback clients are not held to `maxTunnelsPerAddress`; default true. */
  loopbackExempt: boolean;
}

export interface TunnelDeps {
  context: GatewayContext;
  /** The user behind a lease token, or undefined. */
  identityOfToken(token: string, address: string): Identity | undefined;
  limits: RelayLimits;
  /** Caps on open tunnels; each one left out takes its default. */
  caps?: Partial<TunnelCaps>;
  /** The gateway's web proxy now (a reload may replace it), which serves `http-proxy` tunnels itself (allowlist and all). */
  httpProxy?: () => Pick<HttpProxyAdapter, 'handle'> | undefined;
}

/** The places open tunnels hold: in all, per lease, per address. */
class TunnelPlaces {
  private readonly all: PlacesPerKey;
  private readonly perLease: PlacesPerKey;
  private readonly perAddress: ClientsPerAddress;

  constructor(caps: TunnelCaps) {
    this.all = new PlacesPerKey(caps.maxTunnels);
    this.perLease = new PlacesPerKey(caps.maxTunnelsPerLease);
    this.perAddress = new ClientsPerAddress(caps.maxTunnelsPerAddress, caps.loopbackExempt);
  }

  /** Takes a place for one tunnel of `identity` from `address`: the function that gives it back; throws the refusal when a cap is reached. */
  take(identity: Identity & { kind: 'user' }, address: string | undefined): () => void {
    const inAll = this.all.take('');
    if (!inAll) throw tooMany(`too many tunnels open (limit ${this.all.limit})`);
    const onLease = this.perLease.take(identity.leaseId ?? `user ${identity.user.id}`);
    if (!onLease) {
      inAll();
      throw tooMany(`too many tunnels open on this lease (limit ${this.perLease.limit})`);
    }
    const fromAddress = this.perAddress.take(address);
    if (!fromAddress) {
      inAll();
      onLease();
      throw tooMany(`too many tunnels open from your address (limit ${this.perAddress.limit})`);
    }
    return () => {
      inAll();
      onLease();
      fromAddress();
    };
  }
}

function tooMany(text: string): RoamgateError {
  return new RoamgateError('ROAMGATE_TOO_MANY_CLIENTS', `${text}, try again later`);
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
  const places = new TunnelPlaces({
    maxTunnels: deps.caps?.maxTunnels ?? DEFAULT_MAX_TUNNELS,
    maxTunnelsPerLease: deps.caps?.maxTunnelsPerLease ?? DEFAULT_MAX_TUNNELS_PER_LEASE,
    maxTunnelsPerAddress: deps.caps?.maxTunnelsPerAddress ?? DEFAULT_MAX_CLIENTS_PER_ADDRESS,
    loopbackExempt: deps.caps?.loopbackExempt ?? true,
  });
  return (req: IncomingMessage, client: Socket, head: Buffer): boolean => {
    const service = parseTunnelTarget(req.url);
    if (service === null) return false;
    void serveTunnel(deps, places, service, req, client, head);
    return true;
  };
}

async function serveTunnel(
  deps: TunnelDeps,
  places: TunnelPlaces,
  service: string,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
): Promise<void> {
  client.on('error', () => undefined);
  const attempt = new ConnectionAttempt(deps.context, service, client, { outcome: 'refused', reason: 'tunnel' });
  let givePlaceBack: (() => void) | undefined;
  try {
    const token = parseBearer(req.headers['proxy-authorization']);
    const identity = token === null ? undefined : deps.identityOfToken(token, client.remoteAddress ?? '');
    if (identity?.kind !== 'user') {
      const reason = token === null ? 'tunnel without a lease token' : 'tunnel with an unknown, expired or revoked lease token';
      attempt.fail(new RoamgateError('ROAMGATE_LOGIN_REQUIRED', reason));
      return await attempt.refuse(formatHttpResponse(407, `${reason}; log in again`, BEARER_CHALLENGE));
    }
    attempt.record.identity = describeIdentity(identity);
    givePlaceBack = places.take(identity, client.remoteAddress);
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
    givePlaceBack?.();
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
  const httpProxy = deps.httpProxy?.();
  if (!httpProxy) throw new RoamgateError('ROAMGATE_ACCESS_DENIED', 'this gateway offers no web proxy');
  client.write('HTTP/1.1 200 Tunnel established\r\n\r\n');
  if (head.length) client.unshift(head);
  attempt.record.outcome = 'relayed';
  attempt.record.reason = 'web proxy tunnel';
  await httpProxy.handle(client, identity);
}
