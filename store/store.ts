import { RoamgateError } from '../errors';
import type { HomeGrant } from '../identity';

/**
 * Persistence behind one interface. Every backend passes the shared contract
 * suite (test/unit/store-contract.ts). Methods are async so that a networked
 * backend (Redis, for several gateways) fits the same contract; the gateway
 * keeps hot data (live leases, rules) in memory and writes through.
 * Times are milliseconds since the epoch.
 */

/** A directory user. Passwords are stored only as a self-describing hash (`scrypt$...`). */
export interface UserRecord {
  id: string;
  passwordHash: string;
  attributes: Record<string, string>;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A lease: what a terminal holds after its user logged in. Only the token's SHA-256 is stored. */
export interface LeaseRecord {
  id: string;
  tokenHash: string;
  userId: string;
  attributes: Record<string, string>;
  /** The source address the user logged in from. */
  address: string;
  issuedAt: number;
  expiresAt: number;
  revokedAt?: number;
  /** For a visitor: what their home gateway vouched for (it holds the home lease's token). */
  home?: HomeGrant;
  /**
   * Issued to this peer gateway for one of our users visiting it: the token
   * opens only the tunnel endpoint, and only from the peer's address; it
   * identifies nobody by address and opens no management API.
   */
  peer?: string;
  /**
   * Identifies by its token only (a local proxy's lease: its connections
   * come through the tunnel endpoint): it binds no address, so other clients
   * on the same address stay who they are.
   */
  tokenOnly?: true;
}

/** An access rule. */
export interface RuleRecord {
  id: string;
  subject: string;
  service: string;
  allow: boolean;
  reason?: string;
  createdAt: number;
  updatedAt: number;
}

/** A server added through the admin API or by self-registration. */
export interface RegistrationRecord {
  id: string;
  origin: 'admin' | 'registered';
  service: string;
  host: string;
  port: number;
  priority: number;
  expiresAt?: number;
}

/** One audit event. `detail` is free-form JSON. */
export interface AuditEvent {
  id: number;
  at: number;
  type: string;
  actor?: string;
  address?: string;
  detail: Record<string, unknown>;
}

export interface AuditQuery {
  /** Newest first; at most this many (default 100, max 1000). */
  limit?: number;
  /** Only events with id below this (for paging back). */
  beforeId?: number;
  type?: string;
  /** Only events with exactly this actor. */
  actor?: string;
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
  /** Only events before this time (ms since the epoch). */
  until?: number;
}

/** What {@link Store.audit}.prune may delete in one call. */
export interface AuditPruneLimits {
  /** Events that happened before this (ms) go. */
  before: number;
  /** Events beyond the newest `maxRows` go. */
  maxRows: number;
  /** At most this many are deleted by one call, so that no call holds the store for long. */
  limit: number;
}

/** What is wrong with a store's files; see {@link StoreHealth}. */
export type StoreProblem =
  /** A file (the database, its -wal or -shm) is no longer at its path: what is written now is lost at restart. */
  | 'vanished'
  /** Another file is at the path: this process still writes the one it opened. */
  | 'replaced'
  /** A file or its directory cannot be written by this process. */
  | 'unwritable'
  /** The database file no longer starts with SQLite's header, or SQLite found it corrupt. */
  | 'corrupt'
  /** A write failed (disk full, I/O error) although the files look right. */
  | 'write-failed'
  /** Another program truncated the -shm file (see store/sqlite-file-watch.ts); its size was restored. */
  | 'shm-truncated'
  /** The database server (PostgreSQL) cannot be reached, or refuses the store's connections or login. */
  | 'unreachable';

/**
 * Whether a store can be used now. A store that is not `ok` refuses every
 * call with a {@link StoreUnavailableError} until a check finds it usable again.
 * @example
 * const health = store.health?.() ?? { ok: true, since: Date.now() };
 * if (!health.ok) console.error(`store: ${health.reason}`);
 */
export interface StoreHealth {
  ok: boolean;
  problem?: StoreProblem;
  /** The file concerned, when there is one. */
  file?: string;
  /** One line naming the file, what is wrong and what to do about it. */
  reason?: string;
  /** Since when this state holds (ms since the epoch). */
  since: number;
}

/**
 * A store call refused because the store cannot be used now: a temporary
 * failure (code ROAMGATE_SOURCE_FAILED), answered 503 by the management API
 * and as a temporary failure by in-protocol logins.
 */
export class StoreUnavailableError extends RoamgateError {
  readonly health: StoreHealth;
  constructor(operation: string, health: StoreHealth, options?: { cause?: unknown }) {
    super('ROAMGATE_SOURCE_FAILED', `store: ${operation} refused: ${health.reason ?? 'the store cannot be used now'}`, options);
    this.name = 'StoreUnavailableError';
    this.health = health;
  }
}

/** Type guard for {@link StoreUnavailableError}. */
export function isStoreUnavailable(value: unknown): value is StoreUnavailableError {
  return value instanceof StoreUnavailableError;
}

/** What {@link Store.nonces}.admit made of a nonce. */
export type NonceVerdict = 'admitted' | 'replayed' | 'full';

/** A table whose rows other gateway processes cache, and so must hear about. */
export type ChangedTable = 'users' | 'leases' | 'rules' | 'registrations' | 'sessions';

/**
 * A change another process made on the same store: a row of `table` with
 * this `id` (user id, lease id, rule id, registration id, session id hash)
 * was created, changed or deleted. `table: 'failures'`: a failure counted by
 * another process (see {@link Store}.failures). `table: '*'` means changes may
 * have been missed (the feed was down): reload everything cached.
 */
export type StoreChange = { table: ChangedTable; id: string } | { table: 'failures'; scope: string; key: string } | { table: '*' };

/**
 * The change feed: how every process on one store hears, within a second,
 * what the others wrote. A store reports changes made through other store
 * instances (other processes, or another instance in this one), never its
 * own instance's writes.
 */
export interface StoreChanges {
  /** Calls `listener` with each change; returns what stops it. */
  subscribe(listener: (change: StoreChange) => void): () => void;
}

export interface Store {
  users: {
    get(id: string): Promise<UserRecord | undefined>;
    list(): Promise<UserRecord[]>;
    /** Creates or replaces. */
    put(user: UserRecord): Promise<void>;
    /** Returns whether a user was removed. */
    remove(id: string): Promise<boolean>;
  };
  leases: {
    create(lease: LeaseRecord): Promise<void>;
    get(id: string): Promise<LeaseRecord | undefined>;
    getByTokenHash(tokenHash: string): Promise<LeaseRecord | undefined>;
    /** Leases not revoked and not expired at `now`. */
    listLive(now: number): Promise<LeaseRecord[]>;
    /** Sets a new expiry; returns false when there is no lease live at `now`. */
    renew(id: string, expiresAt: number, now: number): Promise<boolean>;
    /** Marks revoked; returns false when no such lease or already revoked. */
    revoke(id: string, at: number): Promise<boolean>;
    /** Deletes leases expired or revoked before `before`; returns how many. */
    purge(before: number): Promise<number>;
  };
  rules: {
    list(): Promise<RuleRecord[]>;
    get(id: string): Promise<RuleRecord | undefined>;
    put(rule: RuleRecord): Promise<void>;
    remove(id: string): Promise<boolean>;
  };
  registrations: {
    list(): Promise<RegistrationRecord[]>;
    put(entry: RegistrationRecord): Promise<void>;
    remove(id: string): Promise<boolean>;
  };
  audit: {
    /** Appends an event; returns it with its id. */
    append(event: Omit<AuditEvent, 'id'>): Promise<AuditEvent>;
    /** Appends several events in one write (all or none). */
    appendMany(events: ReadonlyArray<Omit<AuditEvent, 'id'>>): Promise<void>;
    list(query?: AuditQuery): Promise<AuditEvent[]>;
    /**
     * Deletes, oldest first, at most `limit` events that happened before
     * `before` or are not among the newest `maxRows`; returns how many. Call
     * again while it returns `limit`.
     */
    prune(limits: AuditPruneLimits): Promise<number>;
  };
  nonces: {
    /**
     * Remembers a signed peer request's nonce until `forgetAt` (ms), as one
     * atomic step shared by every process on the store: `replayed` when the
     * peer's nonce is remembered and `forgetAt` of it is not before `now`;
     * `full` when the peer already has `maxPerPeer` such nonces (nothing is
     * recorded); else `admitted`. Nonces whose `forgetAt` is before `now` are
     * forgotten.
     */
    admit(peer: string, nonce: string, forgetAt: number, now: number, maxPerPeer: number): Promise<NonceVerdict>;
  };
  sessions: {
    /** The session's data, unless there is none or it expired before `now`. */
    get(idHash: string, now: number): Promise<string | undefined>;
    /** Creates or replaces. */
    put(idHash: string, data: string, expiresAt: number): Promise<void>;
    /** Sets a new expiry; returns false when there is no session live at `now`. */
    touch(idHash: string, expiresAt: number, now: number): Promise<boolean>;
    /** Returns whether a session was removed. */
    remove(idHash: string): Promise<boolean>;
    /** Deletes sessions that expired before `before`; returns how many. */
    purge(before: number): Promise<number>;
  };
  /** The schema version the backend is at. */
  schemaVersion(): Promise<number>;
  /** Optional: the change feed (a backend without it is taken to be the only writer). */
  changes?: StoreChanges;
  /**
   * Optional, with `changes`: failures counted by every process on the store
   * (wrong passwords, wrong registration secrets), so that a limit holds for
   * the fleet. `record` makes every other instance hear `{ table: 'failures',
   * scope, key }` on its feed; nothing needs to be read back. Rows older than
   * the feed keeps its rows may be deleted.
   */
  failures?: {
    record(scope: string, key: string, at: number): Promise<void>;
  };
  /** Optional: whether the store can be used now (a backend without it is taken to be usable). */
  health?(): StoreHealth;
  /** Optional: calls `listener` with each new health state; returns what stops it. */
  onHealthChange?(listener: (health: StoreHealth) => void): () => void;
  close(): Promise<void>;
}
