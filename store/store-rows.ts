import type { HomeGrant } from '../identity';
import type { LeaseRecord, RegistrationRecord, RuleRecord, UserRecord } from './store';

/**
 * The tables' rows as both backends read them, and how each becomes its
 * record. The backends differ only in how a JSON column and a boolean arrive:
 * SQLite gives text and 0/1, PostgreSQL parsed jsonb and booleans; `Json`
 * and `Bool` are those column types, and {@link RowDecoding} turns them into values.
 */
export interface RowDecoding<Json, Bool> {
  json<T>(value: Json): T;
  bool(value: Bool): boolean;
}

/** SQLite's columns: JSON as text, booleans as 0/1. */
export const SQLITE_ROWS: RowDecoding<string, number> = { json: (text) => JSON.parse(text), bool: (value) => value === 1 };
/** PostgreSQL's columns: jsonb arrives parsed, booleans as booleans. */
export const POSTGRES_ROWS: RowDecoding<unknown, boolean> = { json: <T>(value: unknown) => value as T, bool: (value) => value };

export const USER_COLUMNS = 'id, password_hash, attributes, disabled, created_at, updated_at';
export interface UserColumns<Json, Bool> {
  id: string;
  password_hash: string;
  attributes: Json;
  disabled: Bool;
  created_at: number;
  updated_at: number;
}
export function userRecord<Json, Bool>(row: UserColumns<Json, Bool>, decode: RowDecoding<Json, Bool>): UserRecord {
  return {
    id: row.id,
    passwordHash: row.password_hash,
    attributes: decode.json<Record<string, string>>(row.attributes),
    disabled: decode.bool(row.disabled),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export const LEASE_COLUMNS = 'id, token_hash, user_id, attributes, address, issued_at, expires_at, revoked_at, home, peer, token_only';
export interface LeaseColumns<Json, Bool> {
  id: string;
  token_hash: string;
  user_id: string;
  attributes: Json;
  address: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  home: Json | null;
  peer: string | null;
  token_only: Bool;
}
export function leaseRecord<Json, Bool>(row: LeaseColumns<Json, Bool>, decode: RowDecoding<Json, Bool>): LeaseRecord {
  const lease: LeaseRecord = {
    id: row.id,
    tokenHash: row.token_hash,
    userId: row.user_id,
    attributes: decode.json<Record<string, string>>(row.attributes),
    address: row.address,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
  };
  if (row.revoked_at !== null) lease.revokedAt = row.revoked_at;
  if (row.home !== null) lease.home = decode.json<HomeGrant>(row.home);
  if (row.peer !== null) lease.peer = row.peer;
  if (decode.bool(row.token_only)) lease.tokenOnly = true;
  return lease;
}

export const RULE_COLUMNS = 'id, subject, service, allow, reason, created_at, updated_at';
export interface RuleColumns<Bool> {
  id: string;
  subject: string;
  service: string;
  allow: Bool;
  reason: string | null;
  created_at: number;
  updated_at: number;
}
export function ruleRecord<Json, Bool>(row: RuleColumns<Bool>, decode: RowDecoding<Json, Bool>): RuleRecord {
  const rule: RuleRecord = {
    id: row.id,
    subject: row.subject,
    service: row.service,
    allow: decode.bool(row.allow),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.reason !== null) rule.reason = row.reason;
  return rule;
}

export const REGISTRATION_COLUMNS = 'id, origin, service, host, port, priority, expires_at';
export interface RegistrationRow {
  id: string;
  origin: RegistrationRecord['origin'];
  service: string;
  host: string;
  port: number;
  priority: number;
  expires_at: number | null;
}
export function registrationFromRow(row: RegistrationRow): RegistrationRecord {
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
