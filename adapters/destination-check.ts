import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { RoamgateError } from '../errors';
import { allowance, type AllowRule } from '../protocols/http/allowlist';
import { forbiddenAddressReason, internalAddressKind, isLoopback, isLoopbackName } from '../protocols/http/address-class';
import { canonicalHost, canonicalIp } from '../protocols/http/ip-address';
import type { Destination } from '../protocols/http/target';
import { formatAddress } from '../net/address';

/**
 * The gateway's own addresses as a BlockList: it compares addresses, not
 * their spelling, so `::ffff:192.0.2.2` or `fd00:0::2` match as well.
 */
export function localAddresses(): BlockList {
  const addresses = new BlockList();
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const family = info.family === 'IPv6' ? 'ipv6' : 'ipv4';
      addresses.addAddress(info.address.split('%')[0]!, family);
      // An IPv4 address is also reachable as its IPv4-mapped IPv6 form.
      if (family === 'ipv4') addresses.addAddress(`::ffff:${info.address}`, 'ipv6');
    }
  }
  return addresses;
}

/** Whether `address` (any spelling) is one of `local`'s. */
export function isOwnAddress(local: BlockList, address: string): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return local.check(address, family);
}

function refuse(message: string): never {
  throw new RoamgateError('ROAMGATE_DESTINATION_REFUSED', message);
}

/**
 * Decides whether a web-proxy destination may be reached and returns the
 * address to connect to. The gateway is never an open proxy: the destination
 * (any numeric spelling read as its one canonical address first) must match
 * the allowlist, and whatever its name resolves to must not be link-local,
 * unspecified or multicast, nor one of the gateway's own ports on one of its
 * own addresses. A loopback or private address (10/8, 172.16/12, 192.168/16,
 * fc00::/7, ...) is reached only when an entry names it, by its name, its
 * address or a range holding it: never through `*` or `*.domain` alone. The
 * name is resolved once and the checked address is the one connected to, so
 * a DNS answer cannot change in between. When an upstream proxy does the
 * connecting (`resolveNames` false), names are passed on unresolved (only
 * `localhost` and its subdomains are known to be loopback) and IP literals
 * are checked here.
 */
export async function checkDestination(
  destination: Destination,
  allow: readonly AllowRule[],
  ownPorts: ReadonlySet<number>,
  resolveNames: boolean,
): Promise<string> {
  const named = formatAddress(destination.host, destination.port);
  const host = canonicalHost(destination.host);
  if (host === null) refuse(`destination ${named} is not a valid host`);
  const allowed = allowance(allow, host, destination.port);
  if (!allowed) refuse(`destination ${named} is not on this gateway's allowlist`);
  const literal = isIP(host) !== 0;
  if (!literal && isLoopbackName(host) && allowed !== 'named') refuse(`destination ${named} refused: ${NEEDS_NAMING.loopback}`);
  if (!resolveNames && !literal) return host;
  const addresses = literal ? [host] : await resolve(host);
  const local = ownPorts.has(destination.port) ? localAddresses() : null;
  for (const address of addresses) {
    const forbidden = forbiddenAddressReason(address);
    if (forbidden) refuse(`destination ${named} refused: ${forbidden}`);
    if (local && (isLoopback(address) || isOwnAddress(local, address)))
      refuse(`destination ${named} refused: the gateway's own ports are never proxied`);
    const internal = internalAddressKind(address);
    if (internal && allowed !== 'named' && allowance(allow, address, destination.port) !== 'named')
      refuse(`destination ${named} refused: ${NEEDS_NAMING[internal]}`);
  }
  return addresses[0];
}

const NEEDS_NAMING = {
  loopback: 'loopback addresses are reached only through an allowlist entry naming them, not * or *.domain',
  private: 'private addresses are reached only through an allowlist entry naming them (a name, an address or a range), not * or *.domain',
};

/** The addresses `name` resolves to, canonical. */
async function resolve(name: string): Promise<string[]> {
  try {
    return (await lookup(name, { all: true })).map((answer) => canonicalIp(answer.address) ?? answer.address);
  } catch (cause) {
    throw new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `cannot resolve ${name}`, { cause });
  }
}
