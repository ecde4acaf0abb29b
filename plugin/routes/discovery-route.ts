import { Router } from 'express';
import type { Identity } from '../../identity';
import type { ServerInfo } from '../../server-info';

export interface DiscoveryDeps {
  mode: 'gateway' | 'direct';
  publicHost?: string;
  /** The network's name and the gateway's discovery key, for local proxies to pin. */
  gateway?: { name: string; publicKey: string };
  /** The adapters listening now: service -> bound port. */
  endpoints(): ReadonlyMap<string, number>;
  /** Every service the server-info table knows. */
  services(): Promise<string[]>;
  resolve(service: string, identity: Identity): Promise<ServerInfo[]>;
}

/**
 * GET /discover: what a local proxy should use for each service.
 * In `gateway` mode only this gateway's own adapter endpoints are given (no
 * server address ever); in `direct` mode the servers themselves, in the
 * order to try them.
 */
export function discoveryRoute(deps: DiscoveryDeps): Router {
  const router = Router();
  router.get('/discover', async (req, res) => {
    const services: Record<string, Array<{ host: string; port: number }>> = {};
    if (deps.mode === 'gateway') {
      const host = deps.publicHost ?? req.hostname;
      for (const [service, port] of deps.endpoints()) services[service] = [{ host, port }];
    } else {
      const identity: Identity = { kind: 'anonymous', address: req.socket.remoteAddress ?? '' };
      for (const service of await deps.services()) {
        const servers = await deps.resolve(service, identity);
        if (servers.length) services[service] = servers.map(({ host, port }) => ({ host, port }));
      }
    }
    res.set('Cache-Control', 'no-store').json({ mode: deps.mode, services, ...(deps.gateway ? { gateway: deps.gateway } : {}) });
  });
  return router;
}
