import type { RoamgateError } from '../errors';
import { formatHttpResponse, httpRefusal } from '../protocols/http/status';
import { nntpRefusal, formatNntpReply } from '../protocols/nntp/replies';
import { formatPop3Reply, pop3Refusal } from '../protocols/pop3/replies';
import { formatSmtpReply, smtpRefusal } from '../protocols/smtp/replies';
import type { LocalService } from './options';

/** The 407 challenge of the local web proxy: the browser cannot answer it, so it shows the reason instead of asking for a password. */
const LEASE_CHALLENGE = 'Bearer realm="roamgate local proxy"';

/**
 * How the local proxy refuses a client, in that client's protocol: the one
 * place its errors become wire replies. A lease that ended
 * (ROAMGATE_LOGIN_REQUIRED) is a temporary refusal with the reason, since a
 * new login fixes it (SMTP `421 4.7.0`, POP3 `-ERR [AUTH]`, NNTP `400`, HTTP
 * `407`); everything else is answered as the gateway's adapters answer it.
 */
export function refusalFor(service: LocalService, error: RoamgateError): string {
  if (error.code === 'ROAMGATE_LOGIN_REQUIRED') {
    switch (service) {
      case 'smtp':
        return formatSmtpReply(421, error.message, '4.7.0');
      case 'pop3':
        return formatPop3Reply(false, error.message, 'AUTH');
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
    case 'nntp':
      return nntpRefusal(error);
    case 'http-proxy':
      return httpRefusal(error);
  }
}
