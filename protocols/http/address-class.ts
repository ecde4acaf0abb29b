import { isIP } from 'node:net';

function ipv4Octets(ip: string): number[] | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const v4 = mapped ? mapped[1] : ip;
  return isIP(v4) === 4 ? v4.split('.').map(Number) : null;
}

/**
 * Why a proxy must never connect to this IP address, or null when it may:
 * link-local (169.254/16, fe80::/10, where cloud metadata services live),
 * unspecified (0.0.0.0, ::) and multicast addresses are refused.
 */
export function forbiddenAddressReason(ip: string): string | null {
  const v4 = ipv4Octets(ip);
  if (v4) {
    if (v4[0] === 169 && v4[1] === 254) return 'link-local addresses are never proxied';
    if (v4[0] === 0) return 'the unspecified address is never proxied';
    if (v4[0] >= 224) return 'multicast and reserved addresses are never proxied';
    return null;
  }
  const lower = ip.toLowerCase();
  if (/^fe[89ab][0-9a-f]:/.test(lower)) return 'link-local addresses are never proxied';
  if (lower === '::' || lower === '::0') return 'the unspecified address is never proxied';
  if (lower.startsWith('ff')) return 'multicast addresses are never proxied';
  return null;
}

/** Whether `ip` is a loopback address (127/8, ::1, or IPv4-mapped loopback). */
export function isLoopback(ip: string): boolean {
  const v4 = ipv4Octets(ip);
  if (v4) return v4[0] === 127;
  return ip === '::1' || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(ip);
}
