/** Longest reason text put on the wire; longer reasons are cut. */
export const MAX_REPLY_TEXT_LENGTH = 400;

/**
 * Makes a reason safe for a single protocol line: no CR, LF or other control
 * characters (which would let a reason inject a second reply), bounded length.
 */
export function sanitizeReplyText(text: string): string {
  const clean = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  if (clean.length <= MAX_REPLY_TEXT_LENGTH) return clean;
  let cut = clean.slice(0, MAX_REPLY_TEXT_LENGTH - 3);
  // Never cut through a surrogate pair.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return cut + '...';
}
