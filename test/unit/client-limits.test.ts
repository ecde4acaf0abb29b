import fc from 'fast-check';
import { addressKey, ClientsPerAddress } from '../../adapters/client-limits';
import { canonicalIp, ipNetwork, ipWidth } from '../../protocols/http/ip-address';

/** What addressKey answered before its fast path for kernel-style IPv4: a parse of every address. */
function parsedKey(address: string): string {
  const canonical = canonicalIp(address);
  if (canonical === null) return address;
  return ipWidth(canonical) === 128 ? `${ipNetwork(canonical, 64)}/64` : canonical;
}

const octet = fc.integer({ min: 0, max: 255 });
/** IPv4 in any spelling a caller might hand over: canonical, with leading zeros, out of range, short. */
const ipv4Like = fc.oneof(
  fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.')),
  fc.tuple(octet, octet, octet, octet).map((parts) => parts.map((part) => String(part).padStart(3, '0')).join('.')),
  fc.tuple(fc.integer({ min: 0, max: 999 }), octet, octet, octet).map((parts) => parts.join('.')),
  fc.tuple(octet, octet, octet).map((parts) => parts.join('.')),
);
const addressLike = fc.oneof(
  ipv4Like,
  ipv4Like.map((ip) => `::ffff:${ip}`),
  ipv4Like.map((ip) => `::FFFF:${ip}`),
  fc.ipV6(),
  fc.string({ maxLength: 20 }),
);

describe('addressKey', () => {
  test('answers what a full parse answers, for every spelling (the kernel-style IPv4 fast path changes nothing)', () => {
    fc.assert(
      fc.property(addressLike, (address) => {
        expect(addressKey(address)).toBe(parsedKey(address));
      }),
      { numRuns: 2000 },
    );
  });

  test('an IPv4 peer and its IPv4-mapped form count as one address; an IPv6 peer counts by its /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe(addressKey('2001:db8:1:2:ffff::1'));
  });
});

describe('ClientsPerAddress', () => {
  test('a mapped and a plain spelling of one IPv4 address share its places', () => {
    const places = new ClientsPerAddress(2, true);
    const first = places.take('192.0.2.7');
    expect(first).not.toBeNull();
    expect(places.take('::ffff:192.0.2.7')).not.toBeNull();
    expect(places.take('192.0.2.7')).toBeNull();
    first!();
    expect(places.take('::ffff:192.0.2.7')).not.toBeNull();
  });
});
