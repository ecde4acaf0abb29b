import fc from 'fast-check';
import {
  type ByteOrder,
  decodeRouteAddress,
  defaultRoute,
  describeRoute,
  encodeRouteAddress,
  parseRouteTable,
  RTF_GATEWAY,
  RTF_UP,
  type RouteEntry,
  sameRoute,
} from '../../local/route-table';

/** The header exactly as Linux prints it (note "Gateway " and the double tab after Mask). */
const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';

/** One line as the kernel prints it (net/ipv4/fib_trie.c: fields separated by tabs, padded to 127 characters). */
function kernelLine(entry: RouteEntry, order: ByteOrder): string {
  const hex = (address: string) => encodeRouteAddress(address, order);
  const flags = entry.flags.toString(16).toUpperCase().padStart(4, '0');
  const line = `${entry.iface}\t${hex(entry.destination)}\t${hex(entry.gateway)}\t${flags}\t0\t0\t${entry.metric}\t${hex(entry.mask)}\t0\t0\t0`;
  return line.padEnd(127, ' ');
}

const table = (entries: RouteEntry[], order: ByteOrder = 'LE') =>
  `${HEADER.padEnd(127, ' ')}\n${entries.map((entry) => kernelLine(entry, order)).join('\n')}\n`;

/** A real table from a laptop on Wi-Fi with a docker bridge (little-endian). */
const LAPTOP = [
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       ',
  'wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0                                                                               ',
  'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                              ',
  'wlan0\t0000A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0                                                                               ',
  '',
].join('\n');

describe('decodeRouteAddress', () => {
  test.each<[string, ByteOrder, string | null]>([
    ['0100000A', 'LE', '10.0.0.1'],
    ['0A000001', 'BE', '10.0.0.1'],
    ['00000000', 'LE', '0.0.0.0'],
    ['FFFFFFFF', 'LE', '255.255.255.255'],
    ['0100a8c0', 'LE', '192.168.0.1'],
    ['0100A8C', 'LE', null],
    ['0100A8C0F', 'LE', null],
    ['0100A8CG', 'LE', null],
    ['', 'LE', null],
  ])('%s (%s) is %s', (hex, order, expected) => {
    expect(decodeRouteAddress(hex, order)).toBe(expected);
  });
});

describe('parseRouteTable', () => {
  test('a real table: every route, addresses decoded', () => {
    expect(parseRouteTable(LAPTOP, 'LE')).toEqual([
      { iface: 'wlan0', destination: '0.0.0.0', gateway: '192.168.0.1', flags: RTF_UP | RTF_GATEWAY, metric: 600, mask: '0.0.0.0' },
      { iface: 'docker0', destination: '172.17.0.0', gateway: '0.0.0.0', flags: RTF_UP, metric: 0, mask: '255.255.0.0' },
      { iface: 'wlan0', destination: '192.168.0.0', gateway: '0.0.0.0', flags: RTF_UP, metric: 600, mask: '255.255.255.0' },
    ]);
  });

  test.each<[string, string]>([
    ['an empty file (not Linux, or no routes)', ''],
    ['the header alone', HEADER],
    ['a short line', 'eth0\t00000000\t0100000A\t0003'],
    ['an address that is not hex', 'eth0\t0000000Z\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0'],
    ['flags that are not hex', 'eth0\t00000000\t0100000A\tUP\t0\t0\t0\t00000000\t0\t0\t0'],
    ['a metric that is not a number', 'eth0\t00000000\t0100000A\t0003\t0\t0\tlow\t00000000\t0\t0\t0'],
  ])('%s: no routes', (_name, text) => {
    expect(parseRouteTable(text, 'LE')).toEqual([]);
  });
});

describe('defaultRoute', () => {
  const route = (iface: string, gateway: string, metric: number, flags = RTF_UP | RTF_GATEWAY): RouteEntry => ({
    iface,
    destination: '0.0.0.0',
    gateway,
    flags,
    metric,
    mask: '0.0.0.0',
  });
  const lan: RouteEntry = { iface: 'eth0', destination: '10.0.0.0', gateway: '0.0.0.0', flags: RTF_UP, metric: 0, mask: '255.255.255.0' };

  test.each<[string, RouteEntry[], ReturnType<typeof defaultRoute>]>([
    ['the only default route', [lan, route('eth0', '10.0.0.1', 100)], { iface: 'eth0', gateway: '10.0.0.1', metric: 100 }],
    [
      'the lowest metric wins (Ethernet plugged in beside Wi-Fi)',
      [route('wlan0', '192.168.0.1', 600), route('eth0', '10.0.0.1', 100)],
      { iface: 'eth0', gateway: '10.0.0.1', metric: 100 },
    ],
    [
      'of equal metrics, the first',
      [route('wlan0', '192.168.0.1', 100), route('eth0', '10.0.0.1', 100)],
      { iface: 'wlan0', gateway: '192.168.0.1', metric: 100 },
    ],
    ['a route that is not up does not count', [route('eth0', '10.0.0.1', 100, RTF_GATEWAY)], null],
    ['no default route (offline)', [lan], null],
    ['a point-to-point default route', [route('ppp0', '0.0.0.0', 0, RTF_UP)], { iface: 'ppp0', gateway: '0.0.0.0', metric: 0 }],
  ])('%s', (_name, entries, expected) => {
    expect(defaultRoute(entries)).toEqual(expected);
  });

  test('of a real table', () => {
    expect(describeRoute(defaultRoute(parseRouteTable(LAPTOP, 'LE')))).toBe('via 192.168.0.1 on wlan0');
    expect(describeRoute(null)).toBe('none');
    expect(describeRoute({ iface: 'ppp0', gateway: '0.0.0.0', metric: 0 })).toBe('on ppp0');
  });
});

describe('route table properties', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const address = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.'));
  const order = fc.constantFrom<ByteOrder>('LE', 'BE');
  const iface = fc.stringMatching(/^[a-z][a-z0-9._@-]{0,14}$/);
  const entry = fc.record({
    iface,
    destination: address,
    gateway: address,
    flags: fc.integer({ min: 0, max: 0xffff }),
    metric: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    mask: address,
  });

  test('decoding inverts encoding, in either byte order', () => {
    fc.assert(
      fc.property(address, order, (value, byteOrder) => decodeRouteAddress(encodeRouteAddress(value, byteOrder), byteOrder) === value),
    );
  });

  test('a table the kernel prints parses back to its routes', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), order, (entries, byteOrder) => {
        expect(parseRouteTable(table(entries, byteOrder), byteOrder)).toEqual(entries);
      }),
    );
  });

  test('any text parses without throwing, to routes whose addresses are dotted quads', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), order, (text, byteOrder) => {
        for (const parsed of parseRouteTable(text, byteOrder))
          for (const value of [parsed.destination, parsed.gateway, parsed.mask]) expect(value).toMatch(/^(\d{1,3}\.){3}\d{1,3}$/);
      }),
    );
  });

  test('lines mixed with noise: every real line is still read', () => {
    const noise = fc.string({ maxLength: 40 }).filter((text) => !text.includes('\n'));
    fc.assert(
      fc.property(fc.array(fc.tuple(entry, noise), { maxLength: 10 }), (pairs) => {
        const text = pairs.map(([real, junk]) => `${kernelLine(real, 'LE')}\n${junk}`).join('\n');
        const parsed = parseRouteTable(text, 'LE');
        for (const [real] of pairs) expect(parsed).toContainEqual(real);
      }),
    );
  });

  test('the default route is an up route to 0.0.0.0/0 with no lower metric among them', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            entry,
            entry.map((value) => ({ ...value, destination: '0.0.0.0', mask: '0.0.0.0' })),
          ),
          { maxLength: 12 },
        ),
        (entries) => {
          const found = defaultRoute(entries);
          const candidates = entries.filter((value) => value.destination === '0.0.0.0' && value.mask === '0.0.0.0' && value.flags & RTF_UP);
          if (!candidates.length) return expect(found).toBeNull();
          const lowest = Math.min(...candidates.map((value) => value.metric));
          const first = candidates.find((value) => value.metric === lowest)!;
          expect(found).toEqual({ iface: first.iface, gateway: first.gateway, metric: first.metric });
          expect(sameRoute(found, { iface: first.iface, gateway: first.gateway, metric: lowest })).toBe(true);
        },
      ),
    );
  });
});
