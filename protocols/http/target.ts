import { isIP } from 'node:net';
import { canonicalHost, canonicalIp } from './ip-address';

/** A destination named by a proxy request. `host` is a hostname or an IP literal without brackets. */
export interface Destination {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/** Whether `host` is a syntactically valid hostname or IP address (IPv6 without brackets). */
export function isValidHost(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME.test(host);
}

/**
 * Parses the authority of a CONNECT request (RFC 9110 9.3.6): `host:port` or
 * `[ipv6]:port`. The port is required. Returns null for anything else. An IP
 * address comes back in its one canonical spelling (ip-address.ts), whichever
 * the client wrote, so the allowlist and the address checks see the address.
 */
export function parseAuthority(authority: string): Destination | null {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\]:([^:]*)$/.exec(authority);
  if (bracketed) {
    const port = parsePort(bracketed[2]);
    return port !== null && isIP(bracketed[1]) === 6 ? { host: canonicalIp(bracketed[1])!, port } : null;
  }
  const colon = authority.lastIndexOf(':');
  if (colon <= 0) return null;
  const host = authority.slice(0, colon);
  const port = parsePort(authority.slice(colon + 1));
  if (port === null || host.includes(':') || !isValidHost(host)) return null;
  const canonical = canonicalHost(host);
  return canonical === null ? null : { host: canonical, port };
}

/**
 * The dotted-quad form of a host that a URL parser or the C library would
 * read as an IPv4 address (`2852039166`, `0xa9fea9fe`, `0XA9FEA9FE`,
 * `0251.0376.0251.0376`, `169.254.169.254.`); null for anything else.
 */
export function numericIpv4(host: string): string | null {
  const canonical = host.includes(':') ? null : canonicalIp(host);
  return canonical !== null && isIP(canonical) === 4 ? canonical : null;
}

/** The Host header for a request to `destination` (port 80, the http default, left out). */
export function hostHeader(destination: Destination): string {
  const host = isIP(destination.host) === 6 ? `[${destination.host}]` : destination.host;
  return destination.port === 80 ? host : `${host}:${destination.port}`;
}

/** A parsed absolute-form request target (`GET http://host:port/path HTTP/1.1`). */
export interface AbsoluteTarget extends Destination {
  /** origin-form path and query to send to an origin server */
  path: string;
}

/**
 * Parses an absolute-form request target of a forward proxy request. Only
 * `http:` is relayed this way (HTTPS goes through CONNECT). Returns null otherwise.
 * An IP address comes back canonical, as from parseAuthority.
 */
export function parseAbsoluteTarget(target: string): AbsoluteTarget | null {
  if (!/^http:\/\//i.test(target)) return null;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  if (url.username || url.password) return null;
  const host = canonicalHost(url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname);
  if (host === null || !isValidHost(host)) return null;
  const port = url.port === '' ? 80 : Number(url.port);
  if (port < 1) return null;
  return { host, port, path: `${url.pathname}${url.search}` || '/' };
}
