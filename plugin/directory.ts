import { RoamgateError } from '../errors';
import type { HomeGrant } from '../identity';
import type { Store, UserRecord } from '../store/store';
import { DUMMY_HASH, verifyPassword } from './password';

/**
 * A user as the rest of roamgate sees it.
 * @example { id: 'alice', attributes: { department: 'sales', role: 'admin' } }
 */
export interface User {
  id: string;
  attributes: Readonly<Record<string, string>>;
  /** For a visitor: what their home gateway vouched for. */
  home?: HomeGrant;
}

/** A user as written in the config file: never a plain password, only its hash (`roamgate users hash`). */
export interface ConfiguredUser {
  id: string;
  passwordHash: string;
  attributes?: Record<string, string>;
  disabled?: boolean;
}

/** What a client is told when its login cannot be checked now (a broken directory, a home out of reach): try again. */
export const LOGIN_UNCHECKED_REASON = 'the login cannot be checked right now; try again later';

/** Where users are checked. `verify` returns the user or false, and throws only when the directory is broken. */
export interface Directory {
  verify(username: string, password: string): Promise<User | false>;
  /** An enabled user by id, or undefined. */
  get(id: string): Promise<User | undefined>;
  /**
   * False for a directory that cannot look users up by id (a host's that
   * gave no `get`): then `get` knows only users it has just verified, login
   * sessions keep users as they logged in, and leases are not revoked for a
   * user it cannot find.
   */
  readonly canLookUp?: boolean;
}

/** The user whose attributes grant the admin role. */
export function isAdmin(user: User): boolean {
  return user.attributes.role === 'admin';
}

/** Users from the config file first, then from the store (managed with `roamgate users ...`). */
export class StoreDirectory implements Directory {
  private configured: ReadonlyMap<string, ConfiguredUser>;

  constructor(
    configured: readonly ConfiguredUser[],
    private readonly store: Store,
  ) {
    this.configured = new Map(configured.map((user) => [user.id, user]));
  }

  /**
   * Replaces the users of the config file (a reload); returns the ids added, removed or changed, whose remembered
   * logins must go.
   */
  setConfigured(users: readonly ConfiguredUser[]): string[] {
    const next = new Map(users.map((user) => [user.id, user]));
    const ids = new Set([...this.configured.keys(), ...next.keys()]);
    const changed = [...ids].filter((id) => JSON.stringify(this.configured.get(id)) !== JSON.stringify(next.get(id)));
    this.configured = next;
    return changed;
  }

  /** Whether the id comes from the config file (and so cannot be changed through the store). */
  isConfigured(id: string): boolean {
    return this.configured.has(id);
  }

  async get(id: string): Promise<User | undefined> {
    const record = await this.record(id);
    return record && !record.disabled ? { id: record.id, attributes: { ...(record.attributes ?? {}) } } : undefined;
  }

  async verify(username: string, password: string): Promise<User | false> {
    const record = await this.record(username);
    if (!record || record.disabled) {
      // Spend the same time as a real check, so response time does not reveal which users exist.
      await verifyPassword(password, DUMMY_HASH).catch(() => false);
      return false;
    }
    let ok: boolean;
    try {
      ok = await verifyPassword(password, record.passwordHash);
    } catch (cause) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `directory: the password hash of ${record.id} is malformed`, { cause });
    }
    return ok ? { id: record.id, attributes: { ...(record.attributes ?? {}) } } : false;
  }

  private async record(
    id: string,
  ): Promise<(Pick<UserRecord, 'id' | 'passwordHash' | 'disabled'> & { attributes?: Record<string, string> }) | undefined> {
    const configured = this.configured.get(id);
    if (configured)
      return { id, passwordHash: configured.passwordHash, attributes: configured.attributes, disabled: configured.disabled ?? false };
    return this.store.users.get(id);
  }
}
