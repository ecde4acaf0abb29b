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
    case 'ROAMGATE_DESTINATION_REFUSED':
      return formatNntpReply(502, error.message);
    default:
      return formatNntpReply(400, error.message);
  }
}
