import type { ClientBase } from 'pg';
import { RoamgateError } from '../errors';

/** One step of the PostgreSQL schema; `version` is the row it adds to `roamgate_schema`. */
export interface PostgresMigration {
  version: number;
  description: string;
  sql: string;
}

/** The channel the triggers notify on (see postgres-change-feed.ts). */
export const CHANGE_CHANNEL = 'roamgate_changes';

/**
 * The key of the advisory lock migrations run under, so that several gateways
 * starting at once on one database migrate it exactly once (bigint keys and the
 * (int, int) keys of nonces.admit are separate lock spaces).
 */
export const MIGRATION_LOCK_KEY = '8245916565252437093'; // 0x726f616d67617465, "roamgate"

/**
 * The schema, oldest step first. Append new steps; never edit one that has
 * shipped, since databases in the field are already past it.
 *
 * It holds what SQLite's holds (store/migrations.ts at version 6) in one step.
 * Times are ms since the epoch (BIGINT); attributes, home grants and audit
 * detail are JSON kept as written (`json`, not `jsonb`, which refuses `\u0000`
 * in a string an attacker may have typed); text that names a row is
 * COLLATE "C", so that lists are ordered by code point as SQLite orders them.
 *
 * Every change to a table other processes cache (users, leases, rules,
 * registrations, sessions) notifies CHANGE_CHANNEL with the table, the row's
 * key and the writer's `roamgate.origin` (set on each of a store's
 * connections), at commit: how the other processes hear it. Only the key is
 * sent (NOTIFY takes at most 8000 bytes); a longer key is sent as null, which
 * listeners take as "reload the table".
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = Object.freeze([
  {
    version: 1,
    description: 'users, leases, rules, registrations, audit, peer nonces, sessions; change notifications',
    sql: `
      CREATE TABLE users (
        id            TEXT COLLATE "C" PRIMARY KEY,
        password_hash TEXT NOT NULL,
        attributes    JSON NOT NULL,
        disabled      BOOLEAN NOT NULL,
        created_at    BIGINT NOT NULL,
        updated_at    BIGINT NOT NULL
      );

      CREATE TABLE leases (
        id         TEXT COLLATE "C" PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id    TEXT NOT NULL,
        attributes JSON NOT NULL,
        address    TEXT NOT NULL,
        issued_at  BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT,
        home       JSON,
        peer       TEXT,
        token_only BOOLEAN NOT NULL DEFAULT false
      );
      CREATE INDEX leases_expires_at ON leases (expires_at);
      CREATE INDEX leases_revoked_at ON leases (revoked_at);

      CREATE TABLE rules (
        id         TEXT COLLATE "C" PRIMARY KEY,
        subject    TEXT NOT NULL,
        service    TEXT NOT NULL,
        allow      BOOLEAN NOT NULL,
        reason     TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX rules_created_at ON rules (created_at, id);

      CREATE TABLE registrations (
        id         TEXT COLLATE "C" PRIMARY KEY,
        origin     TEXT NOT NULL CHECK (origin IN ('admin', 'registered')),
        service    TEXT NOT NULL,
        host       TEXT NOT NULL,
        port       INTEGER NOT NULL,
        priority   INTEGER NOT NULL,
        expires_at BIGINT
      );

      -- An identity never hands out an id twice, so paging with beforeId stays stable.
      CREATE TABLE audit (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at      BIGINT NOT NULL,
        type    TEXT NOT NULL,
        actor   TEXT,
        address TEXT,
        detail  JSON NOT NULL
      );
      CREATE INDEX audit_type ON audit (type, id);
      CREATE INDEX audit_at ON audit (at);

      CREATE TABLE peer_nonces (
        peer      TEXT NOT NULL,
        nonce     TEXT NOT NULL,
        forget_at BIGINT NOT NULL,
        PRIMARY KEY (peer, nonce)
      );
      CREATE INDEX peer_nonces_forget ON peer_nonces (peer, forget_at);

      CREATE TABLE sessions (
        id_hash    TEXT COLLATE "C" PRIMARY KEY,
        data       TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX sessions_expires_at ON sessions (expires_at);

      CREATE FUNCTION roamgate_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed record;
        row_key text;
      BEGIN
        IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
        IF TG_ARGV[0] = 'id_hash' THEN row_key := changed.id_hash; ELSE row_key := changed.id; END IF;
        IF octet_length(row_key) > 7000 THEN row_key := NULL; END IF;
        PERFORM pg_notify('${CHANGE_CHANNEL}', json_build_object(
          'table', TG_TABLE_NAME, 'id', row_key, 'origin', current_setting('roamgate.origin', true))::text);
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION roamgate_notify_change('id');
      CREATE TRIGGER leases_changed AFTER INSERT OR UPDATE OR DELETE ON leases
        FOR EACH ROW EXECUTE FUNCTION roamgate_notify_change('id');
      CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE ON rules
        FOR EACH ROW EXECUTE FUNCTION roamgate_notify_change('id');
      CREATE TRIGGER registrations_changed AFTER INSERT OR UPDATE OR DELETE ON registrations
        FOR EACH ROW EXECUTE FUNCTION roamgate_notify_change('id');
      CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE ON sessions
        FOR EACH ROW EXECUTE FUNCTION roamgate_notify_change('id_hash');
    `,
  },
]);

/** The newest PostgreSQL schema version this code knows. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version;

/**
 * Brings the database `client` is connected to up to the newest version in
 * `migrations`, all steps in one transaction under an advisory lock: a failed
 * step leaves the database as it was, and of several processes starting at
 * once one migrates while the others wait, then find nothing to do. Each step
 * applied is a row of `roamgate_schema`. Throws ROAMGATE_INVALID_OPTIONS when
 * the database is at a version newer than `migrations` know. Returns the
 * version the database is at.
 */
export async function migratePostgres(client: ClientBase, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<number> {
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS roamgate_schema (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM roamgate_schema');
    const current = rows[0]?.version ?? 0;
    if (current > known) {
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `store: database schema version ${current} is newer than this roamgate (knows ${known})`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO roamgate_schema (version, description, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.description,
        Date.now(),
      ]);
    }
    await client.query('COMMIT');
    return Math.max(current, known);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
