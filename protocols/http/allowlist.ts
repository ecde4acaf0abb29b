import { isIP } from 'node:net';
import { isValidHost } from './target';

/**
 * One allowlist entry, written `host:ports`: host is an exact name or IP,
 * `*.example.org` (any subdomain) or `*`; ports are `443`, `8000-8999` or `*`.
 * IPv6 hosts are bracketed: `[::1]:8080`.
 */
export interface AllowRule {
  host: string;
  wildcard: 'none' | 'suffix' | 'any';
  portMin: number;
  portMax: number;
}

/** Parses one allowlist entry; throws an Error with a message fit for an option path. */
export function parseAllowRule(entry: string): AllowRule {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):(\*|[0-9]{1,5}(?:-[0-9]{1,5})?)$/.exec(entry.trim());
  if (!match) throw new Error(`"${entry}" is not host:port, host:low-high or host:*`);
  let host = normalizeHost(match[1]);
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6) throw new Error(`"${entry}": only IPv6 addresses are written in brackets`);
  }
  let portMin = 1;
  let portMax = 65535;
  if (match[2] !== '*') {
    const [low, high = low] = match[2].split('-').map(Number);
    if (low < 1 || high > 65535 || low > high) throw new Error(`"${entry}" has a port outside 1-65535`);
    portMin = low;
    portMax = high;
  }
  if (host === '*') return { host: '', wildcard: 'any', portMin, portMax };
  const wildcard = host.startsWith('*.') ? 'suffix' : 'none';
  const name = wildcard === 'suffix' ? host.slice(2) : host;
  if (name.includes('*')) throw new Error(`"${entry}": a wildcard is allowed only as "*" or a leading "*."`);
  if (!isValidHost(name)) throw new Error(`"${entry}": "${name}" is not a hostname or IP address`);
  return { host: wildcard === 'suffix' ? `.${name}` : name, wildcard, portMin, portMax };
}

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/** Whether any rule allows `host:port`. An empty list allows nothing. */
export function isAllowed(rules: readonly AllowRule[], host: string, port: number): boolean {
  const name = normalizeHost(host);
  return rules.some((rule) => {
    if (port < rule.portMin || port > rule.portMax) return false;
    if (rule.wildcard === 'any') return true;
    if (rule.wildcard === 'suffix') return name.endsWith(rule.host) && name.length > rule.host.length;
    return name === rule.host;
  });
}
