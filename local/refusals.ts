import { RoamgateError, type RoamgateErrorCode } from '../errors';
import { formatHttpResponse, httpRefusal } from '../protocols/http/status';
import { nntpRefusal, formatNntpReply } from '../protocols/nntp/replies';
import { formatImapUntagged, imapRefusal } from '../protocols/imap/replies';
import { formatPop3Reply, pop3Refusal } from '../protocols/pop3/replies';
import { formatSmtpReply, smtpRefusal } from '../protocols/smtp/replies';
import type { LocalService } from './options';

/** The 407 challenge of the local web proxy: the browser cannot answer it, so it shows the reason instead of asking for a password. */
const LEASE_CHALLENGE = 'Bearer realm="roamgate local proxy"';

/**
 * The local proxy's own codes, answered as the code a client's program
 * understands the same way: a gateway that is lost or not found is a
 * temporary failure, like a server that cannot be reached; throttled logins
 * are a busy service; a login refused for good is fixed by a new login, like
 * a lease that ended.
 */
const ANSWERED_AS: Partial<Record<RoamgateErrorCode, RoamgateErrorCode>> = {
  ROAMGATE_GATEWAY_LOST: 'ROAMGATE_UPSTREAM_REFUSED',
  ROAMGATE_NO_GATEWAY: 'ROAMGATE_UPSTREAM_REFUSED',
  ROAMGATE_LOGIN_THROTTLED: 'ROAMGATE_TOO_MANY_CLIENTS',
  ROAMGATE_LOGIN_FAILED: 'ROAMGATE_LOGIN_REQUIRED',
};

/**
 * How the local proxy refuses a client, in that client's protocol: the one
 * place its errors become wire replies. A lease that ended
 * (ROAMGATE_LOGIN_REQUIRED) or a login refused (ROAMGATE_LOGIN_FAILED) is a
 * temporary refusal with the reason, since a new login fixes it (SMTP
 * `421 4.7.0`, POP3 `-ERR [AUTH]`, IMAP `* BYE [ALERT]`, NNTP `400`, HTTP `407`); everything else
 * is answered as the gateway's adapters answer it (the local proxy's own
 * codes as their kin in {@link ANSWERED_AS}). A service roamgate does not
 * speak gets no word at all (the empty string): the client is just closed,
 * since any text might be taken for its server's.
 */
export function refusalFor(service: LocalService, error: RoamgateError): string {
  const kin = ANSWERED_AS[error.code];
  if (kin !== undefined) return refusalFor(service, new RoamgateError(kin, error.message, { cause: error }));
  if (error.code === 'ROAMGATE_LOGIN_REQUIRED') {
    switch (service) {
      case 'smtp':
        return formatSmtpReply(421, error.message, '4.7.0');
      case 'pop3':
        return formatPop3Reply(false, error.message, 'AUTH');
      case 'imap':
        // ALERT (RFC 9051 7.1): the client must show the text to the user, who is the one to log in again.
        return formatImapUntagged('BYE', error.message, 'ALERT');
      case 'nntp':
        return formatNntpReply(400, error.message);
      case 'http-proxy':
        return formatHttpResponse(407, error.message, LEASE_CHALLENGE);
    }
  }
  switch (service) {
    case 'smtp':
      return smtpRefusal(error);
    case 'pop3':
      return pop3Refusal(error);
    case 'imap':
      return imapRefusal(error);
    case 'nntp':
      return nntpRefusal(error);
    case 'http-proxy':
      return httpRefusal(error);
    default:
      return '';
  }
}
