import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signatures between trusted peer gateways (a visited gateway asking a
 * visitor's home gateway). Each pair shares a secret; every request carries
 * the asking peer's name, a timestamp, a fresh nonce and an HMAC-SHA256 over
 * all of them, the method, the path and the body's SHA-256. The answer is
 * signed over its status, its own timestamp, the request's nonce and its body,
 * so it cannot be forged or replayed to another request either. The receiver
 * keeps the nonces it saw for the clock window (see plugin/replay-guard.ts).
 */

export const PEER_HEADER = 'x-roamgate-peer';
export const TIMESTAMP_HEADER = 'x-roamgate-timestamp';
export const NONCE_HEADER = 'x-roamgate-nonce';
export const SIGNATURE_HEADER = 'x-roamgate-signature';

/** How far a peer's clock may be from ours, and so how long a signed request stays acceptable (ms). */
export const PEER_CLOCK_WINDOW_MS = 60_000;
/** Shortest shared secret accepted (characters): 32 random characters carry well over 128 bits. */
export const MIN_PEER_SECRET_LENGTH = 32;

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const TIMESTAMP_PATTERN = /^\d{1,15}$/;
/** Realm-like peer names: DNS labels. */
export const PEER_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface SignedRequest {
  peer: string;
  method: string;
  /** The URL path with its query, as sent. */
  path: string;
  body: string | Uint8Array;
}

export interface SignedResponse {
  peer: string;
  status: number;
  /** The nonce of the request this answers. */
  requestNonce: string;
  body: string | Uint8Array;
}

function bodyDigest(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}

/** The text a request signature covers. */
export function requestSigningText(request: SignedRequest, timestamp: string, nonce: string): string {
  return [
    'roamgate-peer-request-v1',
    request.peer,
    request.method.toUpperCase(),
    request.path,
    timestamp,
    nonce,
    bodyDigest(request.body),
  ].join('\n');
}

/** The text a response signature covers. */
export function responseSigningText(response: SignedResponse, timestamp: string): string {
  return [
    'roamgate-peer-response-v1',
    response.peer,
    String(response.status),
    timestamp,
    response.requestNonce,
    bodyDigest(response.body),
  ].join('\n');
}

/** The headers that sign a request: peer, timestamp, a fresh nonce, signature. */
export function signRequest(
  secret: string,
  request: SignedRequest,
  now: number,
  nonce: string = randomBytes(18).toString('base64url'),
): Record<string, string> {
  const timestamp = String(Math.floor(now));
  return {
    [PEER_HEADER]: request.peer,
    [TIMESTAMP_HEADER]: timestamp,
    [NONCE_HEADER]: nonce,
    [SIGNATURE_HEADER]: hmac(secret, requestSigningText(request, timestamp, nonce)),
  };
}

/** The headers that sign a response. */
export function signResponse(secret: string, response: SignedResponse, now: number): Record<string, string> {
  const timestamp = String(Math.floor(now));
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: hmac(secret, responseSigningText(response, timestamp)) };
}

export type Verdict<T> = ({ ok: true } & T) | { ok: false; reason: string };

type HeaderBag = Record<string, string | string[] | undefined>;

function single(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkTimestamp(value: string | undefined, now: number): Verdict<{ timestamp: number }> {
  if (value === undefined || !TIMESTAMP_PATTERN.test(value)) return { ok: false, reason: 'missing or malformed timestamp' };
  const timestamp = Number(value);
  if (Math.abs(now - timestamp) > PEER_CLOCK_WINDOW_MS)
    return {
      ok: false,
      reason: `timestamp is more than ${PEER_CLOCK_WINDOW_MS / 1000} s from this gateway's clock (stale, replayed, or a clock is wrong)`,
    };
  return { ok: true, timestamp };
}

/**
 * Checks a signed request: a configured peer, a well-formed fresh timestamp,
 * a well-formed nonce and a signature by that peer's secret. Whether the
 * nonce was seen before is for the caller's replay guard.
 */
export function verifyRequest(
  headers: HeaderBag,
  request: Omit<SignedRequest, 'peer'>,
  secretOf: (peer: string) => string | undefined,
  now: number,
): Verdict<{ peer: string; nonce: string; timestamp: number }> {
  const peer = single(headers, PEER_HEADER);
  if (peer === undefined || !PEER_NAME_PATTERN.test(peer)) return { ok: false, reason: 'missing or malformed peer name' };
  const secret = secretOf(peer);
  if (secret === undefined) return { ok: false, reason: `${peer} is not a configured peer of this gateway` };
  const time = checkTimestamp(single(headers, TIMESTAMP_HEADER), now);
  if (!time.ok) return time;
  const nonce = single(headers, NONCE_HEADER);
  if (nonce === undefined || !NONCE_PATTERN.test(nonce)) return { ok: false, reason: 'missing or malformed nonce' };
  const signature = single(headers, SIGNATURE_HEADER) ?? '';
  const expected = hmac(secret, requestSigningText({ ...request, peer }, single(headers, TIMESTAMP_HEADER)!, nonce));
  if (!sameSignature(expected, signature)) return { ok: false, reason: 'bad signature (wrong secret, or the request was altered)' };
  return { ok: true, peer, nonce, timestamp: time.timestamp };
}

/** Checks the signature on a peer's answer to our request with `response.requestNonce`. */
export function verifyResponse(headers: HeaderBag, response: SignedResponse, secret: string, now: number): Verdict<object> {
  const timestampText = single(headers, TIMESTAMP_HEADER);
  const time = checkTimestamp(timestampText, now);
  if (!time.ok) return time;
  const signature = single(headers, SIGNATURE_HEADER) ?? '';
  if (!sameSignature(hmac(secret, responseSigningText(response, timestampText!)), signature))
    return { ok: false, reason: 'bad signature on the answer (wrong secret, or the answer was altered)' };
  return { ok: true };
}
