import fc from 'fast-check';
import { orderCandidates } from '../../adapters/order-candidates';
import type { HealthState } from '../../sources/health-monitor';
import type { ServerInfo } from '../../server-info';

/** orderCandidates as first written, without the one-server shortcut. */
function referenceOrder(servers: readonly ServerInfo[], stateOf: (server: ServerInfo) => HealthState): ServerInfo[] {
  const byPriority = servers
    .map((server, index) => ({ server, index }))
    .sort((a, b) => a.server.priority - b.server.priority || a.index - b.index)
    .map(({ server }) => server);
  const usable = byPriority.filter((server) => stateOf(server) !== 'unhealthy');
  return usable.length > 0 ? usable : byPriority;
}

describe('orderCandidates, one server or many', () => {
  test.each<HealthState>(['healthy', 'unknown', 'unhealthy'])('a lone %s server is tried', (state) => {
    const only: ServerInfo = { host: 'a', port: 25, priority: 10 };
    const servers = [only];
    const ordered = orderCandidates(servers, () => ({ state }));
    expect(ordered).toEqual([only]);
    expect(ordered[0]).toBe(only);
    // The list itself, not a copy: the result is read-only (a connection to the usual single server copies nothing).
    expect(ordered).toBe(servers);
  });

  test('agrees with the plain sort-and-filter for any list', () => {
    const anyServer = fc.record({
      host: fc.constantFrom('a', 'b', 'c', 'd'),
      port: fc.constant(25),
      priority: fc.integer({ min: 0, max: 3 }),
      state: fc.constantFrom<HealthState>('healthy', 'unknown', 'unhealthy'),
    });
    fc.assert(
      fc.property(fc.array(anyServer, { maxLength: 6 }), (entries) => {
        const states = new Map<ServerInfo, HealthState>();
        const servers = entries.map(({ state, ...server }) => {
          states.set(server, state);
          return server;
        });
        const stateOf = (server: ServerInfo) => states.get(server)!;
        expect(orderCandidates(servers, (server) => ({ state: stateOf(server) }))).toEqual(referenceOrder(servers, stateOf));
      }),
    );
  });
});
