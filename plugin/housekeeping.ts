import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock } from '../clock';
import type { Store } from '../store/store';
import { AUDIT_PRUNE_BATCH, ENDED_LEASE_RETENTION_MS, HOUSEKEEPING_INTERVAL_MS } from './defaults';
import type { LeaseManager } from './lease-manager';
import type { Logger, NormalizedOptions } from './options';

const DAY_MS = 24 * 3600 * 1000;

export interface HousekeepingDeps {
  leases: LeaseManager;
  store: Store;
  logger: Logger;
  clock: Clock;
  /** How long audit events are kept, and how many at most. */
  audit: NormalizedOptions['audit'];
  /** The first round waits for this (the saved state being loaded), whether it succeeds or not. */
  after?: Promise<unknown>;
  /** Audit events deleted per store call. Default {@link AUDIT_PRUNE_BATCH}. */
  pruneBatch?: number;
}

export interface Housekeeping {
  /** One round now (the one at start, or a test's); resolves when it is done. A round already running is joined. */
  run(): Promise<void>;
  close(): void;
}

/**
 * At start and every HOUSEKEEPING_INTERVAL_MS, deletes from the store the
 * leases that ended more than ENDED_LEASE_RETENTION_MS ago, the expired login
 * sessions, and the audit events older than `audit.retentionDays` or beyond
 * the newest `audit.maxRows`, so the store does not grow with every login and
 * connection ever made. Audit events go in batches of `pruneBatch`, each its
 * own store call with other work let in between, so a trail far over its
 * limits (at the first start with them) is cut down without stalling the gateway.
 */
export function startHousekeeping(deps: HousekeepingDeps): Housekeeping {
  const { logger } = deps;
  let closed = false;
  let round: Promise<void> | null = null;
  const run = (): Promise<void> => {
    round ??= housekeepingRound(deps, () => closed)
      .catch((error: unknown) => {
        // A round cut short by close() is no failure.
        if (!closed) logger.warn({ event: 'housekeeping', err: error }, 'housekeeping the store failed; trying again later');
      })
      .finally(() => (round = null));
    return round;
  };
  void (deps.after ?? Promise.resolve()).catch(() => undefined).then(() => (closed ? undefined : run()));
  const timer = setInterval(() => void run(), HOUSEKEEPING_INTERVAL_MS);
  timer.unref();
  return {
    run,
    close: () => {
      closed = true;
      clearInterval(timer);
    },
  };
}

async function housekeepingRound(deps: HousekeepingDeps, closed: () => boolean): Promise<void> {
  const { leases, store, logger, clock } = deps;
  const [leasesDeleted, sessionsDeleted] = await Promise.all([
    leases.purgeEnded(ENDED_LEASE_RETENTION_MS),
    store.sessions.purge(clock.now()),
  ]);
  const auditEventsDeleted = await pruneAudit(deps, closed);
  if (leasesDeleted + sessionsDeleted + auditEventsDeleted > 0)
    logger.info(
      { event: 'housekeeping', leasesDeleted, sessionsDeleted, auditEventsDeleted },
      'deleted ended leases, expired sessions and audit events past their retention from the store',
    );
}

/** Deletes the audit events past retention or the row cap, a batch per store call; returns how many. */
async function pruneAudit(deps: HousekeepingDeps, closed: () => boolean): Promise<number> {
  const limit = deps.pruneBatch ?? AUDIT_PRUNE_BATCH;
  const limits = { before: deps.clock.now() - deps.audit.retentionDays * DAY_MS, maxRows: deps.audit.maxRows, limit };
  let deleted = 0;
  for (;;) {
    const batch = await deps.store.audit.prune(limits);
    deleted += batch;
    if (batch < limit || closed()) return deleted;
    // Connections, logins and the API go first; the next batch after them.
    await nextTurn();
  }
}
