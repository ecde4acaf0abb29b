/** Longest return path accepted after a login (characters). */
export const MAX_RETURN_PATH_LENGTH = 2048;

/**
 * A place to go back to after logging in, only if it stays on this host: a
 * path starting with one `/` (not `//` or `/\`, which browsers read as
 * another host), printable ASCII, at most MAX_RETURN_PATH_LENGTH characters.
 * Anything else is dropped, never followed.
 */
export function safeReturnPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_PATH_LENGTH) return undefined;
  if (!/^\/(?![/\\])[\x21-\x7e]*$/.test(value) || value.includes('\\')) return undefined;
  return value;
}
