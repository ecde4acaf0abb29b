import type { Clock } from '../clock';
import type { Store } from '../store/store';
import { ENDED_LEASE_RETENTION_MS, HOUSEKEEPING_INTERVAL_MS } from './defaults';
import type { LeaseManager } from './lease-manager';
import type { Logger } from './options';

/**
 * Every HOUSEKEEPING_INTERVAL_MS, deletes from the store the leases that
 * ended more than ENDED_LEASE_RETENTION_MS ago and the expired login
 * sessions, so the store does not grow with every login ever made.
 * Returns what stops it.
 */
export function startHousekeeping(deps: { leases: LeaseManager; store: Store; logger: Logger; clock: Clock }): { close(): void } {
  const { leases, store, logger, clock } = deps;
  const timer = setInterval(() => {
    const now = clock.now();
    Promise.all([leases.purgeEnded(ENDED_LEASE_RETENTION_MS), store.sessions.purge(now)]).then(
      ([ended, expired]) => {
        if (ended + expired > 0)
          logger.info(
            { event: 'housekeeping', leasesDeleted: ended, sessionsDeleted: expired },
            'deleted ended leases and expired sessions from the store',
          );
      },
      (error: unknown) =>
        logger.warn({ event: 'housekeeping', err: error }, 'deleting ended leases and expired sessions from the store failed'),
    );
  }, HOUSEKEEPING_INTERVAL_MS);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
