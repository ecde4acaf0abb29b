import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { normalizeAddress } from './lease-manager';

/** `10.0.0.0/8`, `2001:db8::/32`, or one address. */
const ENTRY = /^([^/\s]+)(?:\/(\d{1,3}))?$/;

/**
 * Checks one `leases.sharedAddresses` entry; the message says what is wrong,
 * undefined when it is fine.
 */
export function sharedAddressProblem(entry: string): string | undefined {
  const match = ENTRY.exec(entry);
  if (!match) return 'must be an address or a range such as 10.0.0.0/8';
  const [, address, bits] = match;
  const family = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (family === 0) return 'must be an IPv4 or IPv6 address, with an optional /prefix';
  if (bits !== undefined && Number(bits) > family) return `the prefix must be 0-${family}`;
  return undefined;
}

/**
 * Addresses shared by many people (a NAT, a terminal server): a lease there
 * identifies nobody by address, and logins from one never conflict; only a
 * token, a login session or an in-protocol login says who a client is.
 * Entries are checked by `sharedAddressProblem` first.
 */
export function sharedAddresses(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [, address, bits] = ENTRY.exec(entry)!;
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    const plain = normalizeAddress(address);
    if (isIPv4(plain)) return list.check(plain, 'ipv4');
    return isIPv6(plain) && list.check(plain, 'ipv6');
  };
}
