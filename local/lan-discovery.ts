import { verifyAnswer, type DiscoveryAnswer } from '../protocols/discovery-message';
import type { DiscoveryTransport, HeardAnswer } from './discovery-transport';
import { decideKey } from './key-pinning';
import { queryByMdns } from './mdns-discovery';
import type { PinnedNetwork } from './state-dir';
import { queryByUdp } from './udp-discovery';

export interface DiscoveryRequest {
  /** UDP: the gateways' discovery port and where the query goes (broadcast and/or unicast IPv4 addresses). */
  port: number;
  addresses: readonly string[];
  /** mDNS/DNS-SD: the port and the interfaces to ask on (empty: every one); false: UDP only. */
  mdns: false | { port: number; interfaces: readonly string[] };
  windowMs: number;
  /** Accept only this key (base64 SPKI) instead of pinning. */
  gatewayKey?: string;
  pins: Readonly<Record<string, PinnedNetwork>>;
  now?: () => number;
}

/** A gateway whose answer verified and whose key is trusted. */
export interface DiscoveredGateway {
  name: string;
  url: string;
  publicKey: string;
  /** Why its key is trusted; `new` means it is to be pinned now. */
  trust: 'configured' | 'pinned' | 'new';
  /** How its answer came. */
  via: 'udp' | 'mdns';
}

/** An answer that was not used, and why. */
export interface RejectedAnswer {
  name: string;
  url: string;
  /** Where the answer came from: `address:port`, with ` (mDNS)` for an mDNS one. */
  from: string;
  reason: string;
  /** A known network answered with another key: to be reported loudly. */
  keyChanged: boolean;
  publicKey: string;
}

export interface DiscoveryOutcome {
  gateway: DiscoveredGateway | null;
  rejected: RejectedAnswer[];
  /** Where queries could not be sent, with the error code. */
  sendErrors: string[];
}

/**
 * Finds a gateway on the LAN: asks by UDP and by mDNS at once, collects
 * answers for `windowMs`, checks each (signature; our nonce for UDP, "" for
 * mDNS; age) and its key against the configured key or the network's pin,
 * whichever way it came. An answer from a trusted key ends the wait at once;
 * otherwise the first network seen for the first time is taken, unless two
 * keys claimed the same name.
 */
export function discoverGateway(request: DiscoveryRequest): Promise<DiscoveryOutcome> {
  const now = request.now ?? Date.now;
  const rejected: RejectedAnswer[] = [];
  const sendErrors: string[] = [];
  const fresh: Array<{ answer: DiscoveryAnswer; from: string; via: 'udp' | 'mdns' }> = [];
  /** Verified answers already handled (the same one comes by both ways, and again with each send). */
  const seen = new Set<string>();
  /** Rejections already reported: a forger repeating itself is told about once. */
  const reported = new Set<string>();

  return new Promise((resolve) => {
    const transports: DiscoveryTransport[] = [];
    let settled = false;
    const finish = (gateway: DiscoveredGateway | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const transport of transports) transport.stop();
      resolve({ gateway, rejected, sendErrors: [...new Set(sendErrors)] });
    };
    const reject = (entry: RejectedAnswer) => {
      const key = `${entry.name}\n${entry.publicKey}\n${entry.url}\n${entry.reason}`;
      if (reported.has(key)) return;
      reported.add(key);
      rejected.push(entry);
    };

    const onAnswer = ({ answer, from, nonce, via }: HeardAnswer) => {
      if (settled) return;
      const source = via === 'mdns' ? `${from} (mDNS)` : from;
      const key = `${answer.name}\n${answer.publicKey}\n${answer.url}`;
      if (seen.has(key)) return;
      const verdict = verifyAnswer(answer, { nonce, now: now() });
      // Only a verified answer is remembered: a forged copy sent first must not hide the real one.
      if (!verdict.ok) return reject({ name: answer.name, url: answer.url, from: source, reason: verdict.reason, keyChanged: false, publicKey: answer.publicKey });
      seen.add(key);
      const decision = decideKey(answer, request.pins, request.gatewayKey);
      if (decision.verdict === 'trusted') finish({ name: answer.name, url: answer.url, publicKey: answer.publicKey, trust: decision.via, via });
      else if (decision.verdict === 'pin') fresh.push({ answer, from: source, via });
      else reject({ name: answer.name, url: answer.url, from: source, reason: decision.reason, keyChanged: decision.keyChanged, publicKey: answer.publicKey });
    };
    const handlers = { onAnswer, onSendError: (message: string) => void sendErrors.push(message) };

    const timer = setTimeout(() => {
      const first = fresh[0];
      if (!first) return finish(null);
      // Two keys claiming one new name: trusting either could pin an impostor.
      const rivals = fresh.filter((entry) => entry.answer.name === first.answer.name && entry.answer.publicKey !== first.answer.publicKey);
      if (rivals.length) {
        for (const entry of [first, ...rivals]) {
          reject({ name: entry.answer.name, url: entry.answer.url, from: entry.from, reason: `several gateways answered as network "${first.answer.name}" with different keys; none was pinned (pass --gateway-key KEY to choose)`, keyChanged: true, publicKey: entry.answer.publicKey });
        }
        return finish(null);
      }
      finish({ name: first.answer.name, url: first.answer.url, publicKey: first.answer.publicKey, trust: 'new', via: first.via });
    }, request.windowMs);

    transports.push(queryByUdp({ port: request.port, addresses: request.addresses, windowMs: request.windowMs }, handlers));
    if (request.mdns && !settled) transports.push(queryByMdns({ ...request.mdns, windowMs: request.windowMs }, handlers));
  });
}
