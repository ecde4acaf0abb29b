/** Longest Proxy-Authorization value considered (characters). */
export const MAX_PROXY_AUTHORIZATION_LENGTH = 4096;

/**
 * Parses `Proxy-Authorization: Basic <base64(user:password)>` (RFC 7617).
 * The user name ends at the first colon; the password may contain colons.
 * Null for anything else (another scheme, bad base64, no colon, empty name).
 */
export function parseBasicCredentials(header: string | undefined): { username: string; password: string } | null {
  if (!header || header.length > MAX_PROXY_AUTHORIZATION_LENGTH) return null;
  const match = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!match || match[1].length % 4 !== 0) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  if (decoded.includes('\uFFFD')) return null;
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The challenge a proxy sends with 407 (RFC 9110 11.7.1). */
export const PROXY_CHALLENGE = 'Basic realm="roamgate", charset="UTF-8"';
