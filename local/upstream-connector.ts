import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { RoamgateError } from '../errors';
import { connectFirst } from '../net/connect-server';
import { OpenList } from '../net/open-list';
import { openTunnel } from '../net/tunnel-client';
import type { ServerInfo } from '../server-info';
import type { Endpoint } from './gateway-client';
import type { GatewayLocator } from './gateway-locator';
import { type GatewayOutage, type Outage, outageMessage } from './gateway-outage';
import type { LeaseKeeper } from './lease-keeper';
import type { LocalAddress } from './network-watch';
import type { LocalService } from './options';
import type { ServiceRoutes } from './service-routes';

/**
 * Idle time before TCP keepalive probes start on the local proxy's upstream
 * sockets, tunnels and direct ones (ms): with Linux's 1 s between probes and
 * 10 probes, an idle connection to a peer gone silent is found in about 11 s.
 * A tunnel through a gateway found lost, or a socket whose local address
 * went away, is cut sooner than that (see gatewayGone, cutStranded).
 */
export const UPSTREAM_KEEPALIVE_MS = 1_000;
/**
 * A tunnel through a gateway whose event stream went silent is cut when it
 * heard nothing for this long (ms): the gateway pings every half second, so a
 * path that carried nothing to the stream for seconds and nothing to the
 * tunnel for a second shows no sign of life; a tunnel that did hear
 * something is left to TCP keepalive.
 */
export const QUIET_TUNNEL_MS = 1_000;
/** How long a client waits on a tunnel to a gateway already found lost before it is told so (ms): one back by then serves it. */
export const OUTAGE_TUNNEL_WAIT_MS = 1_000;

/** An upstream socket open for a client: through which gateway (null: straight to a server), from which local address. */
interface Upstream {
  socket: Socket;
  gateway: string | null;
  localAddress: string;
  /** When it last received anything (performance.now()). */
  heardAt: number;
}

/** An address as a socket reports it, without the IPv4-mapped prefix of a dual-stack socket. */
const plainAddress = (address: string | undefined) => (address ?? '').replace(/^::ffff:(?=\d+\.)/i, '');

function asRoamgateError(error: unknown): RoamgateError {
  return error instanceof RoamgateError
    ? error
    : new RoamgateError('ROAMGATE_SOURCE_FAILED', (error as Error).message ?? String(error), { cause: error });
}

/** A failure to open a tunnel, in the local proxy's terms: a gateway that cannot be reached is lost. */
function tunnelFailure(thrown: unknown): RoamgateError {
  const error = asRoamgateError(thrown);
  // From the tunnel client this code means the gateway itself could not be reached (a server behind it is ROAMGATE_NO_SERVER).
  if (error.code === 'ROAMGATE_UPSTREAM_REFUSED') return new RoamgateError('ROAMGATE_GATEWAY_LOST', error.message, { cause: error });
  return error;
}

/**
 * Opens the upstream side of a client connection, where the service's route
 * goes now: straight to the servers the gateway named (direct mode, in their
 * order), or through a tunnel to the gateway with the lease (logging in
 * again, once, when the gateway no longer knows the token). While the
 * gateway is lost, clients are told so at once, in words that say what
 * roamgate local is doing; the sockets it opened are cut when they cannot
 * work any more.
 */
export class UpstreamConnector {
  /** Tunnels being opened, and through which gateway: given up when that gateway is found lost. */
  private readonly attempts = new Map<AbortController, string>();
  /** Upstream sockets open for clients. */
  private readonly upstreams = new OpenList<Upstream>();

  /**
   * @param gatewayLost told when a tunnel found the gateway unreachable.
   * @param configured the gateway was given (`--gateway`): during an outage, clients hear that it is tried again.
   */
  constructor(
    private readonly connectTimeoutMs: number,
    private readonly locator: GatewayLocator,
    private readonly routes: ServiceRoutes,
    private readonly leases: LeaseKeeper,
    private readonly outage: GatewayOutage,
    private readonly gatewayLost: () => void,
    private readonly configured: boolean,
  ) {}

  /** Rejects with a RoamgateError whose message the client is shown. */
  async connect(service: LocalService): Promise<Socket> {
    try {
      if (this.leases.refusal) throw this.leases.refusal;
      const target = this.routes.route(service);
      const outage = this.outage.current;
      // Servers named for direct mode may still answer: only the way through the gateway is known to be down.
      if (outage && target.kind !== 'servers') return await this.connectDuringOutage(service, outage);
      if (target.kind === 'none') throw new RoamgateError('ROAMGATE_NO_SERVER', `${service} service unavailable: ${target.reason}`);
      if (target.kind === 'servers') return this.track(await this.connectDirect(service, target.servers), null);
      return await this.connectTunnel(service, true, this.connectTimeoutMs);
    } catch (error) {
      throw asRoamgateError(error);
    }
  }

  /**
   * The gateway was found lost: tunnels being opened through it give up; when
   * its stream went silent, open tunnels through it that heard nothing for
   * QUIET_TUNNEL_MS are cut too, so their clients reconnect (through whatever
   * gateway there is by then) instead of waiting on a dead path.
   */
  gatewayGone(outage: Outage): void {
    for (const [attempt, gateway] of this.attempts)
      if (gateway === outage.gateway) attempt.abort(new RoamgateError('ROAMGATE_GATEWAY_LOST', this.outageMessage(outage)));
    if (outage.silentMs === undefined) return;
    const now = performance.now();
    for (const upstream of this.upstreams.values())
      if (upstream.gateway === outage.gateway && now - upstream.heardAt >= QUIET_TUNNEL_MS) upstream.socket.destroy();
  }

  /** Addresses of this machine went away: the sockets sent from them cannot carry anything more, so their clients are let go now. */
  cutStranded(gone: readonly LocalAddress[]): void {
    const addresses = new Set(gone.map((entry) => entry.address));
    for (const upstream of this.upstreams.values()) if (addresses.has(upstream.localAddress)) upstream.socket.destroy();
  }

  /** While the gateway is lost: a tunnel to it is tried briefly (it may be back), else the client hears what is going on. */
  private async connectDuringOutage(service: LocalService, outage: Outage): Promise<Socket> {
    const lost = () => new RoamgateError('ROAMGATE_GATEWAY_LOST', this.outageMessage(outage));
    if (!this.leases.current || this.locator.url !== outage.gateway) throw lost();
    try {
      return await this.connectTunnel(service, false, Math.min(this.connectTimeoutMs, OUTAGE_TUNNEL_WAIT_MS));
    } catch (error) {
      if ((error as RoamgateError).code === 'ROAMGATE_UPSTREAM_TIMEOUT') throw lost();
      throw error;
    }
  }

  private outageMessage(outage: Outage): string {
    const user = this.leases.loginName();
    return outageMessage(outage, { current: this.locator.url, configured: this.configured, ...(user ? { user } : {}) });
  }

  private async connectDirect(service: LocalService, servers: readonly Endpoint[]): Promise<Socket> {
    // The gateway lists them in the order to try.
    const candidates: ServerInfo[] = servers.map((server, index) => ({ host: server.host, port: server.port, priority: index }));
    const options = { connectTimeoutMs: this.connectTimeoutMs, keepAliveMs: UPSTREAM_KEEPALIVE_MS };
    return (await connectFirst(service, candidates, options)).socket;
  }

  private async connectTunnel(service: LocalService, retry: boolean, timeoutMs: number): Promise<Socket> {
    const lease = this.leases.current;
    const gateway = this.locator.url;
    if (!lease || !gateway)
      throw new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `${service} service unavailable: not logged in at the gateway yet`);
    const attempt = new AbortController();
    this.attempts.set(attempt, gateway);
    try {
      const options = { signal: attempt.signal, keepAliveMs: UPSTREAM_KEEPALIVE_MS };
      return this.track(await openTunnel(gateway, service, lease.token, timeoutMs, options), gateway);
    } catch (thrown) {
      const error = tunnelFailure(thrown);
      if (error.code === 'ROAMGATE_GATEWAY_LOST') this.gatewayLost();
      if (error.code !== 'ROAMGATE_LOGIN_REQUIRED') throw error;
      // The gateway no longer knows the token (restarted with a fresh store, the lease ran out or was revoked): log in
      // again, once (joining a login under way), unless a newer lease is held already.
      if (this.leases.refusal) throw this.leases.refusal;
      if (!retry) throw error;
      if (this.leases.current === lease)
        await this.leases.login().catch((failure: unknown) => {
          throw this.leases.refusal ?? asRoamgateError(failure);
        });
      return this.connectTunnel(service, false, timeoutMs);
    } finally {
      this.attempts.delete(attempt);
    }
  }

  /** Keeps an upstream socket in view until it closes: where it goes, its local address, when it last heard anything. */
  private track(socket: Socket, gateway: string | null): Socket {
    if (socket.destroyed) return socket;
    const upstream: Upstream = { socket, gateway, localAddress: plainAddress(socket.localAddress), heardAt: performance.now() };
    const entry = this.upstreams.add(upstream);
    socket.once('close', () => entry.remove());
    // A tunnel comes paused (openTunnel pauses it), so listening here does not start the flow before the relay takes it.
    if (gateway !== null)
      socket.on('data', () => {
        upstream.heardAt = performance.now();
      });
    return socket;
  }
}
