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
    case 'ROAMGATE_DESTINATION_REFUSED':
      return formatPop3Reply(false, error.message, 'SYS/PERM');
    default:
      return formatPop3Reply(false, error.message, 'SYS/TEMP');
  }
}
