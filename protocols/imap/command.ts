/**
 * Reading IMAP commands from a client before login (RFC 9051 section 9):
 * the tag and command name of a command line, the literals announced at the
 * end of its lines (`{n}`, and `{n+}` from RFC 7888), and the arguments once
 * the command is whole. Lines come as a LineReader gives them: latin1, one
 * character per byte, without their CRLF.
 */

/** Longest tag accepted (characters). RFC 9051 sets none; every client uses a few. */
export const MAX_IMAP_TAG_LENGTH = 64;
/** Longest command name (`AUTHENTICATE` is 12). */
const MAX_COMMAND_NAME_LENGTH = 32;

/** RFC 9051 `tag`: ASTRING-CHARs but `+`, here only printable ASCII, so a tag can be written back as it is. */
const TAG = /^[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+$/;
/**
 * RFC 9051 ASTRING-CHAR: any CHAR but the atom specials (`(){ %*"\` and
 * controls), `]` allowed. Bytes above 0x7f are taken too: clients send UTF-8
 * user names as atoms, and the credentials are checked as UTF-8 anyway.
 */
const ASTRING_CHAR = /[^\x00-\x20\x7f(){%*"\\]/;
const ATOM_CHAR = /[^\x00-\x20\x7f(){%*"\\\]]/;
/** A literal announced at the end of a line: `{n}` (synchronizing) or `{n+}` (RFC 7888). Ten digits at most, no sign. */
const LITERAL_MARKER = /\{([0-9]{1,10})(\+)?\}$/;

/** The first line of a command taken apart: `tag SP name [rest]`, `rest` starting with the space before the first argument. */
export type CommandStart = { ok: true; tag: string; name: string; rest: string } | { ok: false; tag?: string; reason: string };

/** Parses the tag and the command name of a command line; the name upper-cased. */
export function parseCommandStart(line: string): CommandStart {
  const space = line.indexOf(' ');
  const tag = space === -1 ? line : line.slice(0, space);
  if (tag === '') return { ok: false, reason: 'Empty command line' };
  if (tag.length > MAX_IMAP_TAG_LENGTH || !TAG.test(tag)) return { ok: false, reason: 'Invalid tag' };
  if (space === -1) return { ok: false, tag, reason: 'Missing command' };
  const after = line.slice(space + 1);
  const nameEnd = after.indexOf(' ');
  const name = nameEnd === -1 ? after : after.slice(0, nameEnd);
  // Only ASCII letters: toUpperCase would make 'ſtarttls' into 'STARTTLS'.
  if (!/^[A-Za-z]+$/.test(name) || name.length > MAX_COMMAND_NAME_LENGTH) return { ok: false, tag, reason: 'Invalid command name' };
  return { ok: true, tag, name: name.toUpperCase(), rest: nameEnd === -1 ? '' : after.slice(nameEnd) };
}

/** A literal a client announced. */
export interface LiteralAnnouncement {
  /** Bytes that follow the line's CRLF. */
  length: number;
  /** `{n}`: the client waits for our `+` before it sends them; `{n+}`: it does not. */
  synchronizing: boolean;
}

/** The literal announced at the end of `text`, if any. */
export function literalAt(text: string): LiteralAnnouncement | null {
  const match = LITERAL_MARKER.exec(text);
  return match ? { length: Number(match[1]), synchronizing: match[2] === undefined } : null;
}

/**
 * The arguments of a whole command: `parts` alternates text and literal
 * data (text, literal, text, ...), each text but the last ending with the
 * marker of the literal after it. Every reader returns null on a syntax
 * error and leaves the position undefined.
 */
export class ArgumentScanner {
  private part = 0;
  private position = 0;

  constructor(private readonly parts: readonly string[]) {}

  private get text(): string {
    return this.parts[this.part];
  }

  /** Nothing left: the last text part is read to its end. */
  atEnd(): boolean {
    return this.part === this.parts.length - 1 && this.position === this.text.length;
  }

  /** One space, which RFC 9051 puts between arguments. */
  space(): boolean {
    if (this.text[this.position] !== ' ') return false;
    this.position += 1;
    return true;
  }

  /** An atom (RFC 9051 `atom`): a mechanism name, a SASL initial response, NIL. */
  atom(): string | null {
    return this.run(ATOM_CHAR);
  }

  /** An astring: an atom (with `]`), a quoted string or a literal. */
  astring(): string | null {
    return this.string() ?? this.run(ASTRING_CHAR);
  }

  /** A quoted string or a literal; null for anything else. */
  string(): string | null {
    const next = this.text[this.position];
    if (next === '"') return this.quoted();
    if (next === '{') return this.literal();
    return null;
  }

  /**
   * RFC 2971 `id-params-list`: NIL, or a parenthesized list of strings and
   * NILs. Only checked, not kept: the adapter answers ID with NIL.
   */
  idParameters(): boolean {
    if (this.atom()?.toUpperCase() === 'NIL') return true;
    if (this.text[this.position] !== '(') return false;
    this.position += 1;
    for (let first = true; this.text[this.position] !== ')'; first = false) {
      if (!first && !this.space()) return false;
      if (this.string() === null && this.atom()?.toUpperCase() !== 'NIL') return false;
    }
    this.position += 1;
    return true;
  }

  private run(allowed: RegExp): string | null {
    const start = this.position;
    while (this.position < this.text.length && allowed.test(this.text[this.position])) this.position += 1;
    return this.position > start ? this.text.slice(start, this.position) : null;
  }

  /** RFC 9051 `quoted`: `"`, characters with `\` escaping only `"` and `\`, `"`. */
  private quoted(): string | null {
    let value = '';
    for (let at = this.position + 1; at < this.text.length; at++) {
      const char = this.text[at];
      if (char === '"') {
        this.position = at + 1;
        return value;
      }
      if (char === '\\') {
        const escaped = this.text[at + 1];
        if (escaped !== '"' && escaped !== '\\') return null;
        value += escaped;
        at += 1;
      } else if (char === '\0') return null;
      else value += char;
    }
    return null;
  }

  /** A literal: its marker ends this text part, its data is the next part. */
  private literal(): string | null {
    const marker = /^\{([0-9]{1,10})\+?\}$/.exec(this.text.slice(this.position));
    if (marker === null || this.part + 2 >= this.parts.length) return null;
    const data = this.parts[this.part + 1];
    if (data.length !== Number(marker[1])) return null;
    this.part += 2;
    this.position = 0;
    return data;
  }
}
