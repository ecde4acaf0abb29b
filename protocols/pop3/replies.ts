import type { RoamgateError } from '../../errors';
import { sanitizeReplyText } from '../reply-text';

/** Formats a POP3 status line (RFC 1939), optionally with an RFC 2449/3206 response code. */
export function formatPop3Reply(ok: boolean, text: string, responseCode?: string): string {
  const code = responseCode ? `[${responseCode}] ` : '';
  return `${ok ? '+OK' : '-ERR'} ${code}${sanitizeReplyText(text)}`.trimEnd() + '\r\n';
}

/** The POP3 answer to a refusal: `-ERR` with an RFC 3206 code saying whether retrying may help. */
export function pop3Refusal(error: RoamgateError): string {
  switch (error.code) {
    case 'ROAMGATE_ACCESS_DENIED':
    case 'ROAMGATE_LOGIN_REQUIRED':
    case 'ROAMGATE_LOGIN_FAILED':
    case 'ROAMGATE_DESTINATION_REFUSED':
      return formatPop3Reply(false, error.message, 'SYS/PERM');
    default:
      return formatPop3Reply(false, error.message, 'SYS/TEMP');
  }
}

/** One level of an RFC 2449 response code: printable ASCII other than `/` and `]`. */
const RESPONSE_LEVEL = '[\\x21-\\x2e\\x30-\\x5c\\x5e-\\x7e]+';
/**
 * An RFC 2449 response code at the start of a reply text: `[` resp-level
 * *(`/` resp-level) `]`, taken even when a careless server glues text to it.
 */
const LEADING_RESPONSE_CODE = new RegExp(`^\\[(${RESPONSE_LEVEL}(?:/${RESPONSE_LEVEL})*)\\]`);

/**
 * A `-ERR` line for a reason that may already start with its own RFC 3206
 * response code (a server's refusal passed on: `[AUTH] Authentication
 * failed.`, `[IN-USE] Mailbox locked`); any other reason gets `defaultCode`.
 */
export function formatPop3Failure(reason: string, defaultCode: string): string {
  const text = sanitizeReplyText(reason);
  return LEADING_RESPONSE_CODE.test(text) ? formatPop3Reply(false, text) : formatPop3Reply(false, text, defaultCode);
}

/**
 * A multi-line POP3 reply (RFC 1939 section 3): a `+OK` status line, the body
 * lines dot-stuffed, and the terminating `.` line.
 */
export function formatPop3MultiLine(text: string, lines: readonly string[]): string {
  const body = lines.map((line) => {
    const clean = sanitizeReplyText(line);
    return (clean.startsWith('.') ? `.${clean}` : clean) + '\r\n';
  });
  return formatPop3Reply(true, text) + body.join('') + '.\r\n';
}

/**
 * A SASL continuation (RFC 5034 section 4): `+`, a space, an optional base64
 * challenge. The space is part of the syntax (curl waits for `+ `), so this is
 * never trimmed.
 */
export function formatPop3Continuation(challenge = ''): string {
  return `+ ${challenge.replace(/[^A-Za-z0-9+/=]/g, '')}\r\n`;
}

/** A POP3 status line, parsed. */
export interface Pop3Status {
  ok: boolean;
  /** Everything after `+OK ` / `-ERR `, response code included: what a client would be shown. */
  text: string;
  /** The RFC 2449 response code without brackets, upper-cased (`AUTH`, `SYS/TEMP`), when the text starts with one. */
  responseCode?: string;
}

/** Parses a `+OK` / `-ERR` status line (RFC 1939 section 3); null for anything else (a continuation, a data line). */
export function parsePop3Status(line: string): Pop3Status | null {
  const match = /^(\+OK|-ERR)(?:\s(.*))?$/s.exec(line);
  if (!match) return null;
  const text = (match[2] ?? '').trim();
  const code = LEADING_RESPONSE_CODE.exec(text);
  return code ? { ok: match[1] === '+OK', text, responseCode: code[1].toUpperCase() } : { ok: match[1] === '+OK', text };
}
