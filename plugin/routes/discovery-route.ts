import { type Request, Router } from 'express';
import type { Identity } from '../../identity';
import type { ServerInfo } from '../../server-info';

export interface DiscoveryDeps {
  mode: 'gateway' | 'direct';
  publicHost?: string;
  /** The network's name and the gateway's discovery key, for local proxies to pin. */
  gateway?: { name: string; publicKey: string };
  /** The adapters listening now: service -> bound port. */
  endpoints(): ReadonlyMap<string, number>;
  /** Every service the identity might be served (the table's, the adapters', a visitor's home's). */
  services(identity: Identity): Promise<string[]>;
  resolve(service: string, identity: Identity): Promise<readonly ServerInfo[]>;
  /** Who asks: the user of the lease token presented (a visitor with what their home vouched for), else anonymous. */
  identify(req: Request): Identity;
  /** Whether the identity may use the service (the access table). */
  allowed(identity: Identity, service: string): boolean;
}

/**
 * GET /discover: what a local proxy should use for each service.
 * In `gateway` mode only this gateway's own adapter endpoints are given (no
 * server address ever); in `direct` mode the servers themselves, in the
 * order to try them, for the one who asks: with a lease token that user's
 * servers (per-user entries; for a visitor the servers their home reveals),
 * for the services the access table allows them; without one only what
 * anonymous clients may use, and nothing when that is nothing.
 */
export function discoveryRoute(deps: DiscoveryDeps): Router {
  const router = Router();
  router.get('/discover', async (req, res) => {
    const services: Record<string, Array<{ host: string; port: number }>> = {};
    if (deps.mode === 'gateway') {
      const host = deps.publicHost ?? req.hostname;
      for (const [service, port] of deps.endpoints()) services[service] = [{ host, port }];
    } else {
      const identity = deps.identify(req);
      for (const service of await deps.services(identity)) {
        if (!deps.allowed(identity, service)) continue;
        // A hop through a visitor's home gateway is no server to connect to straight.
        const servers = (await deps.resolve(service, identity)).filter((server) => server.tunnel === undefined);
        if (servers.length) services[service] = servers.map(({ host, port }) => ({ host, port }));
      }
    }
    res.set('Cache-Control', 'no-store').json({ mode: deps.mode, services, ...(deps.gateway ? { gateway: deps.gateway } : {}) });
  });
  return router;
}
