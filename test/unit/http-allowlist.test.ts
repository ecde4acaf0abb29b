import fc from 'fast-check';
import { allowance, isAllowed, parseAllowRule, type AllowRule } from '../../protocols/http/allowlist';
import { anyText } from './arbitraries';

const rules = (...entries: string[]): AllowRule[] => entries.map(parseAllowRule);

describe('parseAllowRule', () => {
  test.each<[string, AllowRule]>([
    ['example.org:443', { host: 'example.org', wildcard: 'none', portMin: 443, portMax: 443 }],
    ['Example.ORG:443', { host: 'example.org', wildcard: 'none', portMin: 443, portMax: 443 }],
    ['  example.org:443  ', { host: 'example.org', wildcard: 'none', portMin: 443, portMax: 443 }],
    ['example.org:8000-8999', { host: 'example.org', wildcard: 'none', portMin: 8000, portMax: 8999 }],
    ['example.org:80-80', { host: 'example.org', wildcard: 'none', portMin: 80, portMax: 80 }],
    ['example.org:*', { host: 'example.org', wildcard: 'none', portMin: 1, portMax: 65535 }],
    ['*.example.org:443', { host: '.example.org', wildcard: 'suffix', portMin: 443, portMax: 443 }],
    ['*:443', { host: '', wildcard: 'any', portMin: 443, portMax: 443 }],
    ['*:*', { host: '', wildcard: 'any', portMin: 1, portMax: 65535 }],
    ['10.0.0.5:3128', { host: '10.0.0.5', wildcard: 'none', portMin: 3128, portMax: 3128 }],
    ['[::1]:8080', { host: '::1', wildcard: 'none', portMin: 8080, portMax: 8080 }],
    ['[2001:DB8::1]:1-1024', { host: '2001:db8::1', wildcard: 'none', portMin: 1, portMax: 1024 }],
    // Addresses are kept canonical, whichever spelling the entry used.
    ['[0:0::1]:80', { host: '::1', wildcard: 'none', portMin: 80, portMax: 80 }],
    ['[::ffff:10.0.0.5]:80', { host: '10.0.0.5', wildcard: 'none', portMin: 80, portMax: 80 }],
    ['0x7f000001:80', { host: '127.0.0.1', wildcard: 'none', portMin: 80, portMax: 80 }],
    // Address ranges: host bits cleared.
    ['10.1.0.0/16:443', { host: '10.1.0.0', wildcard: 'none', portMin: 443, portMax: 443, prefixLength: 16 }],
    ['10.1.2.3/16:*', { host: '10.1.0.0', wildcard: 'none', portMin: 1, portMax: 65535, prefixLength: 16 }],
    ['[FD00::1/8]:80', { host: 'fd00::', wildcard: 'none', portMin: 80, portMax: 80, prefixLength: 8 }],
    ['0.0.0.0/0:443', { host: '0.0.0.0', wildcard: 'none', portMin: 443, portMax: 443, prefixLength: 0 }],
  ])('accepts %j', (entry, expected) => {
    expect(parseAllowRule(entry)).toEqual(expected);
  });

  test.each<[string, RegExp]>([
    ['example.org', /^"example\.org" is not host:port, host:low-high or host:\*$/],
    ['', /is not host:port/],
    [':443', /is not host:port/],
    ['example.org:', /is not host:port/],
    ['example.org:https', /is not host:port/],
    ['example.org:443-', /is not host:port/],
    ['example.org:-443', /is not host:port/],
    ['example.org:123456', /is not host:port/],
    ['exa mple.org:443', /is not host:port/],
    ['::1:443', /is not host:port/],
    ['http://example.org:80', /is not host:port/],
    ['example.org:0', /^"example\.org:0" has a port outside 1-65535$/],
    ['example.org:65536', /has a port outside 1-65535/],
    ['example.org:0-80', /has a port outside 1-65535/],
    ['example.org:9000-8000', /has a port outside 1-65535/],
    ['ex*mple.org:443', /^"ex\*mple\.org:443": a wildcard is allowed only as "\*" or a leading "\*\."$/],
    ['*example.org:443', /a wildcard is allowed only/],
    ['example.*:443', /a wildcard is allowed only/],
    ['**:443', /a wildcard is allowed only/],
    ['*.0.0.1:80', /"\*\." covers names, not addresses/],
    ['*.example.123:80', /is not a hostname or IP address/],
    ['1.2.3.256:80', /is not a hostname or IP address/],
    ['10.0.0.0/33:80', /an address range is/],
    ['10.0.0.0/x:80', /an address range is/],
    ['[10.0.0.0/8]:80', /only IPv6 addresses are written in brackets/],
    ['[::ffff:10.0.0.0/104]:80', /an address range is/],
    ['example.org/8:80', /an address range is/],
    ['[fd00::/129]:80', /an address range is/],
  ])('rejects %j', (entry, message) => {
    expect(() => parseAllowRule(entry)).toThrow(message);
  });
});

describe('parseAllowRule: malformed entries, and a property', () => {
  // BUG (protocols/http/allowlist.ts:28): only the host's first character is checked
  // for a leading "*."; a second wildcard after it is accepted, contrary to the
  // error message ("allowed only as a leading *."), and yields a rule that can never
  // match (no host name contains "*"). A user writing "*.*.example.org" silently
  // gets a rule that allows nothing instead of an error at startup.
  test.each(['*.*.example.org:443', '*.ex*ample.org:443'])('rejects a second wildcard in %j', (entry) => {
    expect(() => parseAllowRule(entry)).toThrow(/a wildcard is allowed only/);
  });

  // BUG (protocols/http/allowlist.ts:15-18): the host alternative `[^:\s]+` also takes
  // bracketed text that is not an IPv6 literal, and the brackets are then cut off by
  // position: "[example.org]:443" is read as example.org, and an unbalanced
  // "[example.org:443" as "example.or" (its last character dropped). Such entries
  // should be rejected like other malformed ones.
  test.each(['[example.org]:443', '[example.org:443'])('rejects the malformed bracketed entry %j', (entry) => {
    expect(() => parseAllowRule(entry)).toThrow();
  });

  test('property: throws nothing but an Error with a message quoting the entry', () => {
    fc.assert(
      fc.property(fc.oneof(anyText(), fc.string({ unit: fc.constantFrom('*', '.', ':', '-', '[', ']', '1', '0', 'a', ' ') })), (entry) => {
        try {
          const rule = parseAllowRule(entry);
          expect(rule.portMin).toBeGreaterThanOrEqual(1);
          expect(rule.portMax).toBeLessThanOrEqual(65535);
          expect(rule.portMin).toBeLessThanOrEqual(rule.portMax);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toContain(`"${entry}"`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('isAllowed', () => {
  test.each<[string, string[], string, number, boolean]>([
    ['an empty list allows nothing', [], 'example.org', 443, false],
    ['exact host and port', ['example.org:443'], 'example.org', 443, true],
    ['exact host, other port', ['example.org:443'], 'example.org', 80, false],
    ['exact host does not cover subdomains', ['example.org:443'], 'www.example.org', 443, false],
    ['exact host, case-insensitive request', ['example.org:443'], 'EXAMPLE.Org', 443, true],
    ['exact host, request with a trailing dot', ['example.org:443'], 'example.org.', 443, true],
    ['suffix matches a subdomain', ['*.example.org:443'], 'sub.example.org', 443, true],
    ['suffix matches a deeper subdomain', ['*.example.org:443'], 'a.b.example.org', 443, true],
    ['suffix does not match the bare domain', ['*.example.org:443'], 'example.org', 443, false],
    ['suffix does not match a name merely ending the same', ['*.example.org:443'], 'badexample.org', 443, false],
    ['suffix does not match the domain with a trailing dot', ['*.example.org:443'], 'example.org.', 443, false],
    ['suffix does not match the suffix itself', ['*.example.org:443'], '.example.org', 443, false],
    ['suffix, case-insensitive, trailing dot', ['*.Example.org:443'], 'WWW.example.ORG.', 443, true],
    ['suffix checks the port too', ['*.example.org:443'], 'sub.example.org', 80, false],
    ['any host on one port', ['*:443'], 'anything.test', 443, true],
    ['any host, other port', ['*:443'], 'anything.test', 444, false],
    ['any host, any port', ['*:*'], '10.0.0.1', 1, true],
    ['range, low edge', ['example.org:8000-8999'], 'example.org', 8000, true],
    ['range, high edge', ['example.org:8000-8999'], 'example.org', 8999, true],
    ['range, below', ['example.org:8000-8999'], 'example.org', 7999, false],
    ['range, above', ['example.org:8000-8999'], 'example.org', 9000, false],
    ['IPv4 literal', ['10.0.0.5:3128'], '10.0.0.5', 3128, true],
    ['IPv4 literal is not a prefix match', ['10.0.0.5:3128'], '10.0.0.50', 3128, false],
    ['IPv6 literal', ['[2001:db8::1]:443'], '2001:DB8::1', 443, true],
    ['one of several rules', ['a.test:1', 'b.test:2', '*.c.test:3'], 'x.c.test', 3, true],
    ['none of several rules', ['a.test:1', 'b.test:2', '*.c.test:3'], 'b.test', 1, false],
    ['IPv6 literal in another spelling', ['[::1]:80'], '0:0:0::1', 80, true],
    ['IPv4-mapped spelling of an allowed IPv4 address', ['10.0.0.5:80'], '::ffff:a00:5', 80, true],
    ['hex spelling of an allowed IPv4 address', ['10.0.0.5:80'], '0X0A000005', 80, true],
    ['a range holds an address', ['10.1.0.0/16:443'], '10.1.200.3', 443, true],
    ['a range holds a mapped spelling', ['10.1.0.0/16:443'], '::ffff:10.1.0.1', 443, true],
    ['a range, address outside', ['10.1.0.0/16:443'], '10.2.0.1', 443, false],
    ['a range, other port', ['10.1.0.0/16:443'], '10.1.0.1', 80, false],
    ['a range never matches a name', ['10.1.0.0/16:443'], 'intranet.example', 443, false],
    ['an IPv6 range', ['[fd00::/8]:*'], 'FD12::1', 8080, true],
    ['a host ending in a number that is no address matches nothing', ['*:*'], '1.2.3.256', 80, false],
  ])('%s', (_name, entries, host, port, expected) => {
    expect(isAllowed(rules(...entries), host, port)).toBe(expected);
  });

  // BUG (protocols/http/allowlist.ts:17 vs :34): isAllowed strips one trailing dot from
  // the requested host, but parseAllowRule keeps a trailing dot in the rule's host, so
  // a rule written as a fully qualified name ("example.org.:443", "*.example.org.:443")
  // never matches anything, not even "example.org." itself.
  test.each<[string, string]>([
    ['example.org.:443', 'example.org'],
    ['example.org.:443', 'example.org.'],
    ['*.example.org.:443', 'www.example.org'],
  ])('a rule written with a trailing dot (%j) matches %j', (entry, host) => {
    expect(isAllowed(rules(entry), host, 443)).toBe(true);
  });

  test('property: a suffix rule matches exactly the names that end in ".suffix"', () => {
    const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
    // A top-level label is never all digits: a name ending in a number is read as an address.
    const topLabel = fc.stringMatching(/^[a-z](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
    fc.assert(
      fc.property(
        fc.array(label, { minLength: 0, maxLength: 2 }),
        topLabel,
        fc.array(label, { minLength: 0, maxLength: 3 }),
        (middle, top, prefixLabels) => {
          const suffix = [...middle, top].join('.');
          const name = [...prefixLabels, suffix].join('.');
          expect(isAllowed(rules(`*.${suffix}:443`), name, 443)).toBe(prefixLabels.length > 0);
          expect(isAllowed(rules(`*.${suffix}:443`), `x${name}`, 443)).toBe(prefixLabels.length > 0);
        },
      ),
    );
  });
});

describe('allowance: which rules name a destination', () => {
  test('a suffix rule never matches an IP address, even one built without parseAllowRule', () => {
    const suffix: AllowRule = { host: '.0.1', wildcard: 'suffix', portMin: 1, portMax: 65535 };
    expect(allowance([suffix], '127.0.0.1', 80)).toBeNull();
    expect(allowance([suffix], '0x7f000001', 80)).toBeNull();
  });

  test.each<[string, string[], string, number, 'named' | 'wildcard' | null]>([
    ['an exact name names it', ['intranet.example:443'], 'intranet.example', 443, 'named'],
    ['an exact address names it in any spelling', ['127.0.0.1:8080'], '0x7f.1', 8080, 'named'],
    ['a range names what it holds', ['10.0.0.0/8:*'], '10.9.9.9', 22, 'named'],
    ['* only matches', ['*:*'], '10.9.9.9', 22, 'wildcard'],
    ['*.domain only matches', ['*.example:443'], 'intranet.example', 443, 'wildcard'],
    ['a naming rule wins over a wildcard, in any order', ['*:*', '10.0.0.0/8:*'], '10.9.9.9', 22, 'named'],
    ['nothing matches', ['10.0.0.0/8:443'], '10.9.9.9', 22, null],
  ])('%s', (_name, entries, host, port, expected) => {
    expect(allowance(rules(...entries), host, port)).toBe(expected);
  });
});
