import { createImapClientDialogue, type ImapClientDialogue } from '../protocols/imap/client-dialogue';
import { imapRefusal } from '../protocols/imap/replies';
import { createImapServerDialogue } from '../protocols/imap/server-dialogue';
import type { GatewayContext } from './gateway-context';
import { LineAdapter, type LineAdapterOptions } from './line-adapter';
import type { LoginProtocol } from './login-relay';

/**
 * IMAP: refusals as `* BYE [UNAVAILABLE] ...` (or `[NOPERM]`,
 * `[AUTHENTICATIONFAILED]`); with in-protocol login, LOGIN and AUTHENTICATE
 * PLAIN, and at the server whichever its CAPABILITY offers. The server's
 * capabilities after the login reach the client in its `OK [CAPABILITY ...]`.
 */
export const imapProtocol: LoginProtocol = {
  service: 'imap',
  refusal: imapRefusal,
  clientDialogue: createImapClientDialogue,
  serverDialogue: (client, credentials, startTls) =>
    createImapServerDialogue({
      credentials,
      startTls,
      // The dialogue came from clientDialogue above; tell it what the server now offers.
      loggedIn: (capabilities) => (client as ImapClientDialogue).useServerCapabilities(capabilities),
    }),
};

/** The imap adapter configured by `adapters.imap`. */
export function imapAdapter(options: LineAdapterOptions, context: GatewayContext): LineAdapter {
  return new LineAdapter(imapProtocol, options, context);
}
