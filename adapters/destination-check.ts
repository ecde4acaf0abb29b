import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { RoamgateError } from '../errors';
import { isAllowed, type AllowRule } from '../protocols/http/allowlist';
import { forbiddenAddressReason, isLoopback } from '../protocols/http/address-class';
import type { Destination } from '../protocols/http/target';
import { formatAddress } from '../net/address';

/**
 * The gateway's own addresses as a BlockList: it compares addresses, not
 * their spelling, so `::ffff:192.0.2.2` or `fd00:0::2` match as well.
 */
function localAddresses(): BlockList {
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
function isOwnAddress(local: BlockList, address: string): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return local.check(address, family);
}

function refuse(message: string): never {
  throw new RoamgateError('ROAMGATE_DESTINATION_REFUSED', message);
}

/**
 * Decides whether a web-proxy destination may be reached and returns the
 * address to connect to. The gateway is never an open proxy: the destination
 * must match the allowlist, and whatever its name resolves to must not be
 * link-local, unspecified or multicast, nor one of the gateway's own ports on
 * one of its own addresses. The name is resolved once and the checked
 * address is the one connected to, so a DNS answer cannot change in between.
 * When an upstream proxy does the connecting (`resolveNames` false), names
 * are passed on unresolved and only IP literals are checked here.
 */
export async function checkDestination(
  destination: Destination,
  allow: readonly AllowRule[],
  ownPorts: ReadonlySet<number>,
  resolveNames: boolean,
): Promise<string> {
  const named = formatAddress(destination.host, destination.port);
  if (!isAllowed(allow, destination.host, destination.port)) refuse(`destination ${named} is not on this gateway's allowlist`);
  if (!resolveNames && isIP(destination.host) === 0) return destination.host;
  let addresses: string[];
  if (isIP(destination.host) !== 0) {
    addresses = [destination.host];
  } else {
    try {
      addresses = (await lookup(destination.host, { all: true })).map((answer) => answer.address);
    } catch (cause) {
      throw new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `cannot resolve ${destination.host}`, { cause });
    }
  }
  const local = ownPorts.has(destination.port) ? localAddresses() : null;
  for (const address of addresses) {
    const forbidden = forbiddenAddressReason(address);
    if (forbidden) refuse(`destination ${named} refused: ${forbidden}`);
    if (local && (isLoopback(address) || isOwnAddress(local, address)))
      refuse(`destination ${named} refused: the gateway's own ports are never proxied`);
  }
  return addresses[0];
}
