import { statSync } from 'node:fs';
import { RoamgateError } from '../errors';
import { openSqliteStore } from '../store/sqlite-store';
import type { Store } from '../store/store';
import type { Logger } from './options';

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
