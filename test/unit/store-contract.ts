import { isRoamgateError } from '../../errors';
import type { Store } from '../../store/store';
import { alice, lease, registration, T } from './store-contract-fixtures';
import { recordsContract } from './store-contract-records';
import { trailsContract } from './store-contract-trails';

/**
 * The behaviour every Store backend must have. A backend's test file calls
 * this once per way of opening it:
 *
 *   storeContract('SqliteStore :memory:', async () => openSqliteStore(':memory:'));
 *
 * `open` must return a fresh, empty store each time; each test gets its own
 * and closes it. `cleanup`, if given, runs after each test once its store is
 * closed (delete a temporary file, flush a Redis database).
 */
export function storeContract(name: string, open: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let store: Store;
    let closedByTest = false;

    beforeEach(async () => {
      closedByTest = false;
      store = await open();
    });
    afterEach(async () => {
      if (!closedByTest) await store.close();
      await cleanup?.();
    });

    const context = { store: () => store, open, markClosed: () => void (closedByTest = true) };
    recordsContract(context);
    trailsContract(context);

    test('schemaVersion is a positive integer', async () => {
      const version = await store.schemaVersion();
      expect(Number.isInteger(version)).toBe(true);
      expect(version).toBeGreaterThan(0);
    });

    test('after close, every call rejects with a RoamgateError', async () => {
      await store.users.put(alice);
      await store.close();
      closedByTest = true;
      const calls: Array<Promise<unknown>> = [
        store.users.get('alice'),
        store.users.put(alice),
        store.leases.create(lease('l1')),
        store.leases.listLive(T),
        store.rules.list(),
        store.registrations.put(registration('r')),
        store.audit.append({ at: T, type: 'login', detail: {} }),
        store.audit.list(),
        store.schemaVersion(),
      ];
      for (const call of calls) {
        const error = await call.then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(isRoamgateError(error)).toBe(true);
      }
    });
  });
}
