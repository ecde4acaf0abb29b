import { statSync } from 'node:fs';
import { RoamgateError } from '../errors';
import { PostgresStore } from '../store/postgres-store';
import { openSqliteStore } from '../store/sqlite-store';
import type { Store } from '../store/store';
import type { Logger, NormalizedOptions } from './options';

/**
 * Opens the gateway's own store at `store.path` (an SQLite file, or
 * `:memory:`); a file it cannot open, or cannot write to, is an options error
 * naming the file and the fix. It holds password, token and session hashes: a
 * new file is made 0600, and an older one that others may read is warned about.
 * The store then watches its files every `checkIntervalMs` (see store-watch.ts
 * for what the gateway does with that).
 */
export function openStoreFile(path: string, logger: Logger, checkIntervalMs?: number): Store {
  let store: Store;
  try {
    store = openSqliteStore(path, { checkIntervalMs });
  } catch (error) {
    // The store's messages begin `store: `; this one names the option instead.
    const message = (error as Error).message.replace(/^store: /, '');
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `store.path: ${message}`, { cause: error });
  }
  if (path !== ':memory:' && (statSync(path).mode & 0o077) !== 0)
    logger.warn({ event: 'store', path }, 'the store file is readable by other users (chmod 600 it and its -wal and -shm files)');
  return store;
}

/**
 * The gateway's store as its options name it: the SQLite file at `path` (see
 * {@link openStoreFile}), the PostgreSQL database at `url`, or the Store
 * given. A PostgreSQL store is made at once and migrated by its first call
 * (loading the saved state), so that a gateway fails to listen, naming the
 * host and the fix, when it cannot reach or use its database.
 */
export function openGatewayStore(option: NormalizedOptions['store'], logger: Logger): Store {
  if ('path' in option) return openStoreFile(option.path, logger, option.checkIntervalMs);
  if ('url' in option) return new PostgresStore(option.url, { poolSize: option.poolSize, connectTimeoutMs: option.connectTimeoutMs });
  return option;
}

/** Whether the gateway opened its store itself (from `path` or `url`), and so closes it. */
export function isOwnStore(option: NormalizedOptions['store']): boolean {
  return 'path' in option || 'url' in option;
}
