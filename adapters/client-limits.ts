import { canonicalIp, ipNetwork, ipWidth } from '../protocols/http/ip-address';

/**
 * Simultaneous clients one address may have on one port (a tenth of the
 * default `maxClients`): enough for a NAT with dozens of mail clients behind
 * it, few enough that one address cannot take every place. Loopback clients
 * are exempt unless the adapter says otherwise (`loopbackExempt: false`): on
 * loopback are the machine itself and a front proxy that all clients share.
 */
export const DEFAULT_MAX_CLIENTS_PER_ADDRESS = 100;

/** The client limits of one adapter's ports (`adapters.<service>`). */
export interface ClientLimits {
  /** Simultaneous clients on one port; more are refused in the protocol. */
  maxClients: number;
  /** Simultaneous clients from one address on one port (an IPv6 /64 counts as one address); default DEFAULT_MAX_CLIENTS_PER_ADDRESS. */
  maxClientsPerAddress?: number;
  /** Loopback clients are not held to `maxClientsPerAddress`; default true. */
  loopbackExempt?: boolean;
}

/** `limits` with every default filled in, once, where an adapter is built. */
export function withClientDefaults(limits: ClientLimits): Required<ClientLimits> {
  return {
    maxClients: limits.maxClients,
    maxClientsPerAddress: limits.maxClientsPerAddress ?? DEFAULT_MAX_CLIENTS_PER_ADDRESS,
    loopbackExempt: limits.loopbackExempt ?? true,
  };
}

/** An IPv4 address in canonical dotted form: four decimal octets of 0-255, no leading zeros. */
const CANONICAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * What a per-address limit counts a client under: its IPv4 address (an
 * IPv4-mapped IPv6 address as that IPv4 address), or the /64 of its IPv6
 * address, since one subscriber routinely holds a whole /64.
 */
export function addressKey(address: string): string {
  // The kernel reports an IPv4 peer in canonical dotted form (alone or IPv4-mapped): that is its key, with no parse.
  if (CANONICAL_IPV4.test(address)) return address;
  if (address.startsWith('::ffff:') && CANONICAL_IPV4.test(address.slice(7))) return address.slice(7);
  const canonical = canonicalIp(address);
  if (canonical === null) return address;
  return ipWidth(canonical) === 128 ? `${ipNetwork(canonical, 64)}/64` : canonical;
}

const NOTHING_TO_GIVE_BACK = (): void => undefined;

/** Places held per key (an address, a lease), up to `limit` each; with `shared`, counting the other processes' too. */
export class PlacesPerKey {
  private readonly held = new Map<string, number>();

  constructor(
    readonly limit: number,
    private readonly shared?: SharedPlaces,
  ) {}

  /** Takes a place for `key`: the function that gives it back (once, however often called), or null when `key` has `limit` already. */
  take(key: string): (() => void) | null {
    const count = this.held.get(key) ?? 0;
    if (count + (this.shared?.elsewhere(key) ?? 0) >= this.limit) return null;
    this.set(key, count + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.set(key, (this.held.get(key) ?? 1) - 1);
    };
  }

  private set(key: string, count: number): void {
    if (count === 0) this.held.delete(key);
    else this.held.set(key, count);
    this.shared?.holding(key, count);
  }
}

/**
 * The places other gateway processes on the same store hold per address (a
 * fleet): what a per-address limit adds to this process's own count, and
 * where this process says what it holds. See plugin/fleet-places.ts.
 */
export interface SharedPlaces {
  /** Places held for `key` by the other processes, as last heard. */
  elsewhere(key: string): number;
  /** This process holds `count` places for `key` now. */
  holding(key: string, count: number): void;
}

/** Places per client address on one port or endpoint, loopback exempt when so configured; with `shared`, for the whole fleet. */
export class ClientsPerAddress {
  private readonly places: PlacesPerKey;

  constructor(
    readonly limit: number,
    private readonly loopbackExempt: boolean,
    shared?: SharedPlaces,
  ) {
    this.places = new PlacesPerKey(limit, shared);
  }

  /** Takes a place for a client from `address` (undefined: a socket already gone, let through); null when its address is full. */
  take(address: string | undefined): (() => void) | null {
    if (address === undefined || (this.loopbackExempt && isLoopbackPeer(address))) return NOTHING_TO_GIVE_BACK;
    return this.places.take(addressKey(address));
  }
}

/**
 * Whether a peer address as the kernel reports it (always in canonical form:
 * `127.0.0.1`, `::1`, `::ffff:127.0.0.1`) is loopback: a prefix test, run per
 * accepted connection, where a spelling-proof parse is not needed.
 */
function isLoopbackPeer(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}
