const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Lines arrive as latin1 (one character per byte, as LineReader gives them);
 * credentials are the UTF-8 text those bytes spell. Null when they do not
 * spell any, or hold characters no login command at the server could carry.
 */
export function credentialText(wire: string): string | null {
  if (/[^\x00-\xff]/.test(wire)) return null;
  let text: string;
  try {
    text = STRICT_UTF8.decode(Buffer.from(wire, 'latin1'));
  } catch {
    return null;
  }
  return carriable(text) ? text : null;
}

/** A user name or password a line protocol can carry: not empty, and no CR, LF or NUL to end or corrupt the line (or inject a command). */
export function carriable(text: string): boolean {
  return text.length > 0 && !/[\r\n\0]/.test(text);
}
