import type { RoamgateError } from '../../errors';
import { sanitizeReplyText } from '../reply-text';

/** Formats an NNTP status line (RFC 3977 3.2). */
export function formatNntpReply(code: number, text: string): string {
  return `${code} ${sanitizeReplyText(text)}`.trimEnd() + '\r\n';
}

/** The NNTP answer to a refusal: 502 when permanently refused, 400 when the service is unavailable. */
export function nntpRefusal(error: RoamgateError): string {
  switch (error.code) {
    case 'ROAMGATE_ACCESS_DENIED':
    case 'ROAMGATE_LOGIN_REQUIRED':
    case 'ROAMGATE_LOGIN_FAILED':
    case 'ROAMGATE_DESTINATION_REFUSED':
      return formatNntpReply(502, error.message);
    default:
      return formatNntpReply(400, error.message);
  }
}

/** An NNTP status line taken apart (RFC 3977 3.2): the three-digit code and the text after it. */
export interface NntpReply {
  code: number;
  text: string;
}

/** Parses a status line such as `281 Authentication accepted`; null when the line is not one. */
export function parseNntpReply(line: string): NntpReply | null {
  const match = /^([1-5][0-9]{2})(?:[ \t]+(.*))?$/s.exec(line);
  return match ? { code: Number(match[1]), text: match[2] ?? '' } : null;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns text read off the wire (a LineReader decodes bytes as latin1, one
 * character per byte) into the UTF-8 text NNTP means (RFC 3977 3.1). Bytes
 * that are not valid UTF-8 are kept as latin1 characters, so nothing is lost
 * to replacement characters. Text that already holds characters above U+00FF
 * was decoded by someone else and is returned as it is.
 */
export function decodeNntpText(text: string): string {
  if (!/[\x80-\xff]/.test(text) || /[^\x00-\xff]/.test(text)) return text;
  try {
    return UTF8.decode(Buffer.from(text, 'latin1'));
  } catch {
    return text;
  }
}
