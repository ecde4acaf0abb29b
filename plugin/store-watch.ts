import type { ErrorRequestHandler } from 'express';
import { isStoreUnavailable, type Store, type StoreHealth, type StoreProblem } from '../store/store';
import type { Logger } from './options';

/** What a `503` for a store that cannot be used asks clients to wait before trying again (seconds). */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** What clients are told of a store problem: no paths, which are for the operator's log. */
const PUBLIC_REASONS: Record<StoreProblem, string> = {
  vanished: 'its store file was deleted or moved',
  replaced: 'its store file was replaced',
  unwritable: 'its store cannot be written',
  corrupt: 'its store file is corrupt',
  'write-failed': 'writing its store failed',
  'shm-truncated': 'its store was disturbed by another program',
  unreachable: 'its database server cannot be reached',
};

/** What may be said publicly of a store that cannot be used: no paths. */
export function publicStoreReason(health: StoreHealth): string {
  return health.problem ? PUBLIC_REASONS[health.problem] : 'its store is not usable';
}

/**
 * The gateway's view of its store: one `error` line in the log each time the
 * store becomes unusable (or unusable for another reason), naming the file
 * and the fix, and one `info` line when it is usable again. `health()` is
 * what readiness reports; a store that says nothing of its health (a custom
 * Store without `health()`) is taken to be usable.
 */
export class StoreWatch {
  private readonly stop: () => void;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {
    this.stop = store.onHealthChange?.((health) => this.log(health)) ?? (() => undefined);
  }

  /** Whether the gateway can use its store now, and if not why. */
  health(): StoreHealth {
    return this.store.health?.() ?? { ok: true, since: 0 };
  }

  /** Stops logging; called once the store is closed, so that what closing found is logged too. */
  close(): void {
    this.stop();
  }

  private log(health: StoreHealth): void {
    if (health.ok) {
      this.logger.info({ event: 'store-usable' }, 'store: usable again; the gateway is ready');
      return;
    }
    this.logger.error(
      { event: 'store-unusable', problem: health.problem, file: health.file },
      `store: ${health.reason}. The gateway is not ready and refuses what needs the store until this is fixed`,
    );
  }
}

/**
 * The management API's answer to a call the store refused: `503` with
 * `Retry-After` and what is wrong (without paths), instead of a bare `500`.
 */
export function storeUnavailableReplies(): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (!isStoreUnavailable(error) || res.headersSent) return next(error);
    const problem = error.health.problem;
    res
      .status(503)
      .set('Retry-After', String(STORE_RETRY_AFTER_SECONDS))
      .json({
        error: `the gateway cannot use its store now: ${publicStoreReason(error.health)}; try again later`,
        problem,
      });
  };
}
