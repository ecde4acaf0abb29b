import type { NetworkInterfaceInfo } from 'node:os';
import fc from 'fast-check';
import { compareSnapshots, describeChange, type NetworkSnapshot, snapshotOf } from '../../local/network-watch';

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '02:00:00:00:00:01',
  internal,
  cidr: `${address}/24`,
});
const v6 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: 'ffff:ffff:ffff:ffff::',
  family: 'IPv6',
  mac: '02:00:00:00:00:01',
  internal,
  cidr: `${address}/64`,
  scopeid: 0,
});
const WIFI_ROUTE = { iface: 'wlan0', gateway: '192.168.0.1', metric: 600 };
const CAFE_ROUTE = { iface: 'wlan0', gateway: '10.9.0.1', metric: 600 };

describe('snapshotOf', () => {
  test('keeps the addresses a gateway could be reached from, sorted; not loopback, not IPv6 link-local', () => {
    const snapshot = snapshotOf(
      {
        wlan0: [v4('192.168.0.23'), v6('fe80::1c2:3ff:fe04:506'), v6('2001:db8::23')],
        lo: [v4('127.0.0.1', true), v6('::1', true)],
        eth0: [v4('10.0.0.5')],
      },
      WIFI_ROUTE,
    );
    expect(snapshot).toEqual({
      addresses: [
        { iface: 'eth0', address: '10.0.0.5' },
        { iface: 'wlan0', address: '192.168.0.23' },
        { iface: 'wlan0', address: '2001:db8::23' },
      ],
      route: WIFI_ROUTE,
    });
  });
});

describe('compareSnapshots', () => {
  const at = (addresses: [string, string][], route: NetworkSnapshot['route']): NetworkSnapshot => ({
    addresses: addresses.map(([iface, address]) => ({ iface, address })),
    route,
  });
  const home = at([['wlan0', '192.168.0.23']], WIFI_ROUTE);

  test.each<[string, NetworkSnapshot, ReturnType<typeof compareSnapshots>, string]>([
    ['nothing changed', at([['wlan0', '192.168.0.23']], { ...WIFI_ROUTE }), null, ''],
    [
      'another Wi-Fi network: the address and the default route',
      at([['wlan0', '10.9.0.77']], CAFE_ROUTE),
      {
        gone: [{ iface: 'wlan0', address: '192.168.0.23' }],
        added: [{ iface: 'wlan0', address: '10.9.0.77' }],
        route: { before: WIFI_ROUTE, after: CAFE_ROUTE },
      },
      '192.168.0.23 on wlan0 gone, 10.9.0.77 on wlan0 new, default route now via 10.9.0.1 on wlan0',
    ],
    [
      'Wi-Fi dropped: offline',
      at([], null),
      { gone: [{ iface: 'wlan0', address: '192.168.0.23' }], added: [], route: { before: WIFI_ROUTE, after: null } },
      '192.168.0.23 on wlan0 gone, default route now none',
    ],
    [
      'Ethernet plugged in beside Wi-Fi: the default route moves to it',
      at(
        [
          ['eth0', '10.0.0.5'],
          ['wlan0', '192.168.0.23'],
        ],
        { iface: 'eth0', gateway: '10.0.0.1', metric: 100 },
      ),
      {
        gone: [],
        added: [{ iface: 'eth0', address: '10.0.0.5' }],
        route: { before: WIFI_ROUTE, after: { iface: 'eth0', gateway: '10.0.0.1', metric: 100 } },
      },
      '10.0.0.5 on eth0 new, default route now via 10.0.0.1 on eth0',
    ],
    [
      'the same address on another interface',
      at([['eth0', '192.168.0.23']], WIFI_ROUTE),
      { gone: [{ iface: 'wlan0', address: '192.168.0.23' }], added: [{ iface: 'eth0', address: '192.168.0.23' }] },
      '192.168.0.23 on wlan0 gone, 192.168.0.23 on eth0 new',
    ],
  ])('%s', (_name, after, expected, words) => {
    const change = compareSnapshots(home, after);
    expect(change).toEqual(expected);
    if (change) expect(describeChange(change)).toBe(words);
  });

  test('properties: no change against itself; gone and added are exactly the differences', () => {
    const entry = fc.record({
      iface: fc.constantFrom('eth0', 'wlan0', 'wwan0'),
      address: fc.constantFrom('10.0.0.5', '10.0.0.6', '2001:db8::1'),
    });
    const route = fc.option(
      fc.record({ iface: fc.constantFrom('eth0', 'wlan0'), gateway: fc.constantFrom('10.0.0.1', '0.0.0.0'), metric: fc.nat(1000) }),
    );
    const snapshot = fc
      .record({ addresses: fc.uniqueArray(entry, { selector: (value) => `${value.iface} ${value.address}` }), route })
      .map((value): NetworkSnapshot => value);
    fc.assert(
      fc.property(snapshot, snapshot, (before, after) => {
        expect(compareSnapshots(before, before)).toBeNull();
        const change = compareSnapshots(before, after);
        const keys = (list: readonly { iface: string; address: string }[]) => list.map((value) => `${value.iface} ${value.address}`).sort();
        const beforeKeys = new Set(keys(before.addresses));
        const afterKeys = new Set(keys(after.addresses));
        const gone = [...beforeKeys].filter((key) => !afterKeys.has(key)).sort();
        const added = [...afterKeys].filter((key) => !beforeKeys.has(key)).sort();
        if (change === null) return expect([gone, added]).toEqual([[], []]);
        expect(keys(change.gone)).toEqual(gone);
        expect(keys(change.added)).toEqual(added);
      }),
    );
  });
});
