import type { HealthStatus } from '../sources/health-monitor';
import type { ServerInfo } from '../server-info';

/**
 * The order in which to try servers: by priority (lower first, table order on
 * ties), healthy and not-yet-checked ones before unhealthy ones. Unhealthy
 * servers are skipped while any other remains; when every server is
 * unhealthy they are still tried, since a probe's verdict may be stale and
 * trying costs one connect timeout at most.
 */
export function orderCandidates(servers: readonly ServerInfo[], statusOf: (server: ServerInfo) => HealthStatus): ServerInfo[] {
  // One server (the usual case) is tried whatever its health, so there is nothing to order or look up.
  if (servers.length <= 1) return servers.slice();
  const byPriority = servers
    .map((server, index) => ({ server, index }))
    .sort((a, b) => a.server.priority - b.server.priority || a.index - b.index)
    .map(({ server }) => server);
  const usable = byPriority.filter((server) => statusOf(server).state !== 'unhealthy');
  return usable.length > 0 ? usable : byPriority;
}
