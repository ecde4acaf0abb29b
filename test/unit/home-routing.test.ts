import fc from 'fast-check';
import { homeCandidates, mapAttributes, routeOf, type AttributeMapping } from '../../plugin/home-routing';
import type { HomeGrant, HomeService } from '../../identity';

const TOKEN = 'home-lease-token-0123456789';

function grant(services: HomeService[]): HomeGrant {
  return { realm: 'home.example', username: 'alice', token: TOKEN, expiresAt: 1_700_000_000_000, services };
}

describe('mapAttributes', () => {
  const home = { department: 'sales', role: 'admin', mail: 'alice@home.example', realm: 'evil.example' };

  test.each<[string, Record<string, string>, AttributeMapping, Record<string, string>]>([
    ['keeps nothing by default', home, { keep: [], set: {} }, { realm: 'home.example' }],
    ['keeps the listed names', home, { keep: ['department', 'mail'], set: {} }, { department: 'sales', mail: 'alice@home.example', realm: 'home.example' }],
    ['skips listed names home does not have', home, { keep: ['department', 'phone'], set: {} }, { department: 'sales', realm: 'home.example' }],
    ['keeps an empty value', { note: '' }, { keep: ['note'], set: {} }, { note: '', realm: 'home.example' }],
    ['adds the set ones', home, { keep: [], set: { site: 'visitor', tier: 'guest' } }, { site: 'visitor', tier: 'guest', realm: 'home.example' }],
    ['a set value overrides a kept one', home, { keep: ['department'], set: { department: 'visitors' } }, { department: 'visitors', realm: 'home.example' }],
    ['realm cannot be kept from home', home, { keep: ['realm'], set: {} }, { realm: 'home.example' }],
    ['realm cannot be set either', home, { keep: [], set: { realm: 'other.example' } }, { realm: 'home.example' }],
  ])('%s', (_name, from, mapping, expected) => {
    const mapped = mapAttributes(from, mapping, 'home.example');
    expect(mapped).toStrictEqual(expected);
    expect(Object.keys(mapped).at(-1)).toBe('realm');
  });

  test('does not change its inputs', () => {
    const from = { ...home };
    const mapping = { keep: ['department'], set: { site: 'visitor' } };
    mapAttributes(from, mapping, 'home.example');
    expect(from).toEqual(home);
    expect(mapping).toEqual({ keep: ['department'], set: { site: 'visitor' } });
  });

  describe('names that exist on every object', () => {
    const inherited = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

    test.each([['a plain object', {} as Record<string, string>], ['JSON.parse', JSON.parse('{"department":"sales"}')], ['Object.create(null)', Object.create(null)]])('are not picked up from %s that does not have them', (_name, from) => {
      const mapped = mapAttributes(from, { keep: inherited, set: {} }, 'home.example');
      expect(Object.keys(mapped)).toEqual(['realm']);
      expect(Object.getPrototypeOf(mapped)).toBe(Object.prototype);
    });

    test('are picked up when they are the home\'s own attributes', () => {
      const from = JSON.parse('{"constructor":"c","toString":"t","valueOf":"v"}');
      expect(mapAttributes(from, { keep: ['constructor', 'toString', 'valueOf'], set: {} }, 'home.example')).toStrictEqual({ constructor: 'c', toString: 't', valueOf: 'v', realm: 'home.example' });
    });

    test('work from an object without a prototype', () => {
      const from = Object.assign(Object.create(null), { department: 'sales', constructor: 'c' });
      expect(mapAttributes(from, { keep: ['department', 'constructor', 'toString'], set: {} }, 'home.example')).toStrictEqual({ department: 'sales', constructor: 'c', realm: 'home.example' });
    });

    test('an own __proto__ attribute from home never becomes the prototype of the result', () => {
      const from = JSON.parse('{"__proto__":{"role":"admin"},"department":"sales"}');
      const mapped = mapAttributes(from, { keep: ['__proto__', 'department'], set: {} }, 'home.example');
      expect(Object.getPrototypeOf(mapped)).toBe(Object.prototype);
      expect((mapped as Record<string, unknown>).role).toBeUndefined();
      expect(mapped.department).toBe('sales');
      expect(mapped.realm).toBe('home.example');
    });
  });

  test('property: the result is exactly the kept own names, then set, then realm', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'realm', 'role', 'constructor', 'toString');
    fc.assert(
      fc.property(fc.dictionary(name, fc.string()), fc.array(name), fc.dictionary(name, fc.string()), (from, keep, set) => {
        const mapped = mapAttributes(from, { keep, set }, 'home.example');
        const expected: Record<string, string> = {};
        for (const key of keep) if (Object.keys(from).includes(key)) expected[key] = from[key];
        Object.assign(expected, set);
        expected.realm = 'home.example';
        expect(mapped).toStrictEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

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
    expect(homeCandidates(grant([{ service: 'smtp', own: true }]), 'smtp', url)).toStrictEqual([{ host, port, priority: 0, home: 'home.example', tunnel: hopOf(url) }]);
  });

  test('the hop names the service asked for, even one home did not list', () => {
    expect(homeCandidates(grant([]), 'nntp', 'https://home.example/roamgate')).toStrictEqual([{ host: 'home.example', port: 443, priority: 0, home: 'home.example', tunnel: hopOf('https://home.example/roamgate', 'nntp') }]);
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
