import { type LiteralAnnouncement, literalAt } from './command';

/** Where a command being assembled stands after a line. */
export type Assembly =
  /** The command is whole: text and literal data alternating (see ArgumentScanner). */
  | { kind: 'complete'; parts: string[] }
  /** The text ends with a literal: the dialogue accepts it (`accept()`, and `+ ` for a synchronizing one) or refuses the command. */
  | { kind: 'literal'; literal: LiteralAnnouncement }
  /** Inside a literal: more lines needed. */
  | { kind: 'reading' }
  /** The command with this literal would pass the byte limit. */
  | { kind: 'too-big'; literal: LiteralAnnouncement };

/**
 * Puts one client command together from its lines and literals, as a
 * LineReader splits them: a literal's bytes are the start of the lines that
 * follow the one announcing it. A literal that holds a line break is taken
 * back with CRLF in it (IMAP ends lines with CRLF); credentials never hold
 * one, so such a literal is only ever read past, never used. The whole
 * command, literals included, is bounded by `maxBytes`.
 */
export class CommandAssembler {
  private parts: string[] = [];
  private bytes = 0;
  /** Bytes of the current literal still to come; -1 when not inside one. */
  private remaining = -1;
  /** The literal just ended with a line: the command's text goes on at the next line. */
  private textNext = false;

  constructor(private readonly maxBytes: number) {}

  /** Bytes held: the command's lines and literals so far. Never more than maxBytes plus one line. */
  get held(): number {
    return this.bytes;
  }

  /** A new command: `text` is its first line after the tag and name. */
  start(text: string): Assembly {
    this.parts = [];
    this.bytes = 0;
    this.remaining = -1;
    this.textNext = false;
    return this.text(text);
  }

  /** Takes the literal the last Assembly announced: its bytes are read from the next lines. */
  accept(literal: LiteralAnnouncement): void {
    this.parts.push('');
    this.bytes += literal.length;
    this.remaining = literal.length;
  }

  /** A line after a literal was accepted. */
  feed(line: string): Assembly {
    if (this.textNext) {
      this.textNext = false;
      return this.text(line);
    }
    const last = this.parts.length - 1;
    if (line.length >= this.remaining) {
      this.parts[last] += line.slice(0, this.remaining);
      const rest = line.slice(this.remaining);
      this.remaining = -1;
      return this.text(rest);
    }
    if (line.length + 2 <= this.remaining) {
      this.parts[last] += `${line}\r\n`;
      this.remaining -= line.length + 2;
      if (this.remaining === 0) {
        this.remaining = -1;
        this.textNext = true;
      }
      return { kind: 'reading' };
    }
    // The literal ends between the CR and the LF: the text after it is empty.
    this.parts[last] += `${line}\r`;
    this.remaining = -1;
    return this.text('');
  }

  private text(text: string): Assembly {
    this.parts.push(text);
    this.bytes += text.length + 2;
    const literal = literalAt(text);
    if (literal === null) return { kind: 'complete', parts: this.parts };
    if (this.bytes + literal.length > this.maxBytes) return { kind: 'too-big', literal };
    return { kind: 'literal', literal };
  }
}
