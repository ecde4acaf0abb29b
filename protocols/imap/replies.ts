import type { RoamgateError } from '../../errors';
import { sanitizeReplyText } from '../reply-text';

/** The status of a tagged response (RFC 9051 section 7.1). */
export type ImapTaggedStatus = 'OK' | 'NO' | 'BAD';
/** The status of an untagged status response: the tagged ones, the greeting's PREAUTH, and BYE. */
export type ImapUntaggedStatus = ImapTaggedStatus | 'PREAUTH' | 'BYE';

/**
 * A response code (RFC 9051 section 7.1, RFC 5530): an atom, optionally
 * followed by a space and anything but `]` (`CAPABILITY IMAP4rev1 ...`).
 */
const RESPONSE_CODE = /^\[([\x21-\x5a\x5c\x5e-\x7e]+(?: [^\]\x00-\x1f\x7f]*)?)\]/;

/** The text of a status response: a response code if any, then the text, never empty (RFC 3501 text is 1*TEXT-CHAR). */
function responseText(text: string, responseCode: string | undefined, fallback: string): string {
  const clean = sanitizeReplyText(text) || fallback;
  if (responseCode) return `[${sanitizeReplyText(responseCode).replace(/\]/g, '')}] ${clean}`;
  // Text that opens with a bracketed word is read as a response code: it still needs text after it.
  const leading = RESPONSE_CODE.exec(clean);
  return leading && clean.slice(leading[0].length).trim() === '' ? `${leading[0]} ${fallback}` : clean;
}

/** A tagged status response: `a1 OK [CODE] text`. The tag is the client's own, already checked by the parser. */
export function formatImapTagged(tag: string, status: ImapTaggedStatus, text: string, responseCode?: string): string {
  return `${tag} ${status} ${responseText(text, responseCode, status === 'OK' ? 'Completed' : 'Failed')}\r\n`;
}

/** An untagged status response: `* BYE [CODE] text`. */
export function formatImapUntagged(status: ImapUntaggedStatus, text: string, responseCode?: string): string {
  return `* ${status} ${responseText(text, responseCode, status === 'BYE' ? 'Closing the connection' : 'Completed')}\r\n`;
}

/**
 * A tagged `NO` or `BAD` for a reason that may already start with its own
 * response code (a server's refusal passed on: `[AUTHENTICATIONFAILED]
 * Authentication failed.`, `[UNAVAILABLE] ...`); any other reason gets
 * `defaultCode`, so text from elsewhere never starts with a `[` a client
 * would read as a code.
 */
export function formatImapFailure(tag: string, status: 'NO' | 'BAD', reason: string, defaultCode: string): string {
  const text = sanitizeReplyText(reason);
  const code = RESPONSE_CODE.exec(text);
  if (code === null) return formatImapTagged(tag, status, text, defaultCode);
  return formatImapTagged(tag, status, text.slice(code[0].length).trim(), code[1]);
}

/**
 * A command continuation request (RFC 9051 section 7.6): `+`, a space, a
 * text or a base64 challenge. The space is part of the syntax, so this is
 * never trimmed (`+ \r\n` for an empty SASL challenge).
 */
export function formatImapContinuation(text = ''): string {
  return `+ ${sanitizeReplyText(text)}\r\n`;
}

/** The untagged CAPABILITY response: `* CAPABILITY IMAP4rev1 ...`. */
export function formatImapCapabilities(capabilities: readonly string[]): string {
  return `* CAPABILITY ${capabilities.join(' ')}\r\n`;
}

/**
 * The RFC 5530 response code for a refusal: the login was refused
 * (AUTHENTICATIONFAILED), the user may not use the service (NOPERM), or the
 * refusal is temporary and retrying may help (UNAVAILABLE).
 */
export function imapRefusalCode(error: RoamgateError): string {
  switch (error.code) {
    case 'ROAMGATE_LOGIN_REQUIRED':
    case 'ROAMGATE_LOGIN_FAILED':
      return 'AUTHENTICATIONFAILED';
    case 'ROAMGATE_ACCESS_DENIED':
    case 'ROAMGATE_DESTINATION_REFUSED':
      return 'NOPERM';
    default:
      return 'UNAVAILABLE';
  }
}

/** The IMAP answer to a refusal of the connection: an untagged `BYE` with its RFC 5530 code (RFC 9051 7.1.5: BYE may be the greeting). */
export function imapRefusal(error: RoamgateError): string {
  return formatImapUntagged('BYE', error.message, imapRefusalCode(error));
}

/** A response from a server, taken apart as far as the login towards it needs. */
export type ImapResponse =
  | { kind: 'tagged'; tag: string; status: ImapTaggedStatus; code?: ImapResponseCode; text: string }
  /** A status response (`* OK`, `* BYE`, ...), with its code. */
  | { kind: 'status'; status: ImapUntaggedStatus; code?: ImapResponseCode; text: string }
  /** Any other untagged response: its name (`CAPABILITY`, `ID`, or a number for `* 3 EXISTS`) and what follows. */
  | { kind: 'data'; name: string; rest: string }
  | { kind: 'continuation'; text: string };

/** A response code: its name upper-cased (`CAPABILITY`, `AUTHENTICATIONFAILED`) and whatever follows it inside the brackets. */
export interface ImapResponseCode {
  name: string;
  data: string;
}

const STATUSES = new Set(['OK', 'NO', 'BAD', 'PREAUTH', 'BYE']);
/** A tag as servers echo it: printable ASCII but the atom specials and `+` (RFC 9051 `tag`). */
const TAG = /^[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+$/;

/** Splits `[CODE data] text` into its code and text. */
function statusText(rest: string): { code?: ImapResponseCode; text: string } {
  const match = RESPONSE_CODE.exec(rest);
  if (match === null) return { text: rest.trim() };
  const [name, ...data] = match[1].split(' ');
  return { code: { name: name.toUpperCase(), data: data.join(' ') }, text: rest.slice(match[0].length).trim() };
}

/** Parses one line from a server (RFC 9051 section 7); null when it is none of its responses. */
export function parseImapResponse(line: string): ImapResponse | null {
  if (line === '+' || line.startsWith('+ ')) return { kind: 'continuation', text: line.slice(2) };
  const match = /^(\S+) (\S+)(?: (.*))?$/s.exec(line);
  if (match === null) return null;
  const [, tag, word, rest = ''] = match;
  const name = word.toUpperCase();
  if (tag === '*') {
    if (STATUSES.has(name)) return { kind: 'status', status: name as ImapUntaggedStatus, ...statusText(rest) };
    return { kind: 'data', name, rest };
  }
  if (!TAG.test(tag) || (name !== 'OK' && name !== 'NO' && name !== 'BAD')) return null;
  return { kind: 'tagged', tag, status: name, ...statusText(rest) };
}

/** Most capabilities read from one server response; more are ignored. */
export const MAX_IMAP_CAPABILITIES = 200;

/** A capability name: an atom (RFC 9051 `capability`), which we may pass on to a client inside `[CAPABILITY ...]`. */
const CAPABILITY = /^[\x21\x23\x24\x26\x27\x2b-\x5a\x5e-\x7a\x7c-\x7e]{1,100}$/;

/** The capability names in a CAPABILITY response or code, those that are not atoms left out. */
export function parseCapabilities(text: string): string[] {
  return text
    .split(' ')
    .filter((name) => CAPABILITY.test(name))
    .slice(0, MAX_IMAP_CAPABILITIES);
}
