/**
 * What well-formed output of the line protocols' dialogues looks like on the wire: CRLF-framed lines with no
 * control character inside (so no text from a client or a server can end a reply early or inject another),
 * each reply made of status lines in its protocol's syntax, multi-line bodies closed by a lone `.`; commands
 * to a server one line each; credentials that the next hop can carry.
 */
import type { Credentials } from '../../protocols/dialogue';
import { parseImapResponse } from '../../protocols/imap/replies';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { ensure } from './fuzz-harness';

/** A character that has no place inside a reply line: C0 controls (CR and LF among them) and DEL. */
const CONTROL = /[\x00-\x1f\x7f]/;

/** The lines of `data`, which must be CRLF-terminated lines without a control character inside. */
export function crlfLines(data: string): string[] {
  ensure(typeof data === 'string' && data.endsWith('\r\n'), () => `not CRLF-terminated: ${JSON.stringify(data.slice(-80))}`);
  const lines = data.slice(0, -2).split('\r\n');
  for (const line of lines) ensure(!CONTROL.test(line), () => `a control character inside a line: ${JSON.stringify(line.slice(0, 200))}`);
  return lines;
}

/** Checks the body of a multi-line reply from `start` on; returns the index past its terminating `.`. */
function multiLineBody(lines: readonly string[], start: number): number {
  for (let i = start; i < lines.length; i++) {
    if (lines[i] === '.') return i + 1;
    ensure(!lines[i].startsWith('.') || lines[i].startsWith('..'), () => `a body line not dot-stuffed: ${JSON.stringify(lines[i])}`);
  }
  throw new Error('not well-formed: a multi-line reply without its terminating "."');
}

/** How one protocol's replies to a client, commands to a server and credentials must look. */
export interface WireRules {
  /** Checks bytes written to the client; `''` is allowed where the dialogue closes without a word. */
  reply(data: string, mayBeEmpty: boolean): void;
  /** Checks credentials the client dialogue hands over. */
  credentials(credentials: Credentials): void;
  /** Commands the server dialogue may send before TLS when TLS is asked for: nothing that carries a credential. */
  beforeTls: RegExp;
}

const SMTP_LINE = /^([2-5][0-9]{2})(?:([ -]).*)?$/s;

export const SMTP_RULES: WireRules = {
  reply(data, mayBeEmpty) {
    if (mayBeEmpty && data === '') return;
    const lines = crlfLines(data);
    lines.forEach((line, i) => {
      const match = SMTP_LINE.exec(line);
      ensure(match, () => `not an SMTP reply line: ${JSON.stringify(line)}`);
      // A continuation line (`250-`) is followed by another line of the same code.
      if (match[2] === '-')
        ensure(lines[i + 1]?.startsWith(match[1]), () => `an SMTP reply ends on a continuation line: ${JSON.stringify(data)}`);
    });
  },
  credentials({ username, password }) {
    ensure(username !== '' && password !== '', 'empty credentials');
    ensure(!username.includes('\0') && !password.includes('\0'), 'a NUL in the credentials (they go on in AUTH PLAIN)');
  },
  beforeTls: /^(?:EHLO [\x21-\x7e]+|STARTTLS)$/,
};

const POP3_STATUS = /^(?:\+OK|-ERR)(?: .*)?$/s;

export const POP3_RULES: WireRules = {
  reply(data, mayBeEmpty) {
    if (mayBeEmpty && data === '') return;
    const lines = crlfLines(data);
    if (/^\+ [A-Za-z0-9+/=]*$/.test(lines[0]) && lines.length === 1) return; // a SASL continuation
    ensure(POP3_STATUS.test(lines[0]), () => `not a POP3 status line: ${JSON.stringify(lines[0])}`);
    if (lines.length === 1) return;
    ensure(lines[0].startsWith('+OK'), () => `lines after a -ERR: ${JSON.stringify(data)}`);
    ensure(multiLineBody(lines, 1) === lines.length, () => `lines after a multi-line reply: ${JSON.stringify(data)}`);
  },
  credentials({ username, password }) {
    ensure(username !== '' && password !== '', 'empty credentials');
    ensure(!/[\r\n\0]/.test(username + password), 'CR, LF or NUL in credentials that go on as USER/PASS lines');
  },
  beforeTls: /^(?:CAPA|STLS)$/,
};

const NNTP_STATUS = /^([1-5][0-9]{2})(?: .*)?$/s;
/** The multi-line replies the client dialogue gives (RFC 3977: HELP, CAPABILITIES). */
const NNTP_MULTI_LINE = new Set(['100', '101']);

export const NNTP_RULES: WireRules = {
  reply(data, mayBeEmpty) {
    if (mayBeEmpty && data === '') return;
    const lines = crlfLines(data);
    for (let i = 0; i < lines.length; ) {
      const match = NNTP_STATUS.exec(lines[i]);
      ensure(match, () => `not an NNTP status line: ${JSON.stringify(lines[i])}`);
      i = NNTP_MULTI_LINE.has(match[1]) ? multiLineBody(lines, i + 1) : i + 1;
    }
  },
  credentials({ username, password }) {
    ensure(username !== '' && password !== '', 'empty credentials');
    ensure(!/[\r\n\0]/.test(username + password), 'CR, LF or NUL in credentials that go on as AUTHINFO lines');
  },
  beforeTls: /^STARTTLS$/,
};

export const IMAP_RULES: WireRules = {
  reply(data, mayBeEmpty) {
    if (mayBeEmpty && data === '') return;
    for (const line of crlfLines(data)) {
      const response = parseImapResponse(line);
      ensure(response !== null, () => `not an IMAP response line: ${JSON.stringify(line)}`);
      // What the adapter says itself has text after every status (RFC 3501 resp-text is never empty).
      if (response.kind === 'tagged' || response.kind === 'status')
        ensure(response.text !== '', () => `a status without text: ${JSON.stringify(line)}`);
    }
  },
  credentials({ username, password }) {
    ensure(username !== '' && password !== '', 'empty credentials');
    ensure(!/[\r\n\0]/.test(username + password), 'CR, LF or NUL in credentials that go on in LOGIN or AUTHENTICATE');
  },
  beforeTls: /^rg\d+ (?:CAPABILITY|STARTTLS)$/,
};

/** A command to a server: exactly one line. */
export function checkCommand(data: string): string {
  const lines = crlfLines(data);
  ensure(lines.length === 1, () => `more than one line in one command: ${JSON.stringify(data)}`);
  return lines[0];
}

/**
 * A reason a dialogue gives for a failure, which ends up in a reply line: no control character, and bounded
 * (a server's text in it is cut to MAX_REPLY_TEXT_LENGTH; the dialogue's own words around it are few).
 */
export function checkReason(reason: string): void {
  ensure(typeof reason === 'string' && !CONTROL.test(reason), () => `a control character in a reason: ${JSON.stringify(reason)}`);
  ensure(reason.length <= 2 * MAX_REPLY_TEXT_LENGTH, () => `a reason of ${reason.length} characters`);
}
