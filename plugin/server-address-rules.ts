import { lookup } from 'node:dns/promises';
import { isOwnAddress, localAddresses } from '../adapters/destination-check';
import { isLoopback, isLoopbackName } from '../protocols/http/address-class';
import { canonicalIp } from '../protocols/http/ip-address';
import type { ServerInfo } from '../server-info';
import { serverHostProblem } from '../sources/table-schema';

/** What the rules need to know of the gateway at the moment they are applied. */
export interface ServerAddressRules {
  /** The ports the gateway listens on now (adapters, implicit-TLS ports, the HTTP server the tunnel endpoint is attached to). */
  ownPorts(): ReadonlySet<number>;
  /** The addresses a name resolves to; default the system resolver. */
  resolveName?: (name: string) => Promise<string[]>;
  /** Told about each candidate refused at connect time, and why. */
  onRefused?: (server: ServerInfo, reason: string) => void;
}

/** Whether a canonical address is this machine's: loopback, or one of its interfaces' addresses (unspecified ones are refused before). */
function isGatewayAddress(address: string): boolean {
  return isLoopback(address) || isOwnAddress(localAddresses(), address);
}

function ownEndpoint(host: string, port: number): string {
  return `${host}:${port} is the gateway's own port: a server there would loop connections back into the gateway`;
}

/**
 * Why `host:port` is one of the gateway's own listening endpoints, or null:
 * a port it listens on at a loopback address, one of its interfaces'
 * addresses (in any spelling) or `localhost`. Names are not resolved here.
 */
export function ownEndpointReason(host: string, port: number, ownPorts: ReadonlySet<number>): string | null {
  if (!ownPorts.has(port)) return null;
  if (isLoopbackName(host)) return ownEndpoint(host, port);
  const address = canonicalIp(host);
  return address !== null && isGatewayAddress(address) ? ownEndpoint(host, port) : null;
}

/**
 * The candidates a connection may use, in their order, by the web proxy's
 * address rules: a host the table rules refuse (an entry from a custom
 * source, or saved by an older version) and the gateway's own ports are
 * skipped. A registered server named by a host name has that name resolved
 * now and every address checked, and the checked address is the one
 * connected to (its name cannot be pointed elsewhere in between); the
 * operator's names are resolved only when the port is one of the gateway's.
 * Answered at once (an array, no promise) when no name needs resolving, as
 * for every connection to servers named by address.
 */
export function serversToUse(
  candidates: readonly ServerInfo[],
  rules: ServerAddressRules,
): readonly ServerInfo[] | Promise<readonly ServerInfo[]> {
  if (candidates.length === 0) return candidates;
  const ownPorts = rules.ownPorts();
  const checked: Array<ServerInfo | string | Promise<ServerInfo | string>> = [];
  let lookups = false;
  let allAsGiven = true;
  for (const server of candidates) {
    const verdict = server.tunnel ? server : checkServer(server, ownPorts);
    if (verdict === LOOKUP) {
      lookups = true;
      checked.push(checkResolved(server, ownPorts, rules));
    } else checked.push(verdict);
    if (verdict !== server) allAsGiven = false;
  }
  // Every server usable as it is (the usual case): the list itself, not a copy.
  if (allAsGiven) return candidates;
  if (!lookups) return keepUsable(candidates, checked as Array<ServerInfo | string>, rules);
  return Promise.all(checked).then((verdicts) => keepUsable(candidates, verdicts, rules));
}

/** The candidates whose check gave a server (in their order); the others are told to `onRefused`. */
function keepUsable(
  candidates: readonly ServerInfo[],
  verdicts: ReadonlyArray<ServerInfo | string>,
  rules: ServerAddressRules,
): ServerInfo[] {
  const usable: ServerInfo[] = [];
  for (const [index, verdict] of verdicts.entries()) {
    if (typeof verdict === 'string') rules.onRefused?.(candidates[index]!, verdict);
    else usable.push(verdict);
  }
  return usable;
}

/** Most host verdicts remembered; past it the memo starts again (the table's hosts are few, registered ones are capped). */
const MAX_HOST_VERDICTS = 4096;
/** What the rules say of a host's text alone (refused, and whether it needs no lookup), by host: asked on every connection. */
const hostVerdicts = new Map<string, { problem: string | null; literal: boolean }>();

function hostVerdict(host: string): { problem: string | null; literal: boolean } {
  let verdict = hostVerdicts.get(host);
  if (verdict === undefined) {
    if (hostVerdicts.size >= MAX_HOST_VERDICTS) hostVerdicts.clear();
    verdict = { problem: serverHostProblem(host), literal: canonicalIp(host) !== null || isLoopbackName(host) };
    hostVerdicts.set(host, verdict);
  }
  return verdict;
}

/** What checkServer answers when the server's name must be resolved first (see checkResolved). */
const LOOKUP = Symbol('lookup');

/** The server to connect to, why it is refused, or LOOKUP: its name must be resolved and every address checked. */
function checkServer(server: ServerInfo, ownPorts: ReadonlySet<number>): ServerInfo | string | typeof LOOKUP {
  const verdict = hostVerdict(server.host);
  const problem = verdict.problem ?? ownEndpointReason(server.host, server.port, ownPorts);
  if (problem !== null) return problem;
  if (verdict.literal) return server;
  if (server.registered === undefined && !ownPorts.has(server.port)) return server;
  return LOOKUP;
}

/** A server named by a host name: its host pinned to the checked address when it is a registration's, or why it is refused. */
async function checkResolved(server: ServerInfo, ownPorts: ReadonlySet<number>, rules: ServerAddressRules): Promise<ServerInfo | string> {
  let addresses: string[];
  try {
    addresses = (await (rules.resolveName ?? systemResolve)(server.host)).map((address) => canonicalIp(address) ?? address);
  } catch {
    // The operator's name goes to connect as it is (which reports the failure); a registered one is never used unchecked.
    return server.registered === undefined ? server : `${server.host} cannot be resolved`;
  }
  for (const address of addresses) {
    const refused = serverHostProblem(address) ?? ownEndpointReason(address, server.port, ownPorts);
    if (refused !== null) return `${server.host}: ${refused}`;
  }
  if (addresses.length === 0) return `${server.host} resolves to no address`;
  return server.registered === undefined ? server : { ...server, host: addresses[0] };
}

async function systemResolve(name: string): Promise<string[]> {
  return (await lookup(name, { all: true })).map((answer) => answer.address);
}
