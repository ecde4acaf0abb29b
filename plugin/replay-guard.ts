import { PEER_CLOCK_WINDOW_MS } from '../protocols/peer-signature';
import type { Store } from '../store/store';

/** Most nonces remembered per peer; beyond it, that peer's new requests are refused until its old nonces age out. */
export const MAX_REMEMBERED_NONCES = 50_000;

/** Why a request was refused, as the peer is told and the audit trail records it. */
export const REPLAYED_REQUEST = 'replayed request (nonce already used)';
export const TOO_MANY_PEER_REQUESTS = 'too many peer requests in the clock window; try again shortly';

/**
 * Remembers the nonces of signed peer requests for as long as their
 * timestamps are acceptable, so a request captured on the wire cannot be
 * sent again. The nonces live in the store, so a restart does not forget
 * them and processes sharing one store file see each other's. It fails
 * closed: a peer whose nonces fill its share is refused (other peers are
 * not: each has a share of its own).
 */
export class ReplayGuard {
  constructor(
    private readonly nonces: Store['nonces'],
    private readonly maxPerPeer: number = MAX_REMEMBERED_NONCES,
  ) {}

  /**
   * Records the nonce; resolves to why the request must be refused, or null
   * when it is new. Rejects (ROAMGATE_SOURCE_FAILED) when the store fails.
   */
  async admit(peer: string, nonce: string, timestamp: number, now: number): Promise<string | null> {
    // Kept through the last moment at which verifyRequest still accepts the timestamp.
    const forgetAt = Math.max(timestamp, now) + PEER_CLOCK_WINDOW_MS;
    const verdict = await this.nonces.admit(peer, nonce, forgetAt, now, this.maxPerPeer);
    return verdict === 'admitted' ? null : verdict === 'replayed' ? REPLAYED_REQUEST : TOO_MANY_PEER_REQUESTS;
  }
}
