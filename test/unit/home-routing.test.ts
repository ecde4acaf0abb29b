import { homeCandidates, routeOf } from '../../plugin/home-routing';
import type { HomeGrant, HomeService } from '../../identity';

const TOKEN = 'home-lease-token-0123456789';

function grant(services: HomeService[]): HomeGrant {
  return { realm: 'home.example', username: 'alice', token: TOKEN, expiresAt: 1_700_000_000_000, services };
}

describe('routeOf', () => {
  const own = grant([{ service: 'smtp', own: true }]);
  const general = grant([{ service: 'smtp', own: false }]);
  const other = grant([{ service: 'pop3', own: true }]);
  const none = grant([]);

  test.each<[string, HomeGrant, 'home' | 'local' | undefined, boolean, 'home' | 'local']>([
    // The configured route wins when home offers the service.
    ['configured home, general servers, local servers here', general, 'home', true, 'home'],
    ['configured home, own servers, no local servers', own, 'home', false, 'home'],
    ['configured local, own servers at home', own, 'local', true, 'local'],
    ['configured local, no local servers', general, 'local', false, 'local'],
    // Without a route: the user's own servers go home.
    ['own servers at home, local servers here', own, undefined, true, 'home'],
    ['own servers at home, no local servers', own, undefined, false, 'home'],
    // The network's general servers: here when this network has some.
    ['general servers at home, local servers here', general, undefined, true, 'local'],
    ['general servers at home, no local servers', general, undefined, false, 'home'],
    // Home does not offer it: nothing to route home, whatever is configured.
    ['not offered, configured home', none, 'home', true, 'local'],
    ['not offered, configured home, no local servers', none, 'home', false, 'local'],
    ['not offered, no route, no local servers', none, undefined, false, 'local'],
    ['another service offered only', other, undefined, false, 'local'],
  ])('%s -> %s', (_name, home, configured, hasLocalServers, expected) => {
    expect(routeOf(home, 'smtp', configured, hasLocalServers)).toBe(expected);
  });
});

describe('homeCandidates', () => {
  const hopOf = (url: string, service = 'smtp') => ({ url, service, token: TOKEN, label: 'home gateway home.example' });

  test.each<[string, string, number]>([
    ['https://home.example/roamgate', 'home.example', 443],
    ['http://home.example/roamgate', 'home.example', 80],
    ['https://home.example:8443/roamgate', 'home.example', 8443],
    ['http://home.example:8080', 'home.example', 8080],
    ['https://home.example:443/', 'home.example', 443],
    ['http://home.example:443/', 'home.example', 443],
    ['https://HOME.Example/roamgate', 'home.example', 443],
    ['http://192.0.2.1/roamgate', '192.0.2.1', 80],
    ['https://192.0.2.1:9443', '192.0.2.1', 9443],
    ['http://[2001:db8::1]:8080/roamgate', '2001:db8::1', 8080],
    ['https://[::1]/roamgate', '::1', 443],
    ['https://[2001:DB8::A]/', '2001:db8::a', 443],
  ])('without revealed servers, %s is one hop to %s port %d', (url, host, port) => {
    expect(homeCandidates(grant([{ service: 'smtp', own: true }]), 'smtp', url)).toStrictEqual([
      { host, port, priority: 0, home: 'home.example', tunnel: hopOf(url) },
    ]);
  });

  test('the hop names the service asked for, even one home did not list', () => {
    expect(homeCandidates(grant([]), 'nntp', 'https://home.example/roamgate')).toStrictEqual([
      { host: 'home.example', port: 443, priority: 0, home: 'home.example', tunnel: hopOf('https://home.example/roamgate', 'nntp') },
    ]);
  });

  test('a service revealed for another service name does not count', () => {
    const home = grant([{ service: 'pop3', own: true, servers: [{ host: 'pop.home.example', port: 995, priority: 1 }] }]);
    expect(homeCandidates(home, 'smtp', 'https://home.example')[0].tunnel).toEqual(hopOf('https://home.example'));
  });

  test('revealed servers are the candidates, copied rather than shared', () => {
    const servers = [
      { host: 'mail.home.example', port: 587, priority: 5, tls: { mode: 'starttls' as const, servername: 'mail.home.example' } },
      { host: '192.0.2.25', port: 25, priority: 10 },
    ];
    const home = grant([{ service: 'smtp', own: true, servers }]);
    const candidates = homeCandidates(home, 'smtp', 'https://home.example/roamgate');
    expect(candidates).toStrictEqual(servers.map((server) => ({ ...server, home: 'home.example' })));
    expect(candidates[0]).not.toBe(servers[0]);
    expect(candidates[1]).not.toBe(servers[1]);
    candidates[0].host = 'changed.example';
    candidates[1].port = 1;
    expect(home.services[0].servers).toEqual([
      { host: 'mail.home.example', port: 587, priority: 5, tls: { mode: 'starttls', servername: 'mail.home.example' } },
      { host: '192.0.2.25', port: 25, priority: 10 },
    ]);
    expect(candidates.some((candidate) => candidate.tunnel)).toBe(false);
  });
});
