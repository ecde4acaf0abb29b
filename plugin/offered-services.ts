import type { HomeService, Identity } from '../identity';
import type { ServerInfo } from '../server-info';

export interface OfferingDeps {
  /** Every service this gateway might serve the identity. */
  names(identity: Identity): Promise<string[]>;
  allowed(identity: Identity, service: string): boolean;
  resolve(service: string, identity: Identity): Promise<readonly ServerInfo[]>;
}

/** A server's `for` names this user or their attribute: the server is theirs, not the network's. */
function isOwn(server: ServerInfo): boolean {
  return server.for !== undefined && server.for !== 'authenticated' && server.for !== 'anonymous';
}

/**
 * What a home tells a peer it serves one of its users: each service the
 * access table allows them and some server provides, marked `own` when it
 * is the user's own server (or their own home's, further along a chain).
 * Addresses go out only when `reveal`, and never for a service that is
 * itself a hop to another gateway (there is no address to give).
 */
export async function offeredServices(identity: Identity, reveal: boolean, deps: OfferingDeps): Promise<HomeService[]> {
  const offered: HomeService[] = [];
  for (const service of await deps.names(identity)) {
    if (!deps.allowed(identity, service)) continue;
    const candidates = await deps.resolve(service, identity);
    if (candidates.length === 0) continue;
    const hop = candidates.some((server) => server.tunnel);
    const fromHome = identity.kind === 'user' ? identity.user.home?.services.find((entry) => entry.service === service) : undefined;
    const entry: HomeService = { service, own: hop ? (fromHome?.own ?? false) : candidates.some(isOwn) };
    // Servers that take no login here must get none from the peer either (a service account's password is never sent).
    if (hop ? fromHome?.login === 'none' : candidates.every((server) => server.credentials === 'none')) entry.login = 'none';
    // A registered server not trusted with users' credentials is never revealed: the peer would log in there with
    // them. Without its address the peer comes through this gateway, whose login relay skips it.
    const revealable = candidates.filter((server) => !server.registered || server.registered.forwardCredentials);
    if (reveal && !hop && revealable.length > 0) {
      entry.servers = revealable.map(({ host, port, priority, tls }) => ({
        host,
        port,
        priority,
        // A CA file is a path on this machine: the peer verifies against its own CAs.
        ...(tls ? { tls: { mode: tls.mode, ...(tls.servername ? { servername: tls.servername } : {}) } } : {}),
      }));
    }
    offered.push(entry);
  }
  return offered;
}
