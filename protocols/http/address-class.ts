import { BlockList } from 'node:net';
import { canonicalIp, ipWidth, lowIpv4 } from './ip-address';

// Addresses are compared in their canonical form (ip-address.ts), so every spelling of an
// address is caught (`::ffff:a9fe:a9fe`, `0:0:0:0:0:ffff:169.254.169.254`, `0::0`, `0XA9FEA9FE`).
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addSubnet('0.0.0.0', 8, 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');
const MULTICAST = new BlockList();
MULTICAST.addSubnet('224.0.0.0', 3, 'ipv4');
MULTICAST.addSubnet('ff00::', 8, 'ipv6');
/** IPv4-compatible IPv6 (`::a.b.c.d`, deprecated by RFC 4291), apart from `::` and `::1`. */
const IPV4_COMPATIBLE = new BlockList();
IPV4_COMPATIBLE.addSubnet('::', 96, 'ipv6');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
/**
 * Networks behind the gateway rather than on the Internet: RFC 1918, shared
 * address space (RFC 6598, carrier-grade NAT and overlay networks), unique
 * local (RFC 4193), the deprecated site-local block, and local-use NAT64 (RFC 8215).
 */
const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fec0::', 10, 'ipv6');
PRIVATE.addSubnet('64:ff9b:1::', 48, 'ipv6');
/** The well-known NAT64 prefix (RFC 6052): `64:ff9b::a9fe:a9fe` reaches 169.254.169.254 through a NAT64 gateway. */
const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

/** The canonical address and its family, and, for a NAT64 address, the IPv4 address it reaches; null for a non-address. */
function classified(ip: string): Array<{ address: string; family: 'ipv4' | 'ipv6' }> | null {
  const address = canonicalIp(ip);
  if (address === null) return null;
  const family = ipWidth(address) === 32 ? 'ipv4' : 'ipv6';
  const forms: Array<{ address: string; family: 'ipv4' | 'ipv6' }> = [{ address, family }];
  if (family === 'ipv6' && NAT64.check(address, 'ipv6')) forms.push({ address: lowIpv4(address)!, family: 'ipv4' });
  return forms;
}

/**
 * Why a proxy must never connect to this IP address, or null when it may:
 * link-local (169.254/16, fe80::/10, where cloud metadata services live),
 * unspecified (0/8, ::), multicast or reserved (224/3, ff00::/8) and
 * IPv4-compatible (::/96) addresses are refused, whatever the allowlist says;
 * a NAT64 address is judged by the IPv4 address it reaches. Anything that is
 * not an IP address is refused too.
 */
export function forbiddenAddressReason(ip: string): string | null {
  const forms = classified(ip);
  if (!forms) return 'not an IP address';
  for (const { address, family } of forms) {
    if (LINK_LOCAL.check(address, family)) return 'link-local addresses are never proxied';
    if (UNSPECIFIED.check(address, family)) return 'the unspecified address is never proxied';
    if (MULTICAST.check(address, family)) return 'multicast and reserved addresses are never proxied';
    if (family === 'ipv6' && address !== '::1' && IPV4_COMPATIBLE.check(address, family))
      return 'IPv4-compatible IPv6 addresses are never proxied';
  }
  return null;
}

/**
 * Whether `ip` is on the gateway's side of the network, and which side:
 * `loopback` (127/8, ::1) or `private` (10/8, 172.16/12, 192.168/16,
 * 100.64/10, fc00::/7, fec0::/10, 64:ff9b:1::/48), however it is spelled
 * (IPv4-mapped and NAT64 forms included); null for anything else. Such a
 * destination is reached only through an allowlist entry that names it.
 */
export function internalAddressKind(ip: string): 'loopback' | 'private' | null {
  for (const { address, family } of classified(ip) ?? []) {
    if (LOOPBACK.check(address, family)) return 'loopback';
    if (PRIVATE.check(address, family)) return 'private';
  }
  return null;
}

/** Whether `ip` is a loopback address (127/8, ::1, IPv4-mapped loopback), however it is spelled. */
export function isLoopback(ip: string): boolean {
  return internalAddressKind(ip) === 'loopback';
}

/** Whether `name` is `localhost` or a name under it, which resolvers answer with loopback (RFC 6761 6.3). */
export function isLoopbackName(name: string): boolean {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return lower === 'localhost' || lower.endsWith('.localhost');
}
