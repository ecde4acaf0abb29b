import type { LiveRelays } from '../adapters/live-relays';
import type { AuditLog } from './audit-log';
import type { HomeRefreshEvents } from './home-refresh';
import type { LeaseManager } from './lease-manager';
import type { Logger } from './options';
import type { RoamingDirectory } from './roaming-directory';

/** What may have freed a visitor's home lease. */
export type HomeLeaseFreedBy = 'lease-ended' | 'relay-closed' | 'answer-dropped';

export interface VisitorLeasesDeps {
  /** The configured peers by realm; a home has a client. */
  peers: ReadonlyMap<string, { client?: { release(tokens: readonly string[]): Promise<number> } }>;
  leases: LeaseManager;
  relays: LiveRelays;
  directory: RoamingDirectory;
  audit: AuditLog;
  logger: Logger;
}

/**
 * The home leases visitors stand on here. Their home holds one lease per
 * login it vouched for; here a lease, an open relay (a visitor logged in in
 * their client's protocol holds no lease) or a remembered home answer stands
 * on it. When the last of them goes, home is told to end it; when home says
 * it has ended, whatever still stands on it goes too.
 */
export class VisitorLeases {
  constructor(private readonly deps: VisitorLeasesDeps) {}

  /**
   * A visitor's lease ended, their relay closed, or the remembered answer of
   * their login aged out: when nothing else here stands on that home lease (a
   * lease, an open relay and, unless the visitor's lease ended, a remembered
   * answer that lets them log in again without asking home), tell home to end
   * it too, and forget the answers that stood on it.
   */
  release(realm: string, token: string, why: HomeLeaseFreedBy): void {
    const { peers, leases, relays, directory, logger } = this.deps;
    const client = peers.get(realm)?.client;
    const inUse =
      leases.list().some((other) => other.home?.token === token) ||
      relays.identities().some((identity) => identity.kind === 'user' && identity.user.home?.token === token) ||
      (why === 'relay-closed' && directory.tokensOf(realm).includes(token));
    if (!client || inUse) return;
    directory.forgetToken(token);
    client
      .release([token])
      .catch((error: Error) =>
        logger.warn(
          { event: 'home-release', realm, reason: error.message },
          'could not tell the home gateway a visitor left (its lease there ends by itself)',
        ),
      );
  }

  /** What the home refresher is told and asks: visitors' leases a home ended, the tokens in use beyond leases, a token home no longer honours. */
  refreshEvents(): HomeRefreshEvents {
    const { relays, directory, audit, logger } = this.deps;
    return {
      ended: (leaseId, userId, realm) => {
        directory.forget(userId);
        audit.record('lease.revoked', { actor: userId, detail: { lease: leaseId, by: `home ${realm}` } });
      },
      failed: (realm, error) =>
        logger.warn({ event: 'home-refresh', realm, reason: error.message }, 'could not check visitors with their home gateway'),
      tokensInUse: (realm) => [
        ...relays
          .identities()
          .flatMap((identity) => (identity.kind === 'user' && identity.user.home?.realm === realm ? [identity.user.home.token] : [])),
        ...directory.tokensOf(realm),
      ],
      tokenEnded: (realm, token) => {
        directory.forgetToken(token);
        const closed = relays.closeWhere(
          (relay) => relay.identity.kind === 'user' && relay.identity.user.home?.token === token,
          `home gateway ${realm} no longer vouches for this user`,
        );
        if (closed)
          logger.info({ event: 'home-ended', realm, relaysClosed: closed }, 'closed relays of a visitor their home no longer vouches for');
      },
    };
  }
}
