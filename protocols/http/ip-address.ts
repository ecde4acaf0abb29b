import { isIP } from 'node:net';

/**
 * One spelling per IP address, so that the allowlist and the address checks
 * compare addresses, not text.
 *
 * - IPv4 in every form the C library's `inet_aton` and the WHATWG URL parser
 *   read: one to four parts, each decimal, octal (leading `0`) or hex (`0x` or
 *   `0X`), the last part filling the remaining bytes, one trailing dot
 *   (`2852039166`, `0XA9FEA9FE`, `0251.0376.0251.0376`, `169.254.43518`)
 *   becomes a dotted quad (`169.254.169.254`).
 * - IPv6 in any case, compressed or not, with leading zeros or an embedded
 *   dotted IPv4 (`[0::1]`, `0:0:0:0:0:0:0:1`) becomes its RFC 5952 text (`::1`).
 * - An IPv4-mapped IPv6 address (`::ffff:a9fe:a9fe`) becomes the IPv4 address
 *   a dual-stack socket connects to (`169.254.169.254`).
 *
 * Returns null for anything that is not an IP address (a name, garbage).
 */
export function canonicalIp(text: string): string | null {
  const groups = parseIpv6(text);
  if (groups) return isIpv4Mapped(groups) ? formatIpv4(groups[6] * 0x10000 + groups[7]) : formatIpv6(groups);
  const ipv4 = text.includes(':') ? null : parseIpv4(text);
  return ipv4 === null ? null : formatIpv4(ipv4);
}

/**
 * A host as the address checks must see it: the canonical address for any
 * numeric spelling, the name itself otherwise, and null for a host that ends
 * in a number without being an IPv4 address (`1.2.3.256`, `example.0x10`),
 * which a URL parser rejects and a resolver might read in its own way.
 */
export function canonicalHost(host: string): string | null {
  const ip = canonicalIp(host);
  if (ip !== null) return ip;
  return endsInNumber(host) ? null : host;
}

/** Whether the last label of `host` (one trailing dot ignored) is a number, as the WHATWG URL parser decides. */
function endsInNumber(host: string): boolean {
  const labels = host.split('.');
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop();
  return /^(?:[0-9]+|0[xX][0-9a-fA-F]*)$/.test(labels[labels.length - 1]);
}

/** Whether `ip` (any spelling) lies in `base/prefixLength`; false when the two are not of one family. */
export function ipInRange(ip: string, base: string, prefixLength: number): boolean {
  const address = ipBits(ip);
  const network = ipBits(base);
  if (!address || !network || address.width !== network.width) return false;
  const shift = BigInt(address.width - prefixLength);
  return address.value >> shift === network.value >> shift;
}

/** The number of bits of `ip`'s family (32 or 128), or null when it is not an IP address. */
export function ipWidth(ip: string): 32 | 128 | null {
  return ipBits(ip)?.width ?? null;
}

/** The first `prefixLength` bits of `ip` with the rest cleared, canonical; null when `ip` is not an IP address. */
export function ipNetwork(ip: string, prefixLength: number): string | null {
  const bits = ipBits(ip);
  if (!bits) return null;
  const shift = BigInt(bits.width - prefixLength);
  const value = (bits.value >> shift) << shift;
  if (bits.width === 32) return formatIpv4(Number(value));
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  return formatIpv6(groups);
}

/** The IPv4 address in the last 32 bits of an IPv6 address (as NAT64 embeds it), or null when `ip` is not IPv6. */
export function lowIpv4(ip: string): string | null {
  const bits = ipBits(ip);
  return bits?.width === 128 ? formatIpv4(Number(bits.value & 0xffffffffn)) : null;
}

function ipBits(ip: string): { width: 32 | 128; value: bigint } | null {
  const canonical = canonicalIp(ip);
  if (canonical === null) return null;
  const groups = parseIpv6(canonical);
  if (!groups) return { width: 32, value: BigInt(parseIpv4(canonical)!) };
  return { width: 128, value: groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n) };
}

const IPV4_PART = /^(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/;

function parseIpv4Part(part: string): number | null {
  if (!IPV4_PART.test(part)) return null;
  if (part[1] === 'x' || part[1] === 'X') return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  return part.length > 1 && part[0] === '0' ? Number.parseInt(part, 8) : Number(part);
}

/** The 32-bit value of an IPv4 address in any `inet_aton` spelling, or null. */
function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length > 4) return null;
  const values = parts.map(parseIpv4Part);
  if (values.some((value) => value === null)) return null;
  const last = values.pop()!;
  if (values.some((value) => value! > 255) || last >= 256 ** (4 - values.length)) return null;
  return values.reduce<number>((sum, value, i) => sum + value! * 256 ** (3 - i), 0) + last;
}

/** The eight 16-bit groups of an IPv6 address (validated by node:net; zone ids refused), or null. */
function parseIpv6(text: string): number[] | null {
  if (isIP(text) !== 6 || text.includes('%')) return null;
  const [left, right] = text.includes('::') ? text.split('::') : [text, undefined];
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':').flatMap(hexGroups));
  const head = groupsOf(left);
  const tail = right === undefined ? [] : groupsOf(right);
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** One written group: a hex group, or the two groups of an embedded dotted IPv4. */
function hexGroups(piece: string): number[] {
  if (!piece.includes('.')) return [Number.parseInt(piece, 16)];
  const value = parseIpv4(piece)!;
  return [Math.floor(value / 0x10000), value % 0x10000];
}

function isIpv4Mapped(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** RFC 5952: lower-case hex without leading zeros, the first longest run of two or more zero groups as `::`. */
function formatIpv6(groups: readonly number[]): string {
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.start === -1) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}
