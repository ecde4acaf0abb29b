import type { RegistrySource } from '../sources/registry-source';
import type { StoreChange, Store } from '../store/store';
import type { AccessTable } from './access-table';
import type { LeaseHolderCheck } from './lease-holder-check';
import { type FleetPlaces, PLACES_SCOPE } from './fleet-places';
import type { LeaseManager } from './lease-manager';
import type { LoginGuard } from './login-guard';
import type { RegistrationThrottle } from './registration-throttle';
import type { Logger } from './options';

export interface StoreFollowerDeps {
  store: Store;
  leases: LeaseManager;
  access: AccessTable;
  registry: RegistrySource;
  holderCheck: LeaseHolderCheck;
  guard: LoginGuard;
  registrationThrottle: RegistrationThrottle;
  /** Per-address places across the fleet: what the other processes hold. */
  places: FleetPlaces | undefined;
  logger: Logger;
  /** Settles once the saved state is loaded: changes are taken in only after. */
  ready: Promise<void>;
}

/** The scope prefix of the login throttle's shared failures. */
const LOGIN_SCOPE = 'login:';
/** The scope of the registration throttle's shared failures (wrong secrets per address). */
const REGISTRATION_SCOPE = 'registration';

/**
 * A job that runs at most once at a time: asked again while it runs, it
 * runs once more after, however many times it was asked.
 */
function coalesced(job: () => Promise<void>, onError: (error: unknown) => void): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    running = true;
    do {
      again = false;
      await job().catch(onError);
    } while (again);
    running = false;
  };
  return () => {
    if (running) again = true;
    else void run();
  };
}

/**
 * Follows the store's change feed, so that what another gateway process did
 * holds here within the feed's delay: a lease issued there identifies its
 * holder here, one revoked there ends here and cuts its relays, a rule
 * changed there re-checks the relays here (`onAccessChange`), a server
 * registered there is in this table, a user disabled there loses their
 * leases, and wrong passwords there count in this login throttle's counts. Returns what stops following. A store without a feed is the only
 * writer: nothing to follow.
 */
export function followStoreChanges(deps: StoreFollowerDeps): () => void {
  const { store, leases, access, registry, holderCheck, guard, registrationThrottle, places, logger } = deps;
  if (!store.changes) return () => undefined;
  const failures = store.failures;
  if (failures) {
    // Written in the background: a login never waits on it, and a store that cannot take it only loses fleet-wide counting.
    const record = (scope: string, key: string) => void failures.record(scope, key, Date.now()).catch(() => undefined);
    guard.shareFailures((scope, key) => record(`${LOGIN_SCOPE}${scope}`, key));
    registrationThrottle.shareFailures((address) => record(REGISTRATION_SCOPE, address));
  }
  const failed = (what: string) => (error: unknown) =>
    logger.warn({ event: 'store-change-failed', what, err: error }, `taking in a change made by another gateway failed (${what})`);
  const rules = coalesced(() => access.reload(), failed('rules'));
  const servers = coalesced(() => registry.reloadFrom(async () => store.registrations.list()), failed('registrations'));
  const users = coalesced(() => holderCheck.check(), failed('users'));
  const everything = coalesced(() => leases.reloadAll(), failed('leases'));
  const take = (change: StoreChange) => {
    switch (change.table) {
      case 'leases':
        leases.refresh(change.id).catch(failed('leases'));
        return;
      case 'rules':
        return rules();
      case 'registrations':
        return servers();
      case 'users':
        return users();
      case 'failures':
        if (change.scope.startsWith(LOGIN_SCOPE)) guard.countElsewhere(change.scope.slice(LOGIN_SCOPE.length), change.key);
        else if (change.scope.startsWith(PLACES_SCOPE)) places?.heard(change.scope, change.key);
        else if (change.scope === REGISTRATION_SCOPE)
          registrationThrottle.countElsewhere(change.key).catch(failed('registration failures'));
        return;
      case 'sessions':
        // Every request reads its session from the store: nothing is kept here to refresh.
        return;
      default:
        logger.info(
          { event: 'store-changes-resync' },
          'changes by other gateways may have been missed: reading leases, rules and servers again',
        );
        everything();
        rules();
        servers();
        users();
    }
  };
  let stopped = false;
  const stop = store.changes.subscribe((change) => {
    void deps.ready.then(
      () => {
        if (!stopped) take(change);
      },
      () => undefined,
    );
  });
  return () => {
    stopped = true;
    stop();
  };
}
