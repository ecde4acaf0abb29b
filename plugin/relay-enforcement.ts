import type { LiveRelays } from '../adapters/live-relays';
import type { AccessTable } from './access-table';
import type { AuditLog } from './audit-log';
import type { LeaseManager } from './lease-manager';
import type { Logger } from './options';
import type { VisitorLeases } from './visitor-leases';

/**
 * When a lease ends (revoked, expired): its open relays close, an expiry is
 * audited (a revocation was, by whoever revoked it), and a visitor's home
 * lease is released when nothing else here stands on it.
 */
export function closeRelaysWhenLeasesEnd(deps: {
  leases: LeaseManager;
  relays: LiveRelays;
  visitors: VisitorLeases;
  audit: AuditLog;
  logger: Logger;
}): void {
  const { leases, relays, visitors, audit, logger } = deps;
  leases.onEnd((lease, why) => {
    const closed = relays.closeWhere((relay) => relay.identity.kind === 'user' && relay.identity.leaseId === lease.id, `lease ${why}`);
    if (why === 'expired') audit.record('lease.expired', { actor: lease.userId, detail: { lease: lease.id } });
    logger.info({ event: 'lease-ended', lease: lease.id, user: lease.userId, why, relaysClosed: closed }, `lease ${why}`);
    if (lease.home) visitors.release(lease.home.realm, lease.home.token, 'lease-ended');
  });
}

/**
 * When the access table changes and `onAccessChange` is `close`: the open relays it no longer allows close now.
 * `onAccessChange` is asked at each change (a reload may change it).
 */
export function closeRelaysWhenAccessChanges(
  deps: { access: AccessTable; relays: LiveRelays; logger: Logger },
  onAccessChange: () => 'close' | 'finish',
): void {
  const { access, relays, logger } = deps;
  access.onChange(() => {
    if (onAccessChange() !== 'close') return;
    const closed = relays.closeWhere(
      (relay) => !access.decide(relay.identity, relay.service).allow,
      'no longer allowed by the access table',
    );
    if (closed) logger.info({ event: 'access-changed', relaysClosed: closed }, 'closed relays the access table no longer allows');
  });
}
