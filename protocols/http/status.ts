import type { RoamgateError } from '../../errors';
import { sanitizeReplyText } from '../reply-text';
import { PROXY_CHALLENGE } from './proxy-authorization';

/** The HTTP status for a refusal: the one place HTTP turns error codes into statuses. */
export function httpStatusFor(error: RoamgateError): number {
  switch (error.code) {
    case 'ROAMGATE_ACCESS_DENIED':
    case 'ROAMGATE_DESTINATION_REFUSED':
      return 403;
    case 'ROAMGATE_BAD_REQUEST':
      return 400;
    case 'ROAMGATE_LOGIN_REQUIRED':
    case 'ROAMGATE_LOGIN_FAILED':
      return 407;
    case 'ROAMGATE_TOO_MANY_CLIENTS':
    case 'ROAMGATE_SHUTTING_DOWN':
      return 503;
    case 'ROAMGATE_UPSTREAM_TIMEOUT':
      return 504;
    default:
      return 502;
  }
}

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * A complete HTTP/1.1 response that closes the connection, for writing on a
 * raw socket. A 407 carries `challenge` (default: the Basic login).
 */
export function formatHttpResponse(status: number, text: string, challenge: string = PROXY_CHALLENGE): string {
  const body = sanitizeReplyText(text) + '\n';
  return (
    `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n' +
    (status === 407 ? `Proxy-Authenticate: ${challenge}\r\n` : '') +
    `X-Roamgate-Error: ${sanitizeReplyText(text).slice(0, 200)}\r\n` +
    '\r\n' +
    body
  );
}

/** The raw HTTP response for a refusal. */
export function httpRefusal(error: RoamgateError): string {
  return formatHttpResponse(httpStatusFor(error), error.message);
}
