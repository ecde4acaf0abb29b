import { orderCandidates } from '../../adapters/order-candidates';
import type { HealthState } from '../../sources/health-monitor';
import type { ServerInfo } from '../../server-info';

const server = (host: string, priority: number): ServerInfo => ({ host, port: 25, priority });

/** Orders the servers given as [host, priority, health] and returns the hosts in order. */
function order(servers: [string, number, HealthState][]): string[] {
  const health = new Map(servers.map(([host, , state]) => [host, state]));
  return orderCandidates(
    servers.map(([host, priority]) => server(host, priority)),
    (candidate) => ({ state: health.get(candidate.host)! }),
  ).map((candidate) => candidate.host);
}

describe('orderCandidates by priority', () => {
  test.each<[string, [string, number, HealthState][], string[]]>([
    ['no servers', [], []],
    [
      'lower priority first',
      [
        ['b', 20, 'healthy'],
        ['a', 10, 'healthy'],
        ['c', 30, 'healthy'],
      ],
      ['a', 'b', 'c'],
    ],
    [
      'priority 0 is the most preferred',
      [
        ['b', 10, 'healthy'],
        ['a', 0, 'healthy'],
      ],
      ['a', 'b'],
    ],
    [
      'ties keep table order',
      [
        ['x', 10, 'healthy'],
        ['y', 10, 'healthy'],
        ['z', 10, 'healthy'],
        ['w', 5, 'healthy'],
      ],
      ['w', 'x', 'y', 'z'],
    ],
  ])('%s', (_name, servers, expected) => {
    expect(order(servers)).toEqual(expected);
  });
});

describe('orderCandidates by health', () => {
  test.each<[string, [string, number, HealthState][], string[]]>([
    [
      'an unhealthy server is skipped while others remain',
      [
        ['a', 10, 'unhealthy'],
        ['b', 20, 'healthy'],
      ],
      ['b'],
    ],
    [
      'several unhealthy skipped, order of the rest kept',
      [
        ['a', 1, 'unhealthy'],
        ['b', 2, 'healthy'],
        ['c', 3, 'unhealthy'],
        ['d', 4, 'unknown'],
      ],
      ['b', 'd'],
    ],
    [
      'unknown counts as usable',
      [
        ['a', 10, 'unknown'],
        ['b', 20, 'healthy'],
      ],
      ['a', 'b'],
    ],
    [
      'only unknown and unhealthy: unknown kept',
      [
        ['a', 10, 'unhealthy'],
        ['b', 20, 'unknown'],
      ],
      ['b'],
    ],
    [
      'all unhealthy: all tried in priority order',
      [
        ['c', 30, 'unhealthy'],
        ['a', 10, 'unhealthy'],
        ['b', 20, 'unhealthy'],
      ],
      ['a', 'b', 'c'],
    ],
    [
      'all unhealthy with ties: table order',
      [
        ['b', 10, 'unhealthy'],
        ['a', 10, 'unhealthy'],
      ],
      ['b', 'a'],
    ],
  ])('%s', (_name, servers, expected) => {
    expect(order(servers)).toEqual(expected);
  });
});

describe('orderCandidates: registered servers and the caller’s array', () => {
  test('registered servers come after the operator’s whatever their priority, healthy or not', () => {
    const registered = (host: string, priority: number): ServerInfo => ({
      ...server(host, priority),
      registered: { forwardCredentials: false },
    });
    const health = new Map<string, HealthState>([['down', 'unhealthy']]);
    const hosts = (servers: ServerInfo[]) =>
      orderCandidates(servers, (candidate) => ({ state: health.get(candidate.host) ?? 'healthy' })).map((candidate) => candidate.host);
    expect(hosts([registered('reg0', 0), server('op10', 10), registered('reg5', 5), server('op20', 20)])).toEqual([
      'op10',
      'op20',
      'reg0',
      'reg5',
    ]);
    // An unhealthy operator's server is skipped while a registered one answers: registrations are the fallback.
    expect(hosts([registered('reg0', 0), server('down', 10)])).toEqual(['reg0']);
    // For a service with no operator's servers, registrations are ordered among themselves.
    expect(hosts([registered('reg9', 9), registered('reg1', 1)])).toEqual(['reg1', 'reg9']);
  });

  test('does not reorder the caller’s array', () => {
    const servers = [server('b', 20), server('a', 10)];
    orderCandidates(servers, () => ({ state: 'healthy' }));
    expect(servers.map((s) => s.host)).toEqual(['b', 'a']);
  });
});
