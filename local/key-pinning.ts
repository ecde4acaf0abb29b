import { createHash } from 'node:crypto';
import type { PinnedNetwork } from './state-dir';

/** What to do with a verified discovery answer, given the pins and a configured key. */
export type PinDecision =
  /** The key is the configured one, or the one pinned for this network. */
  | { verdict: 'trusted'; via: 'configured' | 'pinned' }
  /** A network seen for the first time: trust its key and pin it. */
  | { verdict: 'pin' }
  /**
   * Not to be used. `keyChanged` is the loud case: a known network answered
   * with another key, which is what an impersonator would do.
   */
  | { verdict: 'rejected'; keyChanged: boolean; reason: string };

/**
 * Decides whether to trust a gateway key for a network name: a configured key
 * (`--gateway-key`) is the only one accepted; else a pinned key must match;
 * else the first key seen for the name is pinned (trust on first use, as ssh
 * does with host keys).
 */
export function decideKey(
  answer: { name: string; publicKey: string },
  pins: Readonly<Record<string, PinnedNetwork>>,
  configuredKey?: string,
): PinDecision {
  if (configuredKey !== undefined) {
    return answer.publicKey === configuredKey
      ? { verdict: 'trusted', via: 'configured' }
      : {
          verdict: 'rejected',
          keyChanged: false,
          reason: `network "${answer.name}" answered with key ${fingerprint(answer.publicKey)}, not the configured --gateway-key ${fingerprint(configuredKey)}`,
        };
  }
  const pinned = Object.hasOwn(pins, answer.name) ? pins[answer.name] : undefined;
  if (!pinned) return { verdict: 'pin' };
  if (pinned.publicKey === answer.publicKey) return { verdict: 'trusted', via: 'pinned' };
  return {
    verdict: 'rejected',
    keyChanged: true,
    reason: `the key of network "${answer.name}" changed: pinned ${fingerprint(pinned.publicKey)} on ${pinned.pinnedAt}, offered ${fingerprint(answer.publicKey)}`,
  };
}

/** A short, stable name for a key: `SHA256:` and the base64 of its SPKI's SHA-256, as ssh prints host keys. */
export function fingerprint(publicKey: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('base64').replace(/=+$/, '')}`;
}
