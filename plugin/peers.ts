import type { Clock } from '../clock';
import type { RefreshedHome } from './home-refresh';
import type { NormalizedOptions, PeerOptions } from './options';
import { PeerClient, type PeerRequestOutcome } from './peer-client';
import type { HomePeer } from './roaming-directory';

/** A configured peer, with a client when this gateway asks it about its users (it has a URL: it is a home). */
export type ConfiguredPeer = PeerOptions & { client?: PeerClient };

/** The peers of `options.peers`, by lower-cased realm, seen from each side of roaming. */
export interface Peers {
  /** Every configured peer by realm: the homes we ask and the visited gateways we answer. */
  all: Map<string, ConfiguredPeer>;
  /** The homes this gateway asks about visitors' logins. */
  homes: HomePeer[];
  /** The homes asked, every `refreshSeconds`, whether their visitors' home leases are still live. */
  refreshed: RefreshedHome[];
  /** Told of each request to a home; the same one across a reload (pass it to buildPeers). */
  observer: PeerRequestObserver;
}

/** Where the clients report each request they send, by the home's realm: the metrics plug in once they exist. */
export interface PeerRequestObserver {
  outbound?(realm: string, outcome: PeerRequestOutcome): void;
}

/** The peers from the options, with a client for each home this gateway asks (those with a URL). */
export function buildPeers(options: NormalizedOptions, clock: Clock, observer: PeerRequestObserver = {}): Peers {
  const all = new Map<string, ConfiguredPeer>();
  const homes: HomePeer[] = [];
  for (const [name, peer] of Object.entries(options.peers)) {
    const realm = name.toLowerCase();
    const { url, secret, timeoutMs } = peer;
    const observe = (outcome: PeerRequestOutcome) => observer.outbound?.(realm, outcome);
    const client = url ? new PeerClient({ self: options.realm!, realm, url, secret, timeoutMs, clock, observe }) : undefined;
    all.set(realm, { ...peer, client });
    if (client)
      homes.push({
        realm,
        client,
        attributes: peer.attributes,
        cacheSeconds: peer.cacheSeconds,
        failureCacheSeconds: peer.failureCacheSeconds,
        acceptAddresses: peer.acceptAddresses,
      });
  }
  const refreshed = [...all].flatMap(([realm, peer]) =>
    peer.client ? [{ realm, refreshSeconds: peer.refreshSeconds, client: peer.client }] : [],
  );
  return { all, homes, refreshed, observer };
}

/**
 * Puts the peers of `next` in place of those of `target`, in the same map and arrays (everything that holds them
 * sees the new ones): a reload. A peer gone is refused from the next request on.
 */
export function replacePeers(target: Peers, next: Peers): void {
  target.all.clear();
  for (const [realm, peer] of next.all) target.all.set(realm, peer);
  target.homes.splice(0, target.homes.length, ...next.homes);
  target.refreshed.splice(0, target.refreshed.length, ...next.refreshed);
}
