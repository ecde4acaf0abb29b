import type { RoamgateError } from '../../errors';
import { sanitizeReplyText } from '../reply-text';

/**
 * Formats an SMTP reply (RFC 5321 4.2), multi-line when `lines` has several entries:
 * `250-first`, ..., `250 last`. An enhanced status code (RFC 3463) prefixes each line.
 */
export function formatSmtpReply(code: number, lines: string | string[], enhanced?: string): string {
  const texts = (Array.isArray(lines) ? lines : [lines]).map(sanitizeReplyText);
  if (texts.length === 0) texts.push('');
  const prefix = enhanced ? `${enhanced} ` : '';
  return texts.map((text, i) => `${code}${i === texts.length - 1 ? ' ' : '-'}${prefix}${text}`.trimEnd() + '\r\n').join('');
}

/** The SMTP answer to a refusal: the one place SMTP turns error codes into wire replies. */
export function smtpRefusal(error: RoamgateError): string {
  switch (error.code) {
    case 'ROAMGATE_ACCESS_DENIED':
    case 'ROAMGATE_LOGIN_REQUIRED':
    case 'ROAMGATE_LOGIN_FAILED':
    case 'ROAMGATE_DESTINATION_REFUSED':
      return formatSmtpReply(554, error.message, '5.7.1');
    case 'ROAMGATE_TOO_MANY_CLIENTS':
      return formatSmtpReply(421, error.message, '4.3.2');
    case 'ROAMGATE_IDLE_TIMEOUT':
      return formatSmtpReply(421, error.message, '4.4.2');
    default:
      return formatSmtpReply(421, error.message, '4.3.0');
  }
}
