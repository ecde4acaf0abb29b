import type { HealthStatus } from '../sources/health-monitor';
import type { ServerInfo } from '../server-info';

/**
 * The order in which to try servers: the operator's servers (options, file,
 * admin API, a custom source) before registered ones, whatever a
 * registration's priority, so a registration can only add a fallback, never
 * take a service over; within each, by priority (lower first, table order on
 * ties); healthy and not-yet-checked ones before unhealthy ones. Unhealthy
 * servers are skipped while any other remains; when every server is
 * unhealthy they are still tried, since a probe's verdict may be stale and
 * trying costs one connect timeout at most.
 */
export function orderCandidates(servers: readonly ServerInfo[], statusOf: (server: ServerInfo) => HealthStatus): readonly ServerInfo[] {
  // One server (the usual case) is tried whatever its health: nothing to order or look up, nor to copy.
  if (servers.length <= 1) return servers;
  const byPriority = servers
    .map((server, index) => ({ server, index }))
    .sort((a, b) => rank(a.server) - rank(b.server) || a.server.priority - b.server.priority || a.index - b.index)
    .map(({ server }) => server);
  const usable = byPriority.filter((server) => statusOf(server).state !== 'unhealthy');
  return usable.length > 0 ? usable : byPriority;
}

/** 0 for the operator's servers, 1 for registered ones: the first key of the order. */
function rank(server: ServerInfo): number {
  return server.registered === undefined ? 0 : 1;
}
