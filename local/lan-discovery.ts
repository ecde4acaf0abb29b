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

type HeardVia = DiscoveredGateway['via'];

/** A verified answer whose key is neither configured nor pinned: a candidate for pinning at the end of the window. */
interface FreshAnswer {
  answer: DiscoveryAnswer;
  from: string;
  via: HeardVia;
}

const rejection = (answer: DiscoveryAnswer, from: string, reason: string, keyChanged: boolean): RejectedAnswer => ({
  name: answer.name,
  url: answer.url,
  from,
  reason,
  keyChanged,
  publicKey: answer.publicKey,
});

/** What one discovery has heard: the answers checked, the ones rejected, the send errors. */
class AnswerLedger {
  readonly rejected: RejectedAnswer[] = [];
  readonly sendErrors: string[] = [];
  private readonly fresh: FreshAnswer[] = [];
  /** Verified answers already handled (the same one comes by both ways, and again with each send). */
  private readonly seen = new Set<string>();
  /** Rejections already reported: a forger repeating itself is told about once. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly request: DiscoveryRequest,
    private readonly now: () => number,
  ) {}

  /** Checks one answer; returns the gateway when its key is trusted, which ends the wait. */
  hear({ answer, from, nonce, via }: HeardAnswer): DiscoveredGateway | undefined {
    const source = via === 'mdns' ? `${from} (mDNS)` : from;
    const key = `${answer.name}\n${answer.publicKey}\n${answer.url}`;
    if (this.seen.has(key)) return undefined;
    const verdict = verifyAnswer(answer, { nonce, now: this.now() });
    // Only a verified answer is remembered: a forged copy sent first must not hide the real one.
    if (!verdict.ok) {
      this.reject(rejection(answer, source, verdict.reason, false));
      return undefined;
    }
    this.seen.add(key);
    const decision = decideKey(answer, this.request.pins, this.request.gatewayKey);
    if (decision.verdict === 'trusted')
      return { name: answer.name, url: answer.url, publicKey: answer.publicKey, trust: decision.via, via };
    if (decision.verdict === 'pin') this.fresh.push({ answer, from: source, via });
    else this.reject(rejection(answer, source, decision.reason, decision.keyChanged));
    return undefined;
  }

  /** At the end of the window: the first network seen for the first time, unless two keys claimed its name. */
  pickNew(): DiscoveredGateway | null {
    const first = this.fresh[0];
    if (!first) return null;
    // Two keys claiming one new name: trusting either could pin an impostor.
    const rivals = this.fresh.filter(
      (entry) => entry.answer.name === first.answer.name && entry.answer.publicKey !== first.answer.publicKey,
    );
    if (rivals.length) {
      const reason = `several gateways answered as network "${first.answer.name}" with different keys; none was pinned (pass --gateway-key KEY to choose)`;
      for (const entry of [first, ...rivals]) this.reject(rejection(entry.answer, entry.from, reason, true));
      return null;
    }
    return { name: first.answer.name, url: first.answer.url, publicKey: first.answer.publicKey, trust: 'new', via: first.via };
  }

  outcome(gateway: DiscoveredGateway | null): DiscoveryOutcome {
    return { gateway, rejected: this.rejected, sendErrors: [...new Set(this.sendErrors)] };
  }

  private reject(entry: RejectedAnswer): void {
    const key = `${entry.name}\n${entry.publicKey}\n${entry.url}\n${entry.reason}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.rejected.push(entry);
  }
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
  const ledger = new AnswerLedger(request, request.now ?? Date.now);

  return new Promise((resolve) => {
    const transports: DiscoveryTransport[] = [];
    let settled = false;
    const finish = (gateway: DiscoveredGateway | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const transport of transports) transport.close();
      resolve(ledger.outcome(gateway));
    };
    const handlers = {
      onAnswer: (heard: HeardAnswer) => {
        if (settled) return;
        const gateway = ledger.hear(heard);
        if (gateway) finish(gateway);
      },
      onSendError: (message: string) => void ledger.sendErrors.push(message),
    };

    const timer = setTimeout(() => finish(ledger.pickNew()), request.windowMs);

    transports.push(queryByUdp({ port: request.port, addresses: request.addresses, windowMs: request.windowMs }, handlers));
    if (request.mdns && !settled) transports.push(queryByMdns({ ...request.mdns, windowMs: request.windowMs }, handlers));
  });
}
