import { isIP } from 'node:net';
import { canonicalHost, canonicalIp, ipInRange, ipNetwork, ipWidth } from './ip-address';
import { isValidHost } from './target';

/**
 * One allowlist entry, written `host:ports`: host is an exact name or IP,
 * an address range (`10.1.0.0/16`, `[fd00::/8]`), `*.example.org` (any
 * subdomain) or `*`; ports are `443`, `8000-8999` or `*`. IPv6 hosts are
 * bracketed: `[::1]:8080`. Addresses are kept in their canonical spelling.
 */
export interface AllowRule {
  host: string;
  wildcard: 'none' | 'suffix' | 'any';
  portMin: number;
  portMax: number;
  /** An address range: `host` is its network address, this its prefix length. */
  prefixLength?: number;
}

/** Parses one allowlist entry; throws an Error with a message fit for an option path. */
export function parseAllowRule(entry: string): AllowRule {
  const match = /^(\[[0-9A-Fa-f:./]+\]|[^:\s]+):(\*|[0-9]{1,5}(?:-[0-9]{1,5})?)$/.exec(entry.trim());
  if (!match) throw new Error(`"${entry}" is not host:port, host:low-high or host:*`);
  let host = normalizeName(match[1]);
  const bracketed = host.startsWith('[');
  if (bracketed) {
    host = host.slice(1, -1);
    if (isIP(host.split('/')[0]) !== 6) throw new Error(`"${entry}": only IPv6 addresses are written in brackets`);
  }
  let portMin = 1;
  let portMax = 65535;
  if (match[2] !== '*') {
    const [low, high = low] = match[2].split('-').map(Number);
    if (low < 1 || high > 65535 || low > high) throw new Error(`"${entry}" has a port outside 1-65535`);
    portMin = low;
    portMax = high;
  }
  if (host.includes('/')) return { ...parseRange(entry, host, bracketed), wildcard: 'none', portMin, portMax };
  if (host === '*') return { host: '', wildcard: 'any', portMin, portMax };
  const wildcard = host.startsWith('*.') ? 'suffix' : 'none';
  const name = wildcard === 'suffix' ? host.slice(2) : host;
  if (name.includes('*')) throw new Error(`"${entry}": a wildcard is allowed only as "*" or a leading "*."`);
  const canonical = canonicalHost(name);
  if (!isValidHost(name) || canonical === null) throw new Error(`"${entry}": "${name}" is not a hostname or IP address`);
  if (wildcard === 'suffix' && canonical !== name)
    throw new Error(`"${entry}": "*." covers names, not addresses; write a range (10.0.0.0/8)`);
  return { host: wildcard === 'suffix' ? `.${name}` : canonical, wildcard, portMin, portMax };
}

/** `address/length`: IPv4 unbracketed, IPv6 in brackets; host bits are cleared. */
function parseRange(entry: string, text: string, bracketed: boolean): { host: string; prefixLength: number } {
  const [address, length] = text.split('/');
  const canonical = canonicalIp(address);
  const width = canonical === null ? null : ipWidth(canonical);
  if (width === null || width !== (bracketed ? 128 : 32) || !/^[0-9]{1,3}$/.test(length) || Number(length) > width)
    throw new Error(`"${entry}": an address range is a.b.c.d/0-32 or [ipv6]/0-128 (IPv4 ranges unbracketed)`);
  return { host: ipNetwork(canonical!, Number(length))!, prefixLength: Number(length) };
}

function normalizeName(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/**
 * How the rules allow `host:port`: `named` when a rule names it (its exact name
 * or address, or an address range holding it), `wildcard` when only `*` or
 * `*.domain` rules match, null when none does. Hosts are compared in their
 * canonical spelling; a wildcard for names never matches an IP address.
 * An empty list allows nothing.
 */
export function allowance(rules: readonly AllowRule[], host: string, port: number): 'named' | 'wildcard' | null {
  const canonical = canonicalHost(host);
  if (canonical === null) return null;
  const ip = canonicalIp(canonical) !== null;
  const name = ip ? canonical : normalizeName(canonical);
  let found: 'wildcard' | null = null;
  for (const rule of rules) {
    if (port < rule.portMin || port > rule.portMax) continue;
    if (rule.wildcard === 'any') found = 'wildcard';
    else if (rule.wildcard === 'suffix') {
      if (!ip && name.endsWith(rule.host) && name.length > rule.host.length) found = 'wildcard';
    } else if (rule.prefixLength !== undefined ? ip && ipInRange(name, rule.host, rule.prefixLength) : name === rule.host) return 'named';
  }
  return found;
}

/** Whether any rule allows `host:port`. An empty list allows nothing. */
export function isAllowed(rules: readonly AllowRule[], host: string, port: number): boolean {
  return allowance(rules, host, port) !== null;
}
