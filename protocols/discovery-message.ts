import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

/**
 * Authenticated gateway discovery on a LAN. Unlike WPAD, an answer is signed
 * by the gateway's Ed25519 key, and a local proxy accepts only a key it was
 * configured with or pinned for that network on first use.
 *
 * Query (UDP broadcast):  {"roamgate":"discover","version":1,"nonce":"<base64>"}
 * Answer (UDP unicast):   {"roamgate":"gateway","version":1,"name","url","nonce","issuedAt","publicKey","signature"}
 * The signature covers the canonical JSON of [name, url, nonce, issuedAt]; the
 * nonce ties an answer to one query (no replay); issuedAt bounds its age.
 * For mDNS/DNS-SD, where there is no query nonce, the nonce is "" and only
 * issuedAt bounds freshness.
 */

/** UDP port gateways listen on for discovery queries. */
export const DEFAULT_DISCOVERY_PORT = 41917;
/** DNS-SD service type. */
export const DNS_SD_TYPE = 'roamgate';
/** How far an answer's issuedAt may be from the receiver's clock (ms). */
export const MAX_ANSWER_SKEW_MS = 5 * 60_000;
/** Largest discovery datagram accepted (bytes). */
export const MAX_DISCOVERY_MESSAGE_BYTES = 2048;

export interface DiscoveryQuery {
  roamgate: 'discover';
  version: 1;
  nonce: string;
}

export interface DiscoveryAnswer {
  roamgate: 'gateway';
  version: 1;
  /** The network's name, the key under which a local proxy pins the gateway's public key. */
  name: string;
  /** The gateway's management URL (its mount), e.g. `http://10.0.0.1:8080/roamgate`. */
  url: string;
  nonce: string;
  issuedAt: number;
  /** Ed25519 public key, SPKI DER, base64. */
  publicKey: string;
  signature: string;
}

export function newQuery(): DiscoveryQuery {
  return { roamgate: 'discover', version: 1, nonce: randomBytes(16).toString('base64') };
}

/** A new gateway key pair (Ed25519), as PEM. */
export function generateGatewayKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** The base64 SPKI public key of a PEM private key. */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** What signatures are over starts with this, so a gateway key's signature can never be taken for another kind of statement. */
const SIGNATURE_CONTEXT = 'roamgate-discovery-v1';

function signedBytes(answer: Pick<DiscoveryAnswer, 'name' | 'url' | 'nonce' | 'issuedAt'>): Buffer {
  return Buffer.from(JSON.stringify([SIGNATURE_CONTEXT, answer.name, answer.url, answer.nonce, answer.issuedAt]), 'utf8');
}

/** Signs an answer to a query (or, with nonce "", an mDNS announcement). */
export function signAnswer(privateKeyPem: string, fields: { name: string; url: string; nonce: string; issuedAt: number }): DiscoveryAnswer {
  const key: KeyObject = createPrivateKey(privateKeyPem);
  return {
    roamgate: 'gateway',
    version: 1,
    ...fields,
    publicKey: createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64'),
    signature: sign(null, signedBytes(fields), key).toString('base64'),
  };
}

/** Parses a datagram as a query; null when it is not one. */
export function parseQuery(data: Buffer): DiscoveryQuery | null {
  const value = parseJson(data);
  if (
    value?.roamgate !== 'discover' ||
    value.version !== 1 ||
    typeof value.nonce !== 'string' ||
    !/^[A-Za-z0-9+/]{22}==$/.test(value.nonce)
  )
    return null;
  return { roamgate: 'discover', version: 1, nonce: value.nonce };
}

/** Parses a datagram as an answer (shape only; see verifyAnswer); null when it is not one. */
export function parseAnswer(data: Buffer): DiscoveryAnswer | null {
  const value = parseJson(data);
  if (value?.roamgate !== 'gateway' || value.version !== 1) return null;
  return answerFromFields(value);
}

/**
 * What a network's name may be: 1-63 characters (one DNS-SD instance label)
 * with no dot, control or format character, so that printing it cannot move
 * the cursor, recolour the terminal or fake another line.
 */
export const NETWORK_NAME = /^[^.\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,63}$/u;

/**
 * An answer from its fields, checked as parseAnswer checks a datagram's
 * (shape only; see verifyAnswer); null when one is missing or out of bounds.
 * mDNS browsers use it to rebuild an answer from an instance name and TXT record.
 */
export function answerFromFields(value: Record<string, unknown>): DiscoveryAnswer | null {
  const { name, url, nonce, issuedAt, publicKey, signature } = value;
  // A network's name is printed to the user and named in commands: no control, format (bidi) or dot characters.
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) return null;
  if (typeof url !== 'string' || !/^https?:\/\/[^\s]{1,500}$/.test(url) || /\p{Cc}/u.test(url) || !URL.canParse(url)) return null;
  if (
    typeof nonce !== 'string' ||
    nonce.length > 64 ||
    typeof publicKey !== 'string' ||
    publicKey.length > 200 ||
    typeof signature !== 'string' ||
    signature.length > 200
  )
    return null;
  if (typeof issuedAt !== 'number' || !Number.isSafeInteger(issuedAt)) return null;
  return { roamgate: 'gateway', version: 1, name, url, nonce, issuedAt, publicKey, signature };
}

export type AnswerVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Checks an answer: the signature is the public key's, over these fields; the
 * nonce is ours; it is fresh. Whether the key is the right one for this
 * network is the caller's pinning decision (trustedKey).
 */
export function verifyAnswer(answer: DiscoveryAnswer, expected: { nonce: string; now: number; trustedKey?: string }): AnswerVerdict {
  if (answer.nonce !== expected.nonce) return { ok: false, reason: 'answer is not for our query (nonce)' };
  // Written so that a NaN anywhere fails the check rather than passing it.
  if (!(Math.abs(answer.issuedAt - expected.now) <= MAX_ANSWER_SKEW_MS)) return { ok: false, reason: 'answer is stale or from the future' };
  let valid = false;
  try {
    const keyBytes = canonicalBase64(answer.publicKey);
    const signature = canonicalBase64(answer.signature);
    if (keyBytes && signature) {
      const key = createPublicKey({ key: keyBytes, format: 'der', type: 'spki' });
      // One spelling per key: pinning compares keys as text, so trailing DER bytes or stray base64 characters are refused.
      const exact = key.export({ type: 'spki', format: 'der' }).equals(keyBytes);
      valid = exact && key.asymmetricKeyType === 'ed25519' && verify(null, signedBytes(answer), key, signature);
    }
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'signature does not verify' };
  if (expected.trustedKey !== undefined && expected.trustedKey !== answer.publicKey)
    return { ok: false, reason: `the key of network ${JSON.stringify(answer.name)} changed` };
  return { ok: true };
}

/** The bytes of `text` when it is base64 in its one canonical spelling (what Node writes); null otherwise. */
function canonicalBase64(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

function parseJson(data: Buffer): Record<string, unknown> | null {
  if (data.length > MAX_DISCOVERY_MESSAGE_BYTES) return null;
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
