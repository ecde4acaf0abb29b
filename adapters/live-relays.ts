import type { Identity } from '../identity';
import { type OpenEntry, OpenList } from '../net/open-list';

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

/** A tracked relay and the id the gateway gave it. */
interface Tracked {
  relay: LiveRelay;
  id: number;
}

/** Where a relay keeps its entry while it is tracked, so that adding it again finds it without a look-up. */
const ENTRY = Symbol('roamgate.liveRelay');
type Trackable = LiveRelay & { [ENTRY]?: OpenEntry<Tracked> };

/**
 * Every open relay, so that access changes can reach connections already
 * open, and an admin can see and cut them. A list, not a Map keyed by relay
 * (see net/open-list.ts): a relay keeps its own entry.
 */
export class LiveRelays {
  private readonly relays = new OpenList<Tracked>();
  private lastId = 0;

  /** Adds a relay (once: adding it again while tracked changes nothing); returns the function that removes it when it ends. */
  add(relay: LiveRelay): () => void {
    const trackable = relay as Trackable;
    let entry = trackable[ENTRY];
    if (!entry?.isIn(this.relays)) {
      entry = this.relays.add({ relay, id: ++this.lastId });
      trackable[ENTRY] = entry;
    }
    const tracked = entry;
    return () => untrack(trackable, tracked);
  }

  /** Closes every relay for which `predicate` holds; returns how many. */
  closeWhere(predicate: (relay: LiveRelay) => boolean, reason: string): number {
    let closed = 0;
    for (const entry of this.relays.entries()) {
      const { relay } = entry.value;
      // A relay an earlier one's close ended is gone already.
      if (!entry.open || !predicate(relay)) continue;
      untrack(relay, entry);
      relay.close(reason);
      closed++;
    }
    return closed;
  }

  /** Closes the relay with this id; false when there is none (it ended already). */
  closeById(id: string, reason: string): boolean {
    for (const entry of this.relays.entries()) {
      if (String(entry.value.id) !== id) continue;
      const { relay } = entry.value;
      untrack(relay, entry);
      relay.close(reason);
      return true;
    }
    return false;
  }

  /** The open relays with their ids, oldest first. */
  list(): ListedRelay[] {
    return this.relays.values().map(({ relay, id }) => ({ id: String(id), relay }));
  }

  /** The identities of the open relays. */
  identities(): Identity[] {
    return this.relays.values().map(({ relay }) => relay.identity);
  }

  /** The service of each open relay (one entry per relay). */
  services(): string[] {
    return this.relays.values().map(({ relay }) => relay.service);
  }

  get size(): number {
    return this.relays.size;
  }
}

/** Takes a relay's entry out of its list, and the entry off the relay when it is still the relay's own. */
function untrack(relay: Trackable, entry: OpenEntry<Tracked>): void {
  entry.remove();
  if (relay[ENTRY] === entry) relay[ENTRY] = undefined;
}
