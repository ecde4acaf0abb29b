/**
 * The signed identity assertion `gw.web` sends upstream in `X-Roamgate-Assertion`.
 *
 * Format: `v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(secret, payload bytes))>`; the MAC covers the exact
 * payload bytes, so a verifier never re-serializes JSON. This module needs nothing but `node:crypto`: an upstream
 * written for Node may copy it as it is.
 * @example
 * // upstream, behind gw.web('wiki') with web.assertionSecret set:
 * const who = verifyAssertion(req.headers['x-roamgate-assertion'] ?? '', process.env.ROAMGATE_SECRET, { audience: 'wiki' });
 * if (!who) return res.status(401).end();
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long an assertion is valid after it is signed (ms): one request, with room for clock skew. */
export const ASSERTION_LIFETIME_MS = 60_000;
/** The version tag every assertion starts with. */
export const ASSERTION_VERSION = 'v1';

/** What an assertion says: who (absent: anonymous), their attributes, for which service, until when (ms since the epoch). */
export interface WebAssertion {
  user?: string;
  attributes: Record<string, string>;
  /** The service (gw.web's first argument) the assertion is meant for; another service must not accept it. */
  audience: string;
  expiresAt: number;
}

/** The MAC's length in bytes (SHA-256). */
const MAC_BYTES = 32;

function mac(payload: Buffer, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** Signs an assertion; the JSON holds exactly the four fields, `user` only when there is one. */
export function signAssertion(assertion: WebAssertion, secret: string): string {
  const { user, attributes, audience, expiresAt } = assertion;
  const payload = Buffer.from(
    JSON.stringify(user === undefined ? { attributes, audience, expiresAt } : { user, attributes, audience, expiresAt }),
  );
  return `${ASSERTION_VERSION}.${payload.toString('base64url')}.${mac(payload, secret).toString('base64url')}`;
}

/**
 * Base64url text as bytes, only when it is the one canonical encoding of them (no padding, no stray characters,
 * no unused bits set): otherwise two texts could carry one payload and a changed character could go unnoticed.
 */
function canonicalBase64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((entry) => typeof entry === 'string');
}

/** The payload's fields when they have the right types, else undefined. */
function assertionOf(json: unknown): WebAssertion | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { user, attributes, audience, expiresAt } = json as Record<string, unknown>;
  if (user !== undefined && typeof user !== 'string') return undefined;
  if (!isStringRecord(attributes) || typeof audience !== 'string' || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))
    return undefined;
  return user === undefined ? { attributes, audience, expiresAt } : { user, attributes, audience, expiresAt };
}

/**
 * The assertion in `header` when it is well formed, signed with `secret`, meant for `audience` and not expired at
 * `now` (default: the clock); otherwise undefined, whatever was wrong with it.
 */
export function verifyAssertion(header: string, secret: string, expected: { audience: string; now?: number }): WebAssertion | undefined {
  if (typeof header !== 'string') return undefined;
  const parts = header.split('.');
  if (parts.length !== 3 || parts[0] !== ASSERTION_VERSION) return undefined;
  const payload = canonicalBase64url(parts[1]);
  const presented = canonicalBase64url(parts[2]);
  if (!payload || payload.length === 0 || presented?.length !== MAC_BYTES) return undefined;
  if (!timingSafeEqual(presented, mac(payload, secret))) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const assertion = assertionOf(json);
  if (!assertion || assertion.audience !== expected.audience) return undefined;
  return assertion.expiresAt > (expected.now ?? Date.now()) ? assertion : undefined;
}
