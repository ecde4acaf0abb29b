import { BlockList, isIP } from 'node:net';

// BlockList compares parsed addresses, so every spelling of an address is caught
// (`::ffff:a9fe:a9fe`, `0:0:0:0:0:ffff:169.254.169.254`, `0::0`), and IPv4 rules
// also apply to IPv4-mapped IPv6 addresses.
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addSubnet('0.0.0.0', 8, 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');
const MULTICAST = new BlockList();
MULTICAST.addSubnet('224.0.0.0', 3, 'ipv4');
MULTICAST.addSubnet('ff00::', 8, 'ipv6');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

function family(ip: string): 'ipv4' | 'ipv6' | null {
  const version = isIP(ip);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
}

/**
 * Why a proxy must never connect to this IP address, or null when it may:
 * link-local (169.254/16, fe80::/10, where cloud metadata services live),
 * unspecified (0/8, ::) and multicast or reserved (224/3, ff00::/8) addresses
 * are refused. Anything that is not an IP address is refused too.
 */
export function forbiddenAddressReason(ip: string): string | null {
  const type = family(ip);
  if (!type) return 'not an IP address';
  if (LINK_LOCAL.check(ip, type)) return 'link-local addresses are never proxied';
  if (UNSPECIFIED.check(ip, type)) return 'the unspecified address is never proxied';
  if (MULTICAST.check(ip, type)) return 'multicast and reserved addresses are never proxied';
  return null;
}

/** Whether `ip` is a loopback address (127/8, ::1, IPv4-mapped loopback), however it is spelled. */
export function isLoopback(ip: string): boolean {
  const type = family(ip);
  return type !== null && LOOPBACK.check(ip, type);
}
