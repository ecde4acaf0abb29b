import { createHash } from 'node:crypto';
import { decideKey, fingerprint, type PinDecision } from '../../local/key-pinning';
import type { PinnedNetwork } from '../../local/state-dir';
import { generateGatewayKey } from '../../protocols/discovery-message';

const office = generateGatewayKey().publicKey;
const impostor = generateGatewayKey().publicKey;
const pins: Record<string, PinnedNetwork> = {
  office: { publicKey: office, pinnedAt: '2024-05-01T08:00:00.000Z', url: 'http://10.0.0.1:8080/roamgate' },
};

describe('decideKey', () => {
  test.each<[string, { name: string; publicKey: string }, string | undefined, PinDecision['verdict'], Record<string, unknown>]>([
    ['a network seen for the first time is pinned', { name: 'cafe', publicKey: impostor }, undefined, 'pin', {}],
    ['the pinned key of a known network is trusted', { name: 'office', publicKey: office }, undefined, 'trusted', { via: 'pinned' }],
    [
      'another key for a known network is rejected, loudly',
      { name: 'office', publicKey: impostor },
      undefined,
      'rejected',
      { keyChanged: true },
    ],
    ['the configured key is trusted, whatever the name', { name: 'cafe', publicKey: office }, office, 'trusted', { via: 'configured' }],
    [
      'with a configured key, any other key is rejected (quietly)',
      { name: 'cafe', publicKey: impostor },
      office,
      'rejected',
      { keyChanged: false },
    ],
    [
      'with a configured key, even a pinned one is not enough',
      { name: 'office', publicKey: office },
      impostor,
      'rejected',
      { keyChanged: false },
    ],
    ['a name like an object property is just a name', { name: '__proto__', publicKey: office }, undefined, 'pin', {}],
    ['a name like an inherited property is just a name', { name: 'toString', publicKey: office }, undefined, 'pin', {}],
  ])('%s', (_name, answer, configured, verdict, extra) => {
    const decision = decideKey(answer, pins, configured);
    expect(decision.verdict).toBe(verdict);
    expect(decision).toMatchObject(extra);
  });

  test('a changed key is reported with both fingerprints and when the old one was pinned', () => {
    const decision = decideKey({ name: 'office', publicKey: impostor }, pins);
    expect(decision).toEqual({
      verdict: 'rejected',
      keyChanged: true,
      reason: `the key of network "office" changed: pinned ${fingerprint(office)} on 2024-05-01T08:00:00.000Z, offered ${fingerprint(impostor)}`,
    });
  });
});

describe('fingerprint', () => {
  test('is SHA256: and the unpadded base64 of the key bytes, as ssh shows host keys', () => {
    const expected = createHash('sha256').update(Buffer.from(office, 'base64')).digest('base64').replace(/=+$/, '');
    expect(fingerprint(office)).toBe(`SHA256:${expected}`);
    expect(fingerprint(office)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprint(office)).not.toBe(fingerprint(impostor));
  });
});
