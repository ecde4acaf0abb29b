import { PEER_CLOCK_WINDOW_MS } from '../protocols/peer-signature';

/** Most nonces remembered per peer; beyond it, that peer's new requests are refused until its old nonces age out. */
export const MAX_REMEMBERED_NONCES = 50_000;

/**
 * Remembers the nonces of signed peer requests for as long as their
 * timestamps are acceptable, so a request captured on the wire cannot be
 * sent again. It fails closed: a peer whose nonces fill its share is refused
 * (other peers are not: each has a share of its own).
 */
export class ReplayGuard {
  /** Per peer, `nonce` -> when it may be forgotten (ms). Insertion order is roughly expiry order. */
  private readonly seen = new Map<string, Map<string, number>>();

  constructor(private readonly maxEntries: number = MAX_REMEMBERED_NONCES) {}

  /** Records the nonce; returns why it must be refused, or null when it is new. */
  admit(peer: string, nonce: string, timestamp: number, now: number): string | null {
    const nonces = this.seen.get(peer) ?? new Map<string, number>();
    this.seen.set(peer, nonces);
    prune(nonces, now);
    if (nonces.has(nonce)) return 'replayed request (nonce already used)';
    if (nonces.size >= this.maxEntries) return 'too many peer requests in the clock window; try again shortly';
    nonces.set(nonce, Math.max(timestamp, now) + PEER_CLOCK_WINDOW_MS);
    return null;
  }

  /** Nonces remembered, over every peer. */
  get size(): number {
    let total = 0;
    for (const nonces of this.seen.values()) total += nonces.size;
    return total;
  }
}

function prune(nonces: Map<string, number>, now: number): void {
  for (const [nonce, forgetAt] of nonces) {
    // Kept through forgetAt itself: a timestamp exactly the window old is still accepted.
    if (forgetAt >= now) break;
    nonces.delete(nonce);
  }
}
