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
}

/** What {@link Store.nonces}.admit made of a nonce. */
export type NonceVerdict = 'admitted' | 'replayed' | 'full';

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
  close(): Promise<void>;
}
