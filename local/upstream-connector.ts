import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import { connectFirst } from '../net/connect-server';
import { openTunnel } from '../net/tunnel-client';
import type { ServerInfo } from '../server-info';
import type { Endpoint } from './gateway-client';
import type { GatewayLocator } from './gateway-locator';
import type { LeaseKeeper } from './lease-keeper';
import type { LocalService } from './options';
import type { ServiceRoutes } from './service-routes';

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
 * again, once, when the gateway no longer knows the token).
 */
export class UpstreamConnector {
  /** @param gatewayLost told when a tunnel found the gateway unreachable. */
  constructor(
    private readonly connectTimeoutMs: number,
    private readonly locator: GatewayLocator,
    private readonly routes: ServiceRoutes,
    private readonly leases: LeaseKeeper,
    private readonly gatewayLost: () => void,
  ) {}

  /** Rejects with a RoamgateError whose message the client is shown. */
  async connect(service: LocalService): Promise<Socket> {
    try {
      if (this.leases.refusal) throw this.leases.refusal;
      const target = this.routes.route(service);
      if (target.kind === 'none') throw new RoamgateError('ROAMGATE_NO_SERVER', `${service} service unavailable: ${target.reason}`);
      if (target.kind === 'servers') return await this.connectDirect(service, target.servers);
      return await this.connectTunnel(service, true);
    } catch (error) {
      throw asRoamgateError(error);
    }
  }

  private async connectDirect(service: LocalService, servers: readonly Endpoint[]): Promise<Socket> {
    // The gateway lists them in the order to try.
    const candidates: ServerInfo[] = servers.map((server, index) => ({ host: server.host, port: server.port, priority: index }));
    return (await connectFirst(service, candidates, { connectTimeoutMs: this.connectTimeoutMs })).socket;
  }

  private async connectTunnel(service: LocalService, retry: boolean): Promise<Socket> {
    const lease = this.leases.current;
    const gateway = this.locator.url;
    if (!lease || !gateway)
      throw new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `${service} service unavailable: not logged in at the gateway`);
    try {
      return await openTunnel(gateway, service, lease.token, this.connectTimeoutMs);
    } catch (thrown) {
      const error = tunnelFailure(thrown);
      if (error.code === 'ROAMGATE_GATEWAY_LOST') this.gatewayLost();
      if (error.code !== 'ROAMGATE_LOGIN_REQUIRED') throw error;
      // The gateway no longer knows the token (restarted with a fresh store, or the lease ran out): log in again, once.
      if (this.leases.refusal) throw this.leases.refusal;
      if (!retry || this.leases.ended === 'revoked' || this.leases.current !== lease) throw error;
      await this.leases.login().catch((failure: unknown) => {
        throw this.leases.refusal ?? asRoamgateError(failure);
      });
      return this.connectTunnel(service, false);
    }
  }
}
