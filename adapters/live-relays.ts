import type { Identity } from '../identity';

/** How far a relay has got: the server it reached, once it has, and the bytes read from each side so far. */
export interface RelayProgress {
  /** `host:port` of the server, once one is connected. */
  server?: string;
  bytesFromClient: number;
  bytesFromServer: number;
}

/** An open relay, as the gateway needs to see it: to show it, and to close it when a lease ends or a rule changes. */
export interface LiveRelay {
  service: string;
  identity: Identity;
  /** The client's address and port, as the connection came. */
  client: string;
  /** When it was admitted (ms since the epoch). */
  startedAt: number;
  /** Read when asked, from the counters the sockets keep anyway: nothing is added per chunk. */
  progress(): RelayProgress;
  /** Cuts the relay (both sockets). */
  close(reason: string): void;
}

/** An open relay with the id the gateway gave it (unique in this process). */
export interface ListedRelay {
  id: string;
  relay: LiveRelay;
}

/** Every open relay, so that access changes can reach connections already open, and an admin can see and cut them. */
export class LiveRelays {
  private readonly relays = new Map<LiveRelay, string>();
  private lastId = 0;

  /** Adds a relay; returns the function that removes it when it ends. */
  add(relay: LiveRelay): () => void {
    if (!this.relays.has(relay)) this.relays.set(relay, String(++this.lastId));
    return () => this.relays.delete(relay);
  }

  /** Closes every relay for which `predicate` holds; returns how many. */
  closeWhere(predicate: (relay: LiveRelay) => boolean, reason: string): number {
    let closed = 0;
    for (const relay of [...this.relays.keys()]) {
      if (predicate(relay)) {
        this.relays.delete(relay);
        relay.close(reason);
        closed++;
      }
    }
    return closed;
  }

  /** Closes the relay with this id; false when there is none (it ended already). */
  closeById(id: string, reason: string): boolean {
    for (const [relay, relayId] of this.relays) {
      if (relayId !== id) continue;
      this.relays.delete(relay);
      relay.close(reason);
      return true;
    }
    return false;
  }

  /** The open relays with their ids, oldest first. */
  list(): ListedRelay[] {
    return [...this.relays].map(([relay, id]) => ({ id, relay }));
  }

  /** The identities of the open relays. */
  identities(): Identity[] {
    return [...this.relays.keys()].map((relay) => relay.identity);
  }

  /** The service of each open relay (one entry per relay). */
  services(): string[] {
    return [...this.relays.keys()].map((relay) => relay.service);
  }

  get size(): number {
    return this.relays.size;
  }
}
