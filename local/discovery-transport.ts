import type { DiscoveryAnswer } from '../protocols/discovery-message';

/** Times each query is sent within the discovery window (a datagram may be dropped). */
export const DISCOVERY_QUERY_SENDS = 3;

/** An answer as a transport heard it, not yet verified. */
export interface HeardAnswer {
  answer: DiscoveryAnswer;
  /** `address:port` it came from. */
  from: string;
  /** The nonce it must carry: the query's for UDP, "" for mDNS (bound by issuedAt alone). */
  nonce: string;
  via: 'udp' | 'mdns';
}

export interface TransportHandlers {
  onAnswer(heard: HeardAnswer): void;
  /** A query could not be sent (where, and the error code); discovery goes on with the rest. */
  onSendError(message: string): void;
}

/** One way of asking the LAN for gateways, running until stopped. */
export interface DiscoveryTransport {
  close(): void;
}

/** Calls `send` now (on start) and {@link DISCOVERY_QUERY_SENDS}` - 1` more times spread over the window. */
export function sendSchedule(windowMs: number, send: () => void): { start(): void; stop(): void } {
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  return {
    start() {
      if (stopped) return;
      send();
      for (let index = 1; index < DISCOVERY_QUERY_SENDS; index++)
        timers.push(setTimeout(send, Math.floor((windowMs * index) / DISCOVERY_QUERY_SENDS)));
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
    },
  };
}
