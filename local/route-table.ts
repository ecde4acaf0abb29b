/**
 * The kernel's IPv4 routing table as Linux shows it in /proc/net/route: read
 * by the local proxy to notice when the default route changes (the laptop
 * joined another network, or another interface took over).
 */

/** Where Linux shows the IPv4 routing table. */
export const ROUTE_TABLE_PATH = '/proc/net/route';
/** The route is up (RTF_UP, linux/route.h). */
export const RTF_UP = 0x0001;
/** The route goes through a gateway (RTF_GATEWAY). */
export const RTF_GATEWAY = 0x0002;

/** How the kernel printed its 32-bit words: in the machine's byte order (`os.endianness()`). */
export type ByteOrder = 'LE' | 'BE';

/** One line of the table. Addresses are dotted IPv4. */
export interface RouteEntry {
  iface: string;
  destination: string;
  gateway: string;
  flags: number;
  metric: number;
  mask: string;
}

/** The route packets to anywhere else take: through `gateway` (0.0.0.0 for a point-to-point link) on `iface`. */
export interface DefaultRoute {
  iface: string;
  gateway: string;
  metric: number;
}

/** Decodes an address as the table prints it (`0100000A` on a little-endian machine is 10.0.0.1); null when it is not 8 hex digits. */
export function decodeRouteAddress(hex: string, order: ByteOrder): string | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return null;
  const bytes = [0, 2, 4, 6].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
  return (order === 'LE' ? bytes.reverse() : bytes).join('.');
}

/** Encodes a dotted IPv4 address the way the table prints it (the inverse of {@link decodeRouteAddress}). */
export function encodeRouteAddress(address: string, order: ByteOrder): string {
  const bytes = address.split('.').map((part) => Number(part).toString(16).toUpperCase().padStart(2, '0'));
  return (order === 'LE' ? bytes.reverse() : bytes).join('');
}

/**
 * Parses the text of /proc/net/route: a header line, then one route per line
 * with whitespace-separated columns Iface, Destination, Gateway, Flags,
 * RefCnt, Use, Metric, Mask, MTU, Window, IRTT (interface names hold no
 * whitespace). Lines that do not read as a route are skipped; never throws.
 */
export function parseRouteTable(text: string, order: ByteOrder): RouteEntry[] {
  const entries: RouteEntry[] = [];
  for (const line of text.split('\n')) {
    const columns = line.trim().split(/\s+/);
    if (columns.length < 8 || columns[0] === 'Iface') continue;
    const [iface, destinationHex, gatewayHex, flagsHex, , , metricText, maskHex] = columns;
    const destination = decodeRouteAddress(destinationHex, order);
    const gateway = decodeRouteAddress(gatewayHex, order);
    const mask = decodeRouteAddress(maskHex, order);
    if (!destination || !gateway || !mask || !/^[0-9A-Fa-f]{1,4}$/.test(flagsHex) || !/^-?\d{1,10}$/.test(metricText)) continue;
    entries.push({ iface, destination, gateway, flags: Number.parseInt(flagsHex, 16), metric: Number(metricText), mask });
  }
  return entries;
}

/** The default route in use: of the routes up to 0.0.0.0/0, the one with the lowest metric (the first of equals); null when none. */
export function defaultRoute(entries: readonly RouteEntry[]): DefaultRoute | null {
  let best: RouteEntry | null = null;
  for (const entry of entries) {
    if (entry.destination !== '0.0.0.0' || entry.mask !== '0.0.0.0' || (entry.flags & RTF_UP) === 0) continue;
    if (best === null || entry.metric < best.metric) best = entry;
  }
  return best && { iface: best.iface, gateway: best.gateway, metric: best.metric };
}

/** A default route in words: `via 10.0.0.1 on wlan0`, `on ppp0`, or `none`. */
export function describeRoute(route: DefaultRoute | null): string {
  if (!route) return 'none';
  return route.gateway === '0.0.0.0' ? `on ${route.iface}` : `via ${route.gateway} on ${route.iface}`;
}

/** Whether two readings name the same default route. */
export function sameRoute(a: DefaultRoute | null, b: DefaultRoute | null): boolean {
  if (a === null || b === null) return a === b;
  return a.iface === b.iface && a.gateway === b.gateway && a.metric === b.metric;
}
