import type { Identity } from '../identity';

/** An open relay, as the gateway needs to see it to close it when a lease ends or a rule changes. */
export interface LiveRelay {
  service: string;
  identity: Identity;
  /** Cuts the relay (both sockets). */
  close(reason: string): void;
}

/** Every open relay, so that access changes can reach connections already open. */
export class LiveRelays {
  private readonly relays = new Set<LiveRelay>();

  /** Adds a relay; returns the function that removes it when it ends. */
  add(relay: LiveRelay): () => void {
    this.relays.add(relay);
    return () => this.relays.delete(relay);
  }

  /** Closes every relay for which `predicate` holds; returns how many. */
  closeWhere(predicate: (relay: LiveRelay) => boolean, reason: string): number {
    let closed = 0;
    for (const relay of [...this.relays]) {
      if (predicate(relay)) {
        this.relays.delete(relay);
        relay.close(reason);
        closed++;
      }
    }
    return closed;
  }

  /** The identities of the open relays. */
  identities(): Identity[] {
    return [...this.relays].map((relay) => relay.identity);
  }

  /** The service of each open relay (one entry per relay). */
  services(): string[] {
    return [...this.relays].map((relay) => relay.service);
  }

  get size(): number {
    return this.relays.size;
  }
}
