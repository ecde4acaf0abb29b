import fc from 'fast-check';
import { BlockList, isIP } from 'node:net';
import { canonicalHost, canonicalIp, ipInRange, ipNetwork, lowIpv4 } from '../../protocols/http/ip-address';
import { anyText } from './arbitraries';

const dotted = (value: number) => [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');

/** Upper or lower case for each character of `text`. */
const mixedCase = (text: string) =>
  fc
    .array(fc.boolean(), { minLength: text.length, maxLength: text.length })
    .map((upper) => [...text].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));

/** One number as inet_aton reads it: decimal, octal with a leading 0, or hex with 0x/0X, with leading zeros. */
const numberSpelling = (value: number) =>
  fc.oneof(
    fc.constant(String(value)),
    fc.nat(3).map((zeros) => `0${'0'.repeat(zeros)}${value.toString(8)}`),
    fc
      .tuple(fc.constantFrom('0x', '0X'), fc.nat(3))
      .chain(([prefix, zeros]) => mixedCase(`${'0'.repeat(zeros)}${value.toString(16)}`).map((digits) => prefix + digits)),
  );

/** Every spelling of a 32-bit address: 1 to 4 parts, the last filling what is left, each part in any base, maybe a trailing dot. */
const ipv4Spelling = (value: number) =>
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.boolean()).chain(([parts, trailingDot]) => {
    const bytes = [24, 16, 8].slice(0, parts - 1).map((shift) => (value >>> shift) & 0xff);
    const rest = parts === 1 ? value : value % 256 ** (5 - parts);
    return fc.tuple(...[...bytes, rest].map(numberSpelling)).map((written) => written.join('.') + (trailingDot ? '.' : ''));
  });

const ipv4Value = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0x7f000001, 0xa9fea9fe, 0x0a000001, 0xffffffff));

const group = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constant(0));
const ipv6Groups = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }),
  // IPv4-mapped, loopback and unspecified, which have spellings of their own
  ipv4Value.map((v) => [0, 0, 0, 0, 0, 0xffff, v >>> 16, v & 0xffff]),
  fc.constantFrom<number[]>([0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0]),
);

/** Any valid spelling of eight groups: any case, leading zeros, `::` over any zero run, the low 32 bits maybe as dotted IPv4. */
const ipv6Spelling = (groups: number[]) =>
  fc.tuple(fc.boolean(), fc.nat(7), fc.array(fc.nat(3), { minLength: 8, maxLength: 8 })).chain(([dottedTail, at, zeros]) => {
    const written = groups.map((g, i) => `${'0'.repeat(zeros[i])}${g.toString(16)}`.slice(-Math.max(4, g.toString(16).length)));
    const pieces = dottedTail ? [...written.slice(0, 6), dotted(groups[6] * 0x10000 + groups[7])] : written;
    let end = at;
    while (end < pieces.length && groups[end] === 0 && !(dottedTail && end >= 6)) end++;
    const text = end > at ? `${pieces.slice(0, at).join(':')}::${pieces.slice(end).join(':')}` : pieces.join(':');
    return mixedCase(text);
  });

/** What the WHATWG URL parser makes of the address, mapped IPv4 as its IPv4 address: an independent oracle. */
function oracle(groups: number[]): string {
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return dotted(groups[6] * 0x10000 + groups[7]);
  return new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
}

describe('canonicalIp', () => {
  test.each<[string, string | null]>([
    ['169.254.169.254', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['0xa9fea9fe', '169.254.169.254'],
    ['0XA9FEA9FE', '169.254.169.254'],
    ['0251.0376.0251.0376', '169.254.169.254'],
    ['0xA9.0376.43518', '169.254.169.254'],
    ['169.254.169.254.', '169.254.169.254'],
    ['127.1', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['::1', '::1'],
    ['0::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['::', '::'],
    ['0:0::0', '::'],
    ['::ffff:169.254.169.254', '169.254.169.254'],
    ['::FFFF:a9fe:A9FE', '169.254.169.254'],
    ['0:0:0:0:0:ffff:7f00:1', '127.0.0.1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['64:ff9b::169.254.169.254', '64:ff9b::a9fe:a9fe'],
    ['example.org', null],
    ['cafe', null],
    ['0xcafe.example', null],
    ['1.2.3.4.5', null],
    ['1.2.3.256', null],
    ['256.1.1.1', null],
    ['08.1.1.1', null],
    ['0x1g', null],
    ['4294967296', null],
    ['1.16777216', null],
    ['', null],
    ['.', null],
    ['1..2', null],
    ['fe80::1%eth0', null],
    ['::ffff:01.2.3.4', null],
    ['1:2', null],
  ])('%j -> %j', (text, expected) => {
    expect(canonicalIp(text)).toBe(expected);
  });
});

describe('canonicalIp: properties', () => {
  test('every inet_aton spelling of an IPv4 address is its dotted quad, as the WHATWG URL parser reads it too', () => {
    fc.assert(
      fc.property(
        ipv4Value.chain((value) => fc.tuple(fc.constant(value), ipv4Spelling(value))),
        ([value, spelling]) => {
          expect(canonicalIp(spelling)).toBe(dotted(value));
          expect(new URL(`http://${spelling}/`).hostname).toBe(dotted(value));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('every spelling of an IPv6 address is its RFC 5952 text (IPv4-mapped: the IPv4 address), the same address for node:net', () => {
    fc.assert(
      fc.property(
        ipv6Groups.chain((groups) => fc.tuple(fc.constant(groups), ipv6Spelling(groups))),
        ([groups, spelling]) => {
          expect(isIP(spelling)).toBe(6);
          const canonical = canonicalIp(spelling);
          expect(canonical).toBe(oracle(groups));
          const same = new BlockList();
          same.addAddress(canonical!, isIP(canonical!) === 4 ? 'ipv4' : 'ipv6');
          expect(same.check(spelling, 'ipv6')).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('is idempotent, and whatever it returns is an IP address in lower case', () => {
    const text = fc.oneof(
      anyText(),
      fc.string({ unit: fc.constantFrom('0', '1', '7', '9', 'a', 'f', 'F', 'x', 'X', '.', ':', 'g') }),
      fc.ipV4(),
      fc.ipV6(),
    );
    fc.assert(
      fc.property(text, (input) => {
        const canonical = canonicalIp(input);
        if (canonical === null) return;
        expect(isIP(canonical)).not.toBe(0);
        expect(canonical).toBe(canonical.toLowerCase());
        expect(canonicalIp(canonical)).toBe(canonical);
      }),
      { numRuns: 3000 },
    );
  });

  test('a name whose last label has a letter is no address and stays as written', () => {
    const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
    const top = fc.stringMatching(/^[a-z](?:[a-z0-9-]{0,6}[a-z0-9])?$/).filter((t) => !/^0?x[0-9a-f]*$/.test(t));
    fc.assert(
      fc.property(fc.array(label, { maxLength: 3 }), top, (labels, last) => {
        const name = [...labels, last].join('.');
        expect(canonicalIp(name)).toBeNull();
        expect(canonicalHost(name)).toBe(name);
      }),
    );
  });
});

describe('canonicalHost', () => {
  test.each<[string, string | null]>([
    ['Example.ORG', 'Example.ORG'],
    ['0XA9FEA9FE', '169.254.169.254'],
    ['1.2.3.256', null],
    ['example.0x10', null],
    ['example.10', null],
    ['example.10.', null],
    ['10.example', '10.example'],
  ])('%j -> %j', (host, expected) => {
    expect(canonicalHost(host)).toBe(expected);
  });
});

describe('ranges', () => {
  test.each<[string, string, number, boolean]>([
    ['10.1.2.3', '10.0.0.0', 8, true],
    ['0x0a010203', '10.0.0.0', 8, true],
    ['::ffff:10.1.2.3', '10.0.0.0', 8, true],
    ['11.0.0.0', '10.0.0.0', 8, false],
    ['1.2.3.4', '0.0.0.0', 0, true],
    ['fd12::1', 'fc00::', 7, true],
    ['fe00::1', 'fc00::', 7, false],
    ['10.1.2.3', 'fc00::', 7, false],
    ['example.org', '10.0.0.0', 8, false],
  ])('%s in %s/%d: %s', (ip, base, length, expected) => {
    expect(ipInRange(ip, base, length)).toBe(expected);
  });

  test('ipNetwork clears the host bits; lowIpv4 reads the low 32 bits', () => {
    expect(ipNetwork('10.1.2.3', 16)).toBe('10.1.0.0');
    expect(ipNetwork('fd00:1:2:3:4:5:6:7', 64)).toBe('fd00:1:2:3::');
    expect(ipNetwork('example.org', 8)).toBeNull();
    expect(lowIpv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(lowIpv4('10.0.0.1')).toBeNull();
  });
});
