import type { HomeGrant } from '../identity';
import type { ServerInfo } from '../server-info';

/**
 * Where a visitor's `service` is served: the peer's configured route for
 * it, else home when home offers it from the user's own servers, else here
 * when this network has servers for it, else home when home offers it at all.
 */
export function routeOf(
  home: HomeGrant,
  service: string,
  configured: 'home' | 'local' | undefined,
  hasLocalServers: boolean,
): 'home' | 'local' {
  const offered = home.services.find((entry) => entry.service === service);
  if (!offered) return 'local';
  if (configured) return configured;
  if (offered.own) return 'home';
  return hasLocalServers ? 'local' : 'home';
}

/**
 * The candidates for a service routed home: the real servers when the home
 * revealed them, else one hop to the home gateway's tunnel endpoint (its
 * management URL's host and port).
 */
export function homeCandidates(home: HomeGrant, service: string, homeUrl: string): ServerInfo[] {
  const offered = home.services.find((entry) => entry.service === service);
  if (offered?.servers)
    return offered.servers.map((server) => ({
      ...server,
      home: home.realm,
      ...(offered.login === 'none' ? { credentials: 'none' as const } : {}),
    }));
  const url = new URL(homeUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const hop: ServerInfo = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    priority: 0,
    home: home.realm,
    tunnel: { url: homeUrl, service, token: home.token, label: `home gateway ${home.realm}` },
  };
  if (offered?.login === 'none') hop.credentials = 'none';
  return [hop];
}
