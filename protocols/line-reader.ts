/** Default longest line (bytes, without CRLF) a line reader accepts. RFC 5321 allows 512 for commands. */
export const DEFAULT_MAX_LINE_LENGTH = 2048;

export type LineEvent = { kind: 'line'; line: string } | { kind: 'too-long' };

/** What every reader holds when no partial line is pending (never written to: a zero-length buffer has no bytes to write). */
const NOTHING = Buffer.alloc(0);

/**
 * Splits a byte stream into CRLF- (or bare LF-) terminated lines with a hard
 * length limit, so a peer cannot grow our buffer without bound. Pure: feed it
 * chunks, get lines back.
 */
export class LineReader {
  private pending: Buffer = NOTHING;
  private overflowed = false;

  constructor(readonly maxLineLength: number = DEFAULT_MAX_LINE_LENGTH) {}

  /** Bytes buffered and not yet returned as a line. Never exceeds maxLineLength + 1. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Feeds a chunk; returns the complete lines it finished (without the line ending). */
  push(chunk: Buffer): LineEvent[] {
    const events: LineEvent[] = [];
    if (this.overflowed) return events;
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const newline = data.indexOf(0x0a);
      if (newline === -1) break;
      const end = newline > 0 && data[newline - 1] === 0x0d ? newline - 1 : newline;
      if (end > this.maxLineLength) return this.overflow(events);
      events.push({ kind: 'line', line: data.subarray(0, end).toString('latin1') });
      data = data.subarray(newline + 1);
    }
    // A trailing CR may be the first half of CRLF, so allow one byte more.
    if (data.length > this.maxLineLength + 1) return this.overflow(events);
    // A copy, so a partial line does not keep the whole chunk it came in alive.
    this.pending = data.length > 0 ? Buffer.from(data) : NOTHING;
    return events;
  }

  /** Hands over the bytes of an unfinished line (when the stream stops being read as lines) and empties the buffer. */
  takeRemainder(): Buffer {
    const rest = this.pending;
    this.pending = NOTHING;
    return rest;
  }

  private overflow(events: LineEvent[]): LineEvent[] {
    this.overflowed = true;
    this.pending = NOTHING;
    events.push({ kind: 'too-long' });
    return events;
  }
}
