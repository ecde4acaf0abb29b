import type { Database } from 'better-sqlite3';
import { RoamgateError } from '../errors';

/** One step of the SQLite schema. `version` is what `PRAGMA user_version` holds once it has run. */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * The schema, oldest step first. Append new steps; never edit one that has
 * shipped, since databases in the field are already past it.
 *
 * Tables are STRICT so a wrong-typed value is refused rather than silently
 * stored. Booleans are 0/1 integers; attributes and detail are JSON text.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    description: 'users, leases, rules, registrations, audit',
    sql: `
      CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        attributes    TEXT NOT NULL,
        disabled      INTEGER NOT NULL CHECK (disabled IN (0, 1)),
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE leases (
        id         TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL,
        user_id    TEXT NOT NULL,
        attributes TEXT NOT NULL,
        address    TEXT NOT NULL,
        issued_at  INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;
      CREATE UNIQUE INDEX leases_token_hash ON leases (token_hash);
      CREATE INDEX leases_expires_at ON leases (expires_at);

      CREATE TABLE rules (
        id         TEXT PRIMARY KEY,
        subject    TEXT NOT NULL,
        service    TEXT NOT NULL,
        allow      INTEGER NOT NULL CHECK (allow IN (0, 1)),
        reason     TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX rules_created_at ON rules (created_at, id);

      CREATE TABLE registrations (
        id         TEXT PRIMARY KEY,
        origin     TEXT NOT NULL CHECK (origin IN ('admin', 'registered')),
        service    TEXT NOT NULL,
        host       TEXT NOT NULL,
        port       INTEGER NOT NULL,
        priority   INTEGER NOT NULL,
        expires_at INTEGER
      ) STRICT;

      -- AUTOINCREMENT: an id is never handed out twice, even if the newest
      -- events are ever deleted, so paging with beforeId stays stable.
      CREATE TABLE audit (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        type    TEXT NOT NULL,
        actor   TEXT,
        address TEXT,
        detail  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_type ON audit (type, id);
    `,
  },
  {
    version: 2,
    description: 'leases of visitors keep what their home gateway vouched for; leases issued to peer gateways',
    sql: `
      ALTER TABLE leases ADD COLUMN home TEXT;
      ALTER TABLE leases ADD COLUMN peer TEXT;
    `,
  },
  {
    version: 3,
    description: 'nonces of signed peer requests, kept through their clock window so that no restart or second process admits a replay',
    sql: `
      CREATE TABLE peer_nonces (
        peer      TEXT NOT NULL,
        nonce     TEXT NOT NULL,
        forget_at INTEGER NOT NULL,
        PRIMARY KEY (peer, nonce)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX peer_nonces_forget ON peer_nonces (forget_at);
    `,
  },
  {
    version: 4,
    description: 'login page sessions, keyed by a hash of the session id, so a restart does not log everyone out',
    sql: `
      CREATE TABLE sessions (
        id_hash    TEXT PRIMARY KEY,
        data       TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX sessions_expires_at ON sessions (expires_at);
    `,
  },
  {
    version: 5,
    description: 'audit events by time, so that retention deletes the oldest without reading the whole trail',
    sql: `
      CREATE INDEX audit_at ON audit (at);
    `,
  },
  {
    version: 6,
    description: "leases that identify by their token only (a local proxy's), binding no address",
    sql: `
      ALTER TABLE leases ADD COLUMN token_only INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 7,
    description: 'the change feed: rows other processes on the same file read to hear what changed (store/sqlite-changes.ts)',
    sql: `
      CREATE TABLE changes (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        origin TEXT NOT NULL,
        tbl    TEXT NOT NULL,
        row_id TEXT NOT NULL
      );
      CREATE INDEX changes_at ON changes (at);
      CREATE TABLE failures (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        at    INTEGER NOT NULL,
        scope TEXT NOT NULL,
        key   TEXT NOT NULL
      );
      CREATE INDEX failures_at ON failures (at);
    `,
  },
]);

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Brings `db` up to the newest version in `migrations`, all steps in one
 * transaction: a failed step leaves the database as it was. The transaction
 * is IMMEDIATE so that two processes opening the same file at once do not
 * both migrate; the second waits (busy_timeout), then finds nothing to do.
 * Returns the version the database is at.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const run = db.transaction((): number => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > known) {
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `store: database schema version ${current} is newer than this roamgate (knows ${known})`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      // PRAGMA cannot take a bound parameter; the version is a number from our own table.
      db.pragma(`user_version = ${Math.trunc(migration.version)}`);
    }
    return Math.max(current, known);
  });
  return run.immediate();
}
