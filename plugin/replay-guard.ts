import { PEER_CLOCK_WINDOW_MS } from '../protocols/peer-signature';

/** Most peer nonces remembered at once; beyond it, new requests are refused until old nonces age out. */
export const MAX_REMEMBERED_NONCES = 100_000;

/**
 * Remembers the nonces of signed peer requests for as long as their
 * timestamps are acceptable, so a request captured on the wire cannot be
 * sent again. It fails closed: when full of unexpired nonces it refuses.
 */
export class ReplayGuard {
  /** `peer nonce` -> when it may be forgotten (ms). Insertion order is roughly expiry order. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries: number = MAX_REMEMBERED_NONCES) {}

  /** Records the nonce; returns why it must be refused, or null when it is new. */
  admit(peer: string, nonce: string, timestamp: number, now: number): string | null {
    this.prune(now);
    const key = `${peer} ${nonce}`;
    if (this.seen.has(key)) return 'replayed request (nonce already used)';
    if (this.seen.size >= this.maxEntries) return 'too many peer requests in the clock window; try again shortly';
    this.seen.set(key, Math.max(timestamp, now) + PEER_CLOCK_WINDOW_MS);
    return null;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    for (const [key, forgetAt] of this.seen) {
      // Kept through forgetAt itself: a timestamp exactly the window old is still accepted.
      if (forgetAt >= now) break;
      this.seen.delete(key);
    }
  }
}
