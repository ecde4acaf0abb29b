import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { RoamgateError } from '../errors';
import { migrate } from './migrations';
import type { HomeGrant } from '../identity';
import type { AuditEvent, AuditQuery, LeaseRecord, NonceVerdict, RegistrationRecord, RuleRecord, Store, UserRecord } from './store';

/** How long a write waits for another connection's lock on the same file before failing (ms). */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000;
/** Audit events returned by one `audit.list` unless the query asks for fewer. */
export const DEFAULT_AUDIT_LIST_LIMIT = 100;
/** The most audit events one `audit.list` returns, whatever the query asks. */
export const MAX_AUDIT_LIST_LIMIT = 1000;

export interface SqliteStoreOptions {
  /** How long to wait for a lock held by another connection (ms). Default {@link DEFAULT_SQLITE_BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number;
}

interface UserRow {
  id: string;
  password_hash: string;
  attributes: string;
  disabled: number;
  created_at: number;
  updated_at: number;
}

interface LeaseRow {
  id: string;
  token_hash: string;
  user_id: string;
  attributes: string;
  address: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  home: string | null;
  peer: string | null;
}

interface RuleRow {
  id: string;
  subject: string;
  service: string;
  allow: number;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

interface RegistrationRow {
  id: string;
  origin: RegistrationRecord['origin'];
  service: string;
  host: string;
  port: number;
  priority: number;
  expires_at: number | null;
}

interface AuditRow {
  id: number;
  at: number;
  type: string;
  actor: string | null;
  address: string | null;
  detail: string;
}

interface AuditListParams {
  limit: number;
  beforeId: number;
  type: string;
}

const USER_COLUMNS = 'id, password_hash, attributes, disabled, created_at, updated_at';
const LEASE_COLUMNS = 'id, token_hash, user_id, attributes, address, issued_at, expires_at, revoked_at, home, peer';
const RULE_COLUMNS = 'id, subject, service, allow, reason, created_at, updated_at';
const REGISTRATION_COLUMNS = 'id, origin, service, host, port, priority, expires_at';
const AUDIT_COLUMNS = 'id, at, type, actor, address, detail';

function userFromRow(row: UserRow): UserRecord {
  return {
    id: row.id,
    passwordHash: row.password_hash,
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function leaseFromRow(row: LeaseRow): LeaseRecord {
  const lease: LeaseRecord = {
    id: row.id,
    tokenHash: row.token_hash,
    userId: row.user_id,
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    address: row.address,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
  };
  if (row.revoked_at !== null) lease.revokedAt = row.revoked_at;
  if (row.home !== null) lease.home = JSON.parse(row.home) as HomeGrant;
  if (row.peer !== null) lease.peer = row.peer;
  return lease;
}

function ruleFromRow(row: RuleRow): RuleRecord {
  const rule: RuleRecord = {
    id: row.id,
    subject: row.subject,
    service: row.service,
    allow: row.allow === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.reason !== null) rule.reason = row.reason;
  return rule;
}

function registrationFromRow(row: RegistrationRow): RegistrationRecord {
  const entry: RegistrationRecord = {
    id: row.id,
    origin: row.origin,
    service: row.service,
    host: row.host,
    port: row.port,
    priority: row.priority,
  };
  if (row.expires_at !== null) entry.expiresAt = row.expires_at;
  return entry;
}

function auditFromRow(row: AuditRow): AuditEvent {
  const event: AuditEvent = { id: row.id, at: row.at, type: row.type, detail: JSON.parse(row.detail) as Record<string, unknown> };
  if (row.actor !== null) event.actor = row.actor;
  if (row.address !== null) event.address = row.address;
  return event;
}

/** Every statement the store runs, prepared once when it opens. */
function prepareStatements(db: Database.Database) {
  return {
    userGet: db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`),
    userList: db.prepare<[], UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`),
    userPut: db.prepare<[UserRow]>(
      `INSERT INTO users (${USER_COLUMNS}) VALUES (@id, @password_hash, @attributes, @disabled, @created_at, @updated_at)
       ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, attributes = excluded.attributes,
         disabled = excluded.disabled, created_at = excluded.created_at, updated_at = excluded.updated_at`,
    ),
    userRemove: db.prepare<[string]>('DELETE FROM users WHERE id = ?'),

    leaseCreate: db.prepare<[LeaseRow]>(
      `INSERT INTO leases (${LEASE_COLUMNS}) VALUES (@id, @token_hash, @user_id, @attributes, @address, @issued_at, @expires_at, @revoked_at, @home, @peer)`,
    ),
    leaseGet: db.prepare<[string], LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM leases WHERE id = ?`),
    leaseGetByTokenHash: db.prepare<[string], LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM leases WHERE token_hash = ?`),
    leaseListLive: db.prepare<[number], LeaseRow>(
      `SELECT ${LEASE_COLUMNS} FROM leases WHERE revoked_at IS NULL AND expires_at > ? ORDER BY issued_at, id`,
    ),
    leaseRenew: db.prepare<[number, string, number]>('UPDATE leases SET expires_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ?'),
    leaseRevoke: db.prepare<[number, string]>('UPDATE leases SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    leasePurge: db.prepare<[number, number]>('DELETE FROM leases WHERE expires_at < ? OR revoked_at < ?'),

    ruleList: db.prepare<[], RuleRow>(`SELECT ${RULE_COLUMNS} FROM rules ORDER BY created_at, id`),
    ruleGet: db.prepare<[string], RuleRow>(`SELECT ${RULE_COLUMNS} FROM rules WHERE id = ?`),
    rulePut: db.prepare<[RuleRow]>(
      `INSERT INTO rules (${RULE_COLUMNS}) VALUES (@id, @subject, @service, @allow, @reason, @created_at, @updated_at)
       ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, service = excluded.service, allow = excluded.allow,
         reason = excluded.reason, created_at = excluded.created_at, updated_at = excluded.updated_at`,
    ),
    ruleRemove: db.prepare<[string]>('DELETE FROM rules WHERE id = ?'),

    registrationList: db.prepare<[], RegistrationRow>(`SELECT ${REGISTRATION_COLUMNS} FROM registrations ORDER BY id`),
    registrationPut: db.prepare<[RegistrationRow]>(
      `INSERT INTO registrations (${REGISTRATION_COLUMNS}) VALUES (@id, @origin, @service, @host, @port, @priority, @expires_at)
       ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, service = excluded.service, host = excluded.host,
         port = excluded.port, priority = excluded.priority, expires_at = excluded.expires_at`,
    ),
    registrationRemove: db.prepare<[string]>('DELETE FROM registrations WHERE id = ?'),

    nonceForget: db.prepare<[number]>('DELETE FROM peer_nonces WHERE forget_at < ?'),
    nonceSeen: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM peer_nonces WHERE peer = ? AND nonce = ?'),
    nonceCount: db.prepare<[string], { count: number }>('SELECT count(*) AS count FROM peer_nonces WHERE peer = ?'),
    nonceInsert: db.prepare<[string, string, number]>('INSERT INTO peer_nonces (peer, nonce, forget_at) VALUES (?, ?, ?)'),

    sessionGet: db.prepare<[string, number], { data: string }>('SELECT data FROM sessions WHERE id_hash = ? AND expires_at >= ?'),
    sessionPut: db.prepare<[string, string, number]>(
      'INSERT INTO sessions (id_hash, data, expires_at) VALUES (?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at',
    ),
    sessionTouch: db.prepare<[number, string, number]>('UPDATE sessions SET expires_at = ? WHERE id_hash = ? AND expires_at >= ?'),
    sessionRemove: db.prepare<[string]>('DELETE FROM sessions WHERE id_hash = ?'),
    sessionPurge: db.prepare<[number]>('DELETE FROM sessions WHERE expires_at < ?'),

    auditAppend: db.prepare<[Omit<AuditRow, 'id'>]>(
      'INSERT INTO audit (at, type, actor, address, detail) VALUES (@at, @type, @actor, @address, @detail)',
    ),
    // One statement per filter shape rather than `(@x IS NULL OR ...)`, so that SQLite
    // walks the rowid or the (type, id) index backwards and stops at the limit.
    auditList: db.prepare<[Pick<AuditListParams, 'limit'>], AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit ORDER BY id DESC LIMIT @limit`,
    ),
    auditListBefore: db.prepare<[Pick<AuditListParams, 'limit' | 'beforeId'>], AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit WHERE id < @beforeId ORDER BY id DESC LIMIT @limit`,
    ),
    auditListType: db.prepare<[Pick<AuditListParams, 'limit' | 'type'>], AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit WHERE type = @type ORDER BY id DESC LIMIT @limit`,
    ),
    auditListTypeBefore: db.prepare<[AuditListParams], AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit WHERE type = @type AND id < @beforeId ORDER BY id DESC LIMIT @limit`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * The embedded store: one SQLite file (or `:memory:`) through better-sqlite3.
 * better-sqlite3 is synchronous; the methods are async only to honour the
 * {@link Store} contract, and every failure, SQLite's included, arrives as a
 * rejected promise carrying a {@link RoamgateError}.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly version: number;
  private closed = false;
  private readonly statements: Statements;

  /** Takes an open connection, migrates it and prepares its statements. Most callers want {@link openSqliteStore}. */
  constructor(db: Database.Database) {
    this.db = db;
    this.version = migrate(db);
    this.statements = prepareStatements(db);
    this.appendBatch = db.transaction((events: ReadonlyArray<Omit<AuditEvent, 'id'>>) => {
      for (const event of events) {
        this.statements.auditAppend.run({ at: event.at, type: event.type, actor: event.actor ?? null, address: event.address ?? null, detail: JSON.stringify(event.detail) });
      }
    });
    this.admitNonce = db.transaction((peer: string, nonce: string, forgetAt: number, now: number, maxPerPeer: number): NonceVerdict => {
      this.statements.nonceForget.run(now);
      if (this.statements.nonceSeen.get(peer, nonce)) return 'replayed';
      if (this.statements.nonceCount.get(peer)!.count >= maxPerPeer) return 'full';
      this.statements.nonceInsert.run(peer, nonce, forgetAt);
      return 'admitted';
    });
  }

  /** Writes audit events in one transaction: one file sync for a whole batch. */
  private readonly appendBatch: (events: ReadonlyArray<Omit<AuditEvent, 'id'>>) => void;

  /** Forgets, looks and records in one write transaction (run IMMEDIATE), so two processes on one file cannot both admit a nonce. */
  private readonly admitNonce: Database.Transaction<(peer: string, nonce: string, forgetAt: number, now: number, maxPerPeer: number) => NonceVerdict>;

  readonly users: Store['users'] = {
    get: (id) => this.run('users.get', () => {
      const row = this.statements.userGet.get(id);
      return row && userFromRow(row);
    }),
    list: () => this.run('users.list', () => this.statements.userList.all().map(userFromRow)),
    put: (user) => this.run('users.put', () => {
      this.statements.userPut.run({
        id: user.id,
        password_hash: user.passwordHash,
        attributes: JSON.stringify(user.attributes),
        disabled: user.disabled ? 1 : 0,
        created_at: user.createdAt,
        updated_at: user.updatedAt,
      });
    }),
    remove: (id) => this.run('users.remove', () => this.statements.userRemove.run(id).changes > 0),
  };

  readonly leases: Store['leases'] = {
    create: (lease) => this.run('leases.create', () => {
      this.statements.leaseCreate.run({
        id: lease.id,
        token_hash: lease.tokenHash,
        user_id: lease.userId,
        attributes: JSON.stringify(lease.attributes),
        address: lease.address,
        issued_at: lease.issuedAt,
        expires_at: lease.expiresAt,
        revoked_at: lease.revokedAt ?? null,
        home: lease.home ? JSON.stringify(lease.home) : null,
        peer: lease.peer ?? null,
      });
    }),
    get: (id) => this.run('leases.get', () => {
      const row = this.statements.leaseGet.get(id);
      return row && leaseFromRow(row);
    }),
    getByTokenHash: (tokenHash) => this.run('leases.getByTokenHash', () => {
      const row = this.statements.leaseGetByTokenHash.get(tokenHash);
      return row && leaseFromRow(row);
    }),
    listLive: (now) => this.run('leases.listLive', () => this.statements.leaseListLive.all(now).map(leaseFromRow)),
    // `now` comes from the caller, so injected clocks and the store agree on what is live.
    renew: (id, expiresAt, now) => this.run('leases.renew', () => this.statements.leaseRenew.run(expiresAt, id, now).changes > 0),
    revoke: (id, at) => this.run('leases.revoke', () => this.statements.leaseRevoke.run(at, id).changes > 0),
    purge: (before) => this.run('leases.purge', () => this.statements.leasePurge.run(before, before).changes),
  };

  readonly rules: Store['rules'] = {
    list: () => this.run('rules.list', () => this.statements.ruleList.all().map(ruleFromRow)),
    get: (id) => this.run('rules.get', () => {
      const row = this.statements.ruleGet.get(id);
      return row && ruleFromRow(row);
    }),
    put: (rule) => this.run('rules.put', () => {
      this.statements.rulePut.run({
        id: rule.id,
        subject: rule.subject,
        service: rule.service,
        allow: rule.allow ? 1 : 0,
        reason: rule.reason ?? null,
        created_at: rule.createdAt,
        updated_at: rule.updatedAt,
      });
    }),
    remove: (id) => this.run('rules.remove', () => this.statements.ruleRemove.run(id).changes > 0),
  };

  readonly registrations: Store['registrations'] = {
    list: () => this.run('registrations.list', () => this.statements.registrationList.all().map(registrationFromRow)),
    put: (entry) => this.run('registrations.put', () => {
      this.statements.registrationPut.run({
        id: entry.id,
        origin: entry.origin,
        service: entry.service,
        host: entry.host,
        port: entry.port,
        priority: entry.priority,
        expires_at: entry.expiresAt ?? null,
      });
    }),
    remove: (id) => this.run('registrations.remove', () => this.statements.registrationRemove.run(id).changes > 0),
  };

  readonly nonces: Store['nonces'] = {
    admit: (peer, nonce, forgetAt, now, maxPerPeer) => this.run('nonces.admit', () => this.admitNonce.immediate(peer, nonce, forgetAt, now, maxPerPeer)),
  };

  readonly sessions: Store['sessions'] = {
    get: (idHash, now) => this.run('sessions.get', () => this.statements.sessionGet.get(idHash, now)?.data),
    put: (idHash, data, expiresAt) => this.run('sessions.put', () => {
      this.statements.sessionPut.run(idHash, data, expiresAt);
    }),
    touch: (idHash, expiresAt, now) => this.run('sessions.touch', () => this.statements.sessionTouch.run(expiresAt, idHash, now).changes > 0),
    remove: (idHash) => this.run('sessions.remove', () => this.statements.sessionRemove.run(idHash).changes > 0),
    purge: (before) => this.run('sessions.purge', () => this.statements.sessionPurge.run(before).changes),
  };

  readonly audit: Store['audit'] = {
    append: (event) => this.run('audit.append', () => {
      const detail = JSON.stringify(event.detail);
      const { lastInsertRowid } = this.statements.auditAppend.run({
        at: event.at,
        type: event.type,
        actor: event.actor ?? null,
        address: event.address ?? null,
        detail,
      });
      // Returned as it would be read back: a copy, optional fields absent rather than undefined.
      return auditFromRow({ id: Number(lastInsertRowid), at: event.at, type: event.type, actor: event.actor ?? null, address: event.address ?? null, detail });
    }),
    appendMany: (events) => this.run('audit.appendMany', () => {
      this.appendBatch(events);
    }),
    list: (query: AuditQuery = {}) => this.run('audit.list', () => {
      const limit = Math.min(query.limit ?? DEFAULT_AUDIT_LIST_LIMIT, MAX_AUDIT_LIST_LIMIT);
      if (!Number.isInteger(limit) || limit < 0) {
        throw new RoamgateError('ROAMGATE_BAD_REQUEST', `store: audit limit must be an integer 0-${MAX_AUDIT_LIST_LIMIT}`);
      }
      const { beforeId, type } = query;
      const rows =
        beforeId === undefined
          ? type === undefined
            ? this.statements.auditList.all({ limit })
            : this.statements.auditListType.all({ limit, type })
          : type === undefined
            ? this.statements.auditListBefore.all({ limit, beforeId })
            : this.statements.auditListTypeBefore.all({ limit, beforeId, type });
      return rows.map(auditFromRow);
    }),
  };

  schemaVersion(): Promise<number> {
    return this.run('schemaVersion', () => this.version);
  }

  /** Closes the database; later calls reject. Closing again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.close();
    } catch (error) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: closing ${this.db.name} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Runs one synchronous operation as the contract's promise, turning every failure into a RoamgateError. */
  private async run<T>(operation: string, body: () => T): Promise<T> {
    if (this.closed) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', `store: ${operation} after the store was closed`);
    try {
      return body();
    } catch (error) {
      if (error instanceof RoamgateError) throw error;
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${operation} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/**
 * Opens (creating if need be) the SQLite store at `path`, or a private
 * in-memory one for `':memory:'`, and brings its schema up to date. A new
 * file is made readable by its owner only (mode 0600; SQLite gives its -wal
 * and -shm files the same mode): it holds password and token hashes. An
 * existing file keeps its mode (the gateway warns when others may read it).
 * Throws ROAMGATE_INVALID_OPTIONS when the file was written by a newer
 * roamgate, ROAMGATE_SOURCE_FAILED when it cannot be opened or migrated.
 * @example
 * const store = openSqliteStore('/var/lib/roamgate/roamgate.db');
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:' && path !== '') createPrivately(path);
    db = new Database(path, { timeout: options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS });
    // WAL lets readers (another gateway process, the CLI) work while one writes;
    // it is kept in the file, so set it before anything else touches the schema.
    if (!db.memory) db.pragma('journal_mode = WAL');
    return new SqliteStore(db);
  } catch (error) {
    db?.close();
    if (error instanceof RoamgateError) throw error;
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Creates `path` empty with mode 0600 unless it exists; SQLite then opens it as a new database. */
function createPrivately(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
