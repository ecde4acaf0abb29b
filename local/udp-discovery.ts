import { createSocket } from 'node:dgram';
import { newQuery, parseAnswer, verifyAnswer, type DiscoveryAnswer } from '../protocols/discovery-message';
import { decideKey } from './key-pinning';
import type { PinnedNetwork } from './state-dir';

/** Times the query is sent within the window (UDP may drop one). */
export const DISCOVERY_QUERY_SENDS = 3;

export interface DiscoveryRequest {
  port: number;
  /** Where the query goes: broadcast and/or unicast IPv4 addresses. */
  addresses: readonly string[];
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
}

/** An answer that was not used, and why. */
export interface RejectedAnswer {
  name: string;
  url: string;
  /** The address the answer came from. */
  from: string;
  reason: string;
  /** A known network answered with another key: to be reported loudly. */
  keyChanged: boolean;
  publicKey: string;
}

export interface DiscoveryOutcome {
  gateway: DiscoveredGateway | null;
  rejected: RejectedAnswer[];
  /** Addresses the query could not be sent to, with the error code. */
  sendErrors: string[];
}

/**
 * Finds a gateway on the LAN: sends a signed-answer query to each address,
 * collects answers for `windowMs`, checks each (signature, our nonce, age)
 * and its key against the configured key or the network's pin. An answer
 * from a trusted key ends the wait at once; otherwise the first network seen
 * for the first time is taken, unless two keys claimed the same name.
 */
export function discoverGateway(request: DiscoveryRequest): Promise<DiscoveryOutcome> {
  const now = request.now ?? Date.now;
  const query = newQuery();
  const payload = Buffer.from(JSON.stringify(query));
  const socket = createSocket({ type: 'udp4' });
  const rejected: RejectedAnswer[] = [];
  const sendErrors: string[] = [];
  const fresh: Array<{ answer: DiscoveryAnswer; from: string }> = [];
  const seen = new Set<string>();

  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    const finish = (gateway: DiscoveredGateway | null) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      socket.close();
      resolve({ gateway, rejected, sendErrors: [...new Set(sendErrors)] });
    };

    socket.on('error', (error: NodeJS.ErrnoException) => {
      sendErrors.push(`socket: ${error.code ?? error.message}`);
      finish(null);
    });
    socket.on('message', (data, from) => {
      const answer = parseAnswer(data);
      if (!answer) return;
      const source = `${from.address}:${from.port}`;
      const key = `${answer.name}\n${answer.publicKey}\n${answer.url}`;
      if (seen.has(key)) return;
      seen.add(key);
      const verdict = verifyAnswer(answer, { nonce: query.nonce, now: now() });
      if (!verdict.ok) {
        rejected.push({ name: answer.name, url: answer.url, from: source, reason: verdict.reason, keyChanged: false, publicKey: answer.publicKey });
        return;
      }
      const decision = decideKey(answer, request.pins, request.gatewayKey);
      if (decision.verdict === 'trusted') finish({ name: answer.name, url: answer.url, publicKey: answer.publicKey, trust: decision.via });
      else if (decision.verdict === 'pin') fresh.push({ answer, from: source });
      else rejected.push({ name: answer.name, url: answer.url, from: source, reason: decision.reason, keyChanged: decision.keyChanged, publicKey: answer.publicKey });
    });

    const send = () => {
      for (const address of request.addresses) {
        socket.send(payload, request.port, address, (error) => {
          if (error) sendErrors.push(`${address}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        });
      }
    };

    socket.bind(0, () => {
      try {
        socket.setBroadcast(true);
      } catch (error) {
        sendErrors.push(`broadcast: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      send();
      for (let index = 1; index < DISCOVERY_QUERY_SENDS; index++) timers.push(setTimeout(send, Math.floor((request.windowMs * index) / DISCOVERY_QUERY_SENDS)));
      timers.push(
        setTimeout(() => {
          const first = fresh[0];
          if (!first) return finish(null);
          // Two keys claiming one new name: trusting either could pin an impostor.
          const rivals = fresh.filter((entry) => entry.answer.name === first.answer.name && entry.answer.publicKey !== first.answer.publicKey);
          if (rivals.length) {
            for (const entry of [first, ...rivals]) {
              rejected.push({ name: entry.answer.name, url: entry.answer.url, from: entry.from, reason: `several gateways answered as network "${first.answer.name}" with different keys; none was pinned (pass --gateway-key KEY to choose)`, keyChanged: true, publicKey: entry.answer.publicKey });
            }
            return finish(null);
          }
          finish({ name: first.answer.name, url: first.answer.url, publicKey: first.answer.publicKey, trust: 'new' });
        }, request.windowMs),
      );
    });
  });
}
