import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { endianness, type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { type DefaultRoute, defaultRoute, describeRoute, parseRouteTable, ROUTE_TABLE_PATH, sameRoute } from './route-table';

/** One address of this machine on one of its interfaces. */
export interface LocalAddress {
  iface: string;
  address: string;
}

/** What the machine's network looks like at one moment. */
export interface NetworkSnapshot {
  /** Every address that is not loopback or IPv6 link-local, sorted. */
  addresses: readonly LocalAddress[];
  /** The IPv4 default route; null when there is none, or the system does not show its table (not Linux). */
  route: DefaultRoute | null;
}

/** What changed between two snapshots. */
export interface NetworkChange {
  gone: LocalAddress[];
  added: LocalAddress[];
  /** The default route before and after, when it changed. */
  route?: { before: DefaultRoute | null; after: DefaultRoute | null };
}

const key = (entry: LocalAddress) => `${entry.iface} ${entry.address}`;

/**
 * The addresses that matter for reaching a gateway, from `os.networkInterfaces()` (which lists only interfaces
 * that are up and running): not loopback, not IPv6 link-local (those come and go with every interface, and no
 * gateway URL names one).
 */
export function snapshotOf(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>, route: DefaultRoute | null): NetworkSnapshot {
  const addresses = new Map<string, LocalAddress>();
  for (const [iface, infos] of Object.entries(interfaces))
    for (const info of infos ?? []) {
      if (info.internal || /^fe[89ab]/i.test(info.address)) continue;
      const entry = { iface, address: info.address };
      addresses.set(key(entry), entry);
    }
  const sorted = [...addresses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
  return { addresses: sorted, route };
}

/** What changed from `before` to `after`; null when nothing did. */
export function compareSnapshots(before: NetworkSnapshot, after: NetworkSnapshot): NetworkChange | null {
  const had = new Set(before.addresses.map(key));
  const has = new Set(after.addresses.map(key));
  const gone = before.addresses.filter((entry) => !has.has(key(entry)));
  const added = after.addresses.filter((entry) => !had.has(key(entry)));
  const routeChanged = !sameRoute(before.route, after.route);
  if (!gone.length && !added.length && !routeChanged) return null;
  return { gone, added, ...(routeChanged ? { route: { before: before.route, after: after.route } } : {}) };
}

/** A change in words: `10.0.0.5 on wlan0 gone, 10.1.0.7 on wlan0 new, default route now via 10.1.0.1 on wlan0`. */
export function describeChange(change: NetworkChange): string {
  const words = [
    ...change.gone.map((entry) => `${entry.address} on ${entry.iface} gone`),
    ...change.added.map((entry) => `${entry.address} on ${entry.iface} new`),
  ];
  if (change.route) words.push(`default route now ${describeRoute(change.route.after)}`);
  return words.join(', ');
}

/** Reads the machine's network now: the interfaces' addresses, and the default route where /proc/net/route shows it. */
async function readSnapshot(previous: { text: string; route: DefaultRoute | null }): Promise<NetworkSnapshot> {
  const text = await readFile(ROUTE_TABLE_PATH, 'latin1').catch(() => '');
  // The table is parsed only when its text changed: most readings are the same as the last.
  if (text !== previous.text) {
    previous.text = text;
    previous.route = defaultRoute(parseRouteTable(text, endianness()));
  }
  return snapshotOf(networkInterfaces(), previous.route);
}

/**
 * Looks at the machine's own network every `pollMs` and calls `onChange` when
 * an address or the default route changed: a laptop that moved is noticed in
 * about a second, without waiting for any connection to time out. Each look
 * is one getifaddrs() and, on Linux, one read of a small /proc file.
 */
export class NetworkWatch {
  private timer: NodeJS.Timeout | undefined;
  private last: NetworkSnapshot | null = null;
  private reading = false;
  private readonly routeText = { text: '\u0000', route: null as DefaultRoute | null };

  constructor(
    private readonly pollMs: number,
    private readonly onChange: (change: NetworkChange) => void,
  ) {}

  /** Takes the first look and starts watching. */
  async start(): Promise<void> {
    this.last = await readSnapshot(this.routeText);
    this.timer = setInterval(() => void this.look(), this.pollMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async look(): Promise<void> {
    if (this.reading || !this.last) return;
    this.reading = true;
    try {
      const now = await readSnapshot(this.routeText);
      if (!this.timer) return;
      const change = compareSnapshots(this.last, now);
      this.last = now;
      if (change) this.onChange(change);
    } finally {
      this.reading = false;
    }
  }
}

/**
 * The local address this machine would send from to reach host:port now, as
 * the kernel's routing picks it (a UDP socket's connect() sends nothing);
 * null when there is no route, or the name does not resolve.
 */
export async function sourceAddressFor(host: string, port: number): Promise<string | null> {
  let address = host;
  let family = isIP(host);
  if (!family) {
    try {
      ({ address, family } = await lookup(host));
    } catch {
      return null;
    }
  }
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve) => {
    let settled = false;
    const done = (source: string | null) => {
      if (settled) return;
      settled = true;
      socket.close();
      resolve(source);
    };
    socket.once('error', () => done(null));
    socket.connect(port, address, () => {
      try {
        done(socket.address().address);
      } catch {
        done(null);
      }
    });
  });
}
