/** The end of an HTTP head in `buffer`: the index just past the blank line, or -1. */
export function findHeadEnd(buffer: Buffer): number {
  // The first empty line ends the head, whether its line ends are CRLF or bare LF.
  for (let newline = buffer.indexOf(0x0a); newline !== -1; newline = buffer.indexOf(0x0a, newline + 1)) {
    if (buffer[newline + 1] === 0x0a) return newline + 2;
    if (buffer[newline + 1] === 0x0d && buffer[newline + 2] === 0x0a) return newline + 3;
  }
  return -1;
}

/** Parses an HTTP/1.x status line (`HTTP/1.1 200 Connection established`), or null. */
export function parseStatusLine(line: string): { status: number; reason: string } | null {
  const match = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: (.*))?$/.exec(line.replace(/\r$/, ''));
  return match ? { status: Number(match[1]), reason: match[2] ?? '' } : null;
}

/** Hop-by-hop headers (RFC 9110 7.6.1) that a proxy must not forward, plus those named in Connection. */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Removes hop-by-hop headers from a raw header list (`[name, value, name, value, ...]`). */
export function endToEndHeaders(rawHeaders: readonly string[]): [string, string][] {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === 'connection')
      for (const token of rawHeaders[i + 1].split(',')) named.add(token.trim().toLowerCase());
  }
  const kept: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) kept.push([rawHeaders[i], rawHeaders[i + 1]]);
  }
  return kept;
}
