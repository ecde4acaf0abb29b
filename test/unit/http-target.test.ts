import fc from 'fast-check';
import { canonicalHost, canonicalIp } from '../../protocols/http/ip-address';
import { hostHeader, isValidHost, numericIpv4, parseAbsoluteTarget, parseAuthority } from '../../protocols/http/target';
import { anyText } from './arbitraries';

describe('parseAuthority', () => {
  test.each<[string, { host: string; port: number } | null]>([
    ['example.org:443', { host: 'example.org', port: 443 }],
    ['Mail.Example.ORG:25', { host: 'Mail.Example.ORG', port: 25 }],
    ['example.org.:443', { host: 'example.org.', port: 443 }],
    ['localhost:8080', { host: 'localhost', port: 8080 }],
    ['_srv.example.org:1', { host: '_srv.example.org', port: 1 }],
    ['10.1.2.3:65535', { host: '10.1.2.3', port: 65535 }],
    ['[::1]:443', { host: '::1', port: 443 }],
    ['[2001:db8::1]:8443', { host: '2001:db8::1', port: 8443 }],
    // Every spelling of an IP address comes back as its one canonical spelling.
    ['[::ffff:10.0.0.1]:80', { host: '10.0.0.1', port: 80 }],
    ['[::ffff:a9fe:a9fe]:80', { host: '169.254.169.254', port: 80 }],
    ['[0::1]:80', { host: '::1', port: 80 }],
    ['[0:0:0:0:0:0:0:1]:80', { host: '::1', port: 80 }],
    ['[2001:DB8:0:0:0:0:0:01]:80', { host: '2001:db8::1', port: 80 }],
    ['0XA9FEA9FE:80', { host: '169.254.169.254', port: 80 }],
    ['0Xa9.0XFE.0xa9fe:80', { host: '169.254.169.254', port: 80 }],
    ['0251.254.43518:80', { host: '169.254.169.254', port: 80 }],
    ['example.org:0443', { host: 'example.org', port: 443 }],
    // Numeric spellings of an IPv4 address are read as the address, as the C library would.
    ['2852039166:80', { host: '169.254.169.254', port: 80 }],
    ['0xa9fea9fe:80', { host: '169.254.169.254', port: 80 }],
    ['169.254.169.254.:80', { host: '169.254.169.254', port: 80 }],
    ['0251.0376.0251.0376:80', { host: '169.254.169.254', port: 80 }],
    ['127.1:8080', { host: '127.0.0.1', port: 8080 }],
  ])('accepts %j', (authority, expected) => {
    expect(parseAuthority(authority)).toEqual(expected);
  });

  test.each([
    ['empty', ''],
    ['missing port', 'example.org'],
    ['empty port', 'example.org:'],
    ['missing host', ':443'],
    ['port 0', 'example.org:0'],
    ['port 65536', 'example.org:65536'],
    ['six-digit port', 'example.org:100000'],
    ['signed port', 'example.org:+443'],
    ['non-numeric port', 'example.org:https'],
    ['space before port', 'example.org: 443'],
    ['space in host', 'exa mple.org:443'],
    ['leading space', ' example.org:443'],
    ['trailing space', 'example.org:443 '],
    ['two colons', 'a:b:c'],
    ['unbracketed IPv6', '::1:443'],
    ['bracketed IPv6 without port', '[::1]'],
    ['bracketed IPv6 with empty port', '[::1]:'],
    ['bracketed IPv4', '[10.0.0.1]:80'],
    ['bracketed garbage', '[::g]:80'],
    ['IPv6 zone id', '[fe80::1%eth0]:80'],
    ['userinfo', 'user@example.org:443'],
    ['path', 'example.org:443/x'],
    ['URL instead of authority', 'http://example.org:80'],
    ['label starting with a dash', '-bad.example.org:443'],
    ['label of 64 characters', `${'a'.repeat(64)}.org:443`],
    ['newline in host', 'example.org\n:443'],
    ['CRLF smuggling', 'example.org:443\r\nX: y'],
    ['a name ending in a number that is no IPv4 address', '1.2.3.256:80'],
    ['a name ending in a hex number', 'example.0x10:80'],
    ['five numeric parts', '1.2.3.4.5:80'],
  ])('rejects %s', (_name, authority) => {
    expect(parseAuthority(authority)).toBeNull();
  });
});

describe('parseAuthority: properties', () => {
  test('never throws, and anything it returns has a valid host and port', () => {
    fc.assert(
      fc.property(fc.oneof(anyText(), fc.string({ unit: fc.constantFrom('[', ']', ':', '.', '1', 'a', ' ', '%', '\n') })), (authority) => {
        const parsed = parseAuthority(authority);
        if (parsed) {
          expect(isValidHost(parsed.host)).toBe(true);
          expect(Number.isInteger(parsed.port) && parsed.port >= 1 && parsed.port <= 65535).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  const label = fc.stringMatching(/^[a-z0-9_][a-z0-9_-]{0,20}$/);
  const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
  const ipv4 = fc.ipV4();
  const port = fc.integer({ min: 1, max: 65535 });

  test('round-trips generated hostnames and IPv4 addresses with any valid port (a name ending in a number only if it is an address)', () => {
    fc.assert(
      fc.property(fc.oneof(hostname, ipv4), port, (host, port) => {
        const canonical = canonicalHost(host);
        expect(parseAuthority(`${host}:${port}`)).toEqual(canonical === null ? null : { host: canonical, port });
      }),
      { numRuns: 500 },
    );
  });

  test('round-trips bracketed IPv6 addresses', () => {
    fc.assert(
      fc.property(fc.ipV6(), port, (host, port) => expect(parseAuthority(`[${host}]:${port}`)).toEqual({ host: canonicalIp(host), port })),
      { numRuns: 300 },
    );
  });

  test('rejects every port outside 1-65535', () => {
    fc.assert(
      fc.property(hostname, fc.oneof(fc.constant(0), fc.integer({ min: 65536, max: 99999 })), (host, port) =>
        expect(parseAuthority(`${host}:${port}`)).toBeNull(),
      ),
    );
  });
});

describe('parseAbsoluteTarget', () => {
  test.each<[string, { host: string; port: number; path: string }]>([
    ['http://example.org/', { host: 'example.org', port: 80, path: '/' }],
    ['http://example.org', { host: 'example.org', port: 80, path: '/' }],
    ['http://example.org:8080/a/b?q=1&r=2', { host: 'example.org', port: 8080, path: '/a/b?q=1&r=2' }],
    ['http://example.org:80/x', { host: 'example.org', port: 80, path: '/x' }],
    ['HTTP://Example.ORG/Path', { host: 'example.org', port: 80, path: '/Path' }],
    ['http://example.org/page#section', { host: 'example.org', port: 80, path: '/page' }],
    ['http://example.org/?', { host: 'example.org', port: 80, path: '/' }],
    ['http://10.1.2.3:3128/', { host: '10.1.2.3', port: 3128, path: '/' }],
    ['http://[::1]:8080/x', { host: '::1', port: 8080, path: '/x' }],
    ['http://[2001:db8::1]/', { host: '2001:db8::1', port: 80, path: '/' }],
    ['http://[::ffff:10.0.0.1]/', { host: '10.0.0.1', port: 80, path: '/' }],
    ['http://[0:0::1]/', { host: '::1', port: 80, path: '/' }],
    ['http://0XA9FEA9FE/', { host: '169.254.169.254', port: 80, path: '/' }],
    ['http://example.org/a b', { host: 'example.org', port: 80, path: '/a%20b' }],
  ])('parses %j', (target, expected) => {
    expect(parseAbsoluteTarget(target)).toEqual(expected);
  });

  test.each([
    ['https (goes through CONNECT)', 'https://example.org/'],
    ['ftp', 'ftp://example.org/'],
    ['origin-form', '/index.html'],
    ['authority-form', 'example.org:80'],
    ['asterisk-form', '*'],
    ['empty', ''],
    ['userinfo with password', 'http://user:secret@example.org/'],
    ['userinfo without password', 'http://user@example.org/'],
    ['port out of range', 'http://example.org:65536/'],
    ['invalid host', 'http://exa mple.org/'],
    ['a single slash', 'http:/example.org/'],
  ])('rejects %s', (_name, target) => {
    expect(parseAbsoluteTarget(target)).toBeNull();
  });

  // BUG (protocols/http/target.ts:61): WHATWG URL accepts port 0 (`url.port` is "0"), and
  // parseAbsoluteTarget returns { port: 0 }, while parseAuthority rejects port 0 and
  // Destination ports are otherwise 1-65535. The allowlist happens to refuse port 0
  // later (its ranges start at 1), so this is an inconsistency, not an open door.
  test('rejects port 0, as parseAuthority does', () => {
    expect(parseAbsoluteTarget('http://example.org:0/')).toBeNull();
  });
});

describe('parseAbsoluteTarget: properties', () => {
  test('never throws, and anything it returns has a valid host and an origin-form path', () => {
    const urlLike = fc
      .tuple(
        fc.constantFrom('http://', 'HTTP://', 'https://', 'http:/', 'http:\\\\'),
        fc.string({
          unit: fc.constantFrom('a', 'B', '1', '.', ':', '@', '[', ']', '/', '?', '#', '%', ' ', '\\', '-', '_', '\u00e9', '\n'),
          maxLength: 30,
        }),
      )
      .map(([scheme, rest]) => scheme + rest);
    const target = fc.oneof(
      anyText(),
      anyText().map((rest) => `http://${rest}`),
      urlLike,
    );
    fc.assert(
      fc.property(target, (text) => {
        const parsed = parseAbsoluteTarget(text);
        if (parsed) {
          expect(isValidHost(parsed.host)).toBe(true);
          expect(parsed.path.startsWith('/')).toBe(true);
          expect(parsed.path).not.toMatch(/[\s#]/);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('keeps path and query of generated URLs', () => {
    const segment = fc.stringMatching(/^[a-z0-9_~-][a-z0-9._~-]{0,9}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { maxLength: 4 }),
        fc.option(segment, { nil: undefined }),
        fc.integer({ min: 1, max: 65535 }),
        (segments, query, port) => {
          const path = '/' + segments.join('/') + (query === undefined ? '' : `?q=${query}`);
          expect(parseAbsoluteTarget(`http://example.org:${port}${path}`)).toEqual({ host: 'example.org', port, path });
        },
      ),
    );
  });
});

describe('numericIpv4 and hostHeader', () => {
  test.each<[string, string | null]>([
    ['10.0.0.1', '10.0.0.1'],
    ['167772161', '10.0.0.1'],
    ['0x0a000001', '10.0.0.1'],
    ['0X0A000001', '10.0.0.1'],
    ['012.0X0.1', '10.0.0.1'],
    ['example.org', null],
    ['cafe', null],
    ['0xcafe.example', null],
    ['1.2.3.4.5', null],
  ])('numericIpv4(%j) is %j', (host, expected) => {
    expect(numericIpv4(host)).toBe(expected);
  });

  test.each<[{ host: string; port: number }, string]>([
    [{ host: 'www.example.org', port: 80 }, 'www.example.org'],
    [{ host: 'www.example.org', port: 8080 }, 'www.example.org:8080'],
    [{ host: '2001:db8::1', port: 80 }, '[2001:db8::1]'],
    [{ host: '2001:db8::1', port: 8443 }, '[2001:db8::1]:8443'],
  ])('hostHeader(%j) is %j', (destination, expected) => {
    expect(hostHeader(destination)).toBe(expected);
  });
});
