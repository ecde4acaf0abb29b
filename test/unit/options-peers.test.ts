import { RoamgateError } from '../../errors';
import * as D from '../../plugin/defaults';
import { normalizeOptions } from '../../plugin/options';

const SECRET = 's'.repeat(32);

/** The message of the error normalizeOptions throws for `input`, checked to be ROAMGATE_INVALID_OPTIONS. */
function rejection(input: unknown): string {
  try {
    normalizeOptions(input);
  } catch (error) {
    expect(error).toBeInstanceOf(RoamgateError);
    expect((error as RoamgateError).code).toBe('ROAMGATE_INVALID_OPTIONS');
    return (error as RoamgateError).message;
  }
  throw new Error('normalizeOptions accepted invalid options');
}

/** Options with one peer `home.example`, changed by `peer`. */
function withPeer(peer: Record<string, unknown>, realm: string | null = 'visited.example'): Record<string, unknown> {
  return { ...(realm === null ? {} : { realm }), peers: { 'home.example': { secret: SECRET, ...peer } } };
}

describe('normalizeOptions: realm and peers', () => {
  describe('accepted', () => {
    test('no realm and no peers by default', () => {
      const options = normalizeOptions({});
      expect(options.realm).toBeUndefined();
      expect(options.peers).toEqual({});
    });

    test('a realm alone is fine', () => {
      expect(normalizeOptions({ realm: 'visited.example' }).realm).toBe('visited.example');
    });

    test('a peer with only a secret gets every default', () => {
      expect(normalizeOptions(withPeer({})).peers).toStrictEqual({
        'home.example': {
          secret: SECRET,
          revealAddresses: false,
          acceptAddresses: false,
          chain: false,
          attributes: { keep: [], set: {} },
          routes: {},
          timeoutMs: D.DEFAULT_PEER_TIMEOUT_MS,
          cacheSeconds: D.DEFAULT_PEER_CACHE_SECONDS,
          failureCacheSeconds: D.DEFAULT_PEER_FAILURE_CACHE_SECONDS,
          refreshSeconds: D.DEFAULT_PEER_REFRESH_SECONDS,
        },
      });
      expect([
        D.DEFAULT_PEER_TIMEOUT_MS,
        D.DEFAULT_PEER_CACHE_SECONDS,
        D.DEFAULT_PEER_FAILURE_CACHE_SECONDS,
        D.DEFAULT_PEER_REFRESH_SECONDS,
      ]).toEqual([5000, 300, 10, 60]);
    });

    test('partial attributes get the other half defaulted', () => {
      expect(normalizeOptions(withPeer({ attributes: { keep: ['department'] } })).peers['home.example'].attributes).toEqual({
        keep: ['department'],
        set: {},
      });
      expect(normalizeOptions(withPeer({ attributes: { set: { site: 'visitor' } } })).peers['home.example'].attributes).toEqual({
        keep: [],
        set: { site: 'visitor' },
      });
    });

    test('a full peer is kept as written, and frozen', () => {
      const peer = {
        secret: `${SECRET}-and-some-more`,
        url: 'https://home.example:8443/roamgate',
        revealAddresses: true,
        acceptAddresses: true,
        chain: true,
        attributes: { keep: ['department', 'mail'], set: { site: 'visitor' } },
        routes: { smtp: 'home', nntp: 'local' },
        timeoutMs: 2000,
        cacheSeconds: 0,
        failureCacheSeconds: 0,
        refreshSeconds: 1,
      };
      const options = normalizeOptions({
        realm: 'visited.example',
        peers: { 'home.example': peer, 'other.example': { secret: SECRET, url: 'http://10.0.0.2:8080/roamgate' } },
      });
      expect(options.peers['home.example']).toEqual(peer);
      expect(options.peers['other.example'].url).toBe('http://10.0.0.2:8080/roamgate');
      expect(Object.isFrozen(options.peers)).toBe(true);
      expect(Object.isFrozen(options.peers['home.example'])).toBe(true);
      expect(Object.isFrozen(options.peers['home.example'].attributes.keep)).toBe(true);
      expect(Object.isFrozen(options.peers['home.example'].routes)).toBe(true);
    });

    test.each<[string, Record<string, unknown>]>([
      ['the limits of the numbers', { timeoutMs: 86_400_000, cacheSeconds: 86_400, failureCacheSeconds: 3600, refreshSeconds: 86_400 }],
      ['a secret of exactly 32 characters', { secret: 'x'.repeat(32) }],
      ['no url (only asked by this peer)', {}],
    ])('%s', (_name, peer) => {
      expect(() => normalizeOptions(withPeer(peer))).not.toThrow();
    });

    test.each([['home'], ['Home.Example'], ['home-1.example.org'], ['10.0.0.1']])('peer name %j', (name) => {
      expect(Object.keys(normalizeOptions({ realm: 'visited.example', peers: { [name]: { secret: SECRET } } }).peers)).toEqual([name]);
    });
  });

  describe('refused, naming the path', () => {
    test('peers without a realm', () => {
      expect(rejection(withPeer({}, null))).toBe('realm: required when peers are configured (peers know this gateway by it)');
    });

    test("a peer named like this gateway's own realm", () => {
      expect(rejection({ realm: 'home.example', peers: { 'home.example': { secret: SECRET } } })).toBe(
        "peers.home.example: a gateway cannot be its own peer (it is this gateway's realm)",
      );
    });

    test('a peer named like the own realm in other letter case', () => {
      expect(rejection({ realm: 'home.example', peers: { 'Home.EXAMPLE': { secret: SECRET } } })).toMatch(
        /^peers\.home\.example: a gateway cannot be its own peer \(it is this gateway's realm\)$/i,
      );
    });

    test('a peer named like the own realm in other letter case is named by its own key', () => {
      expect(rejection({ realm: 'home.example', peers: { 'Home.EXAMPLE': { secret: SECRET } } })).toBe(
        "peers.Home.EXAMPLE: a gateway cannot be its own peer (it is this gateway's realm)",
      );
    });

    test.each<[string, Record<string, unknown>, string]>([
      ['a secret of 31 characters', { secret: 'x'.repeat(31) }, 'peers.home.example.secret: must be at least 32 characters'],
      ['an empty secret', { secret: '' }, 'peers.home.example.secret: must be at least 32 characters'],
      [
        'keep including role',
        { attributes: { keep: ['department', 'role'] } },
        'peers.home.example.attributes.keep: must not keep role: a home must not make admins here',
      ],
      ['set including role', { attributes: { set: { role: 'admin' } } }, 'peers.home.example.attributes.set: must not set role or realm'],
      [
        'set including realm',
        { attributes: { set: { realm: 'visited.example' } } },
        'peers.home.example.attributes.set: must not set role or realm',
      ],
      [
        'keep with a bad attribute name',
        { attributes: { keep: ['a b'] } },
        'peers.home.example.attributes.keep.0: must be an attribute name',
      ],
    ])('%s', (_name, peer, message) => {
      expect(rejection(withPeer(peer))).toBe(message);
    });

    test.each<[string, Record<string, unknown>, string]>([
      ['an ftp url', { url: 'ftp://home.example/roamgate' }, 'peers.home.example.url'],
      ['a ws url', { url: 'ws://home.example/roamgate' }, 'peers.home.example.url'],
      ['a file url', { url: 'file:///etc/passwd' }, 'peers.home.example.url'],
      ['not a url', { url: 'home.example' }, 'peers.home.example.url'],
      ['a route to nowhere', { routes: { smtp: 'away' } }, 'peers.home.example.routes.smtp'],
      ['a route that is not a string', { routes: { smtp: true } }, 'peers.home.example.routes.smtp'],
      ['a route for a bad service name', { routes: { SMTP: 'home' } }, 'peers.home.example.routes.SMTP'],
      ['an unknown key', { reveal: true }, 'peers.home.example.reveal'],
      ['an unknown key in attributes', { attributes: { drop: ['x'] } }, 'peers.home.example.attributes.drop'],
      ['revealAddresses not a boolean', { revealAddresses: 'yes' }, 'peers.home.example.revealAddresses'],
      ['timeoutMs 0', { timeoutMs: 0 }, 'peers.home.example.timeoutMs'],
      ['cacheSeconds -1', { cacheSeconds: -1 }, 'peers.home.example.cacheSeconds'],
      ['cacheSeconds over a day', { cacheSeconds: 86_401 }, 'peers.home.example.cacheSeconds'],
      ['failureCacheSeconds over an hour', { failureCacheSeconds: 3601 }, 'peers.home.example.failureCacheSeconds'],
      ['refreshSeconds 0', { refreshSeconds: 0 }, 'peers.home.example.refreshSeconds'],
      ['a fractional refreshSeconds', { refreshSeconds: 1.5 }, 'peers.home.example.refreshSeconds'],
      ['a set value too long', { attributes: { set: { site: 'v'.repeat(257) } } }, 'peers.home.example.attributes.set.site'],
    ])('%s', (_name, peer, path) => {
      expect(rejection(withPeer(peer)).startsWith(`${path}: `)).toBe(true);
    });

    test('a peer without a secret', () => {
      expect(rejection({ realm: 'visited.example', peers: { 'home.example': {} } })).toMatch(/^peers\.home\.example\.secret: /);
    });

    test.each([['bad_name'], ['-home.example'], ['home..example'], ['home example'], ['home.example.']])('a peer named %j', (name) => {
      expect(rejection({ realm: 'visited.example', peers: { [name]: { secret: SECRET } } }).startsWith(`peers.${name}: `)).toBe(true);
    });

    // Known issue (see report): zod reports a bad record key as "Invalid key
    // in record"; the messages written for peer names and route service
    // names never reach the user.
    test.each<[string, Record<string, unknown>, string]>([
      [
        'a bad peer name',
        { realm: 'visited.example', peers: { bad_name: { secret: SECRET } } },
        'peers.bad_name: peer names are domain-like realms (letters, digits, dashes, dots)',
      ],
      ['a bad service name in routes', withPeer({ routes: { SMTP: 'home' } }), 'peers.home.example.routes.SMTP: must be a service name'],
    ])('%s is refused with the message written for it', (_name, input, message) => {
      expect(rejection(input)).toBe(message);
    });

    test.each([['not a realm'], ['under_score.example'], ['-visited.example'], ['']])('a realm %j', (realm) => {
      expect(rejection({ realm })).toBe('realm: must be a domain-like name (letters, digits, dashes, dots)');
    });

    test('peers that are not an object', () => {
      expect(rejection({ realm: 'visited.example', peers: ['home.example'] })).toMatch(/^peers: /);
    });
  });
});
