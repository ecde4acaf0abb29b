/** SASL helpers shared by SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034). */

/** Longest base64 SASL response accepted (characters). */
export const MAX_SASL_RESPONSE_LENGTH = 4096;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes strict base64 (RFC 4648, padded, no whitespace) to UTF-8 text; null when it is not. */
export function decodeBase64(text: string): string | null {
  if (text.length > MAX_SASL_RESPONSE_LENGTH || !BASE64.test(text)) return null;
  const decoded = Buffer.from(text, 'base64').toString('utf8');
  return decoded.includes('\uFFFD') ? null : decoded;
}

export function encodeBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * Parses a SASL PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`,
 * base64-encoded. An authorization identity other than empty or the
 * authentication identity is refused (no acting as someone else). Null when
 * malformed.
 */
export function parsePlain(base64: string): { username: string; password: string } | null {
  const decoded = decodeBase64(base64);
  if (decoded === null) return null;
  const parts = decoded.split('\u0000');
  if (parts.length !== 3) return null;
  const [authzid, username, password] = parts;
  if (!username || !password || (authzid !== '' && authzid !== username)) return null;
  return { username, password };
}

/** A SASL PLAIN message for the given credentials, base64-encoded. */
export function encodePlain(username: string, password: string): string {
  return encodeBase64(`\u0000${username}\u0000${password}`);
}
