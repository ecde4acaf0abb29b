import { createNntpClientDialogue, type NntpClientDialogue } from '../protocols/nntp/client-dialogue';
import { nntpRefusal } from '../protocols/nntp/replies';
import { createNntpServerDialogue } from '../protocols/nntp/server-dialogue';
import type { GatewayContext } from './gateway-context';
import { LineAdapter, type LineAdapterOptions } from './line-adapter';
import type { LoginProtocol } from './login-relay';

/**
 * NNTP: refusals as `502 ...` (denied) or `400 ...` (unavailable); with
 * in-protocol login, AUTHINFO USER/PASS, and at the server MODE READER (when
 * the client asked for it) before AUTHINFO.
 */
export const nntpProtocol: LoginProtocol = {
  service: 'nntp',
  refusal: nntpRefusal,
  clientDialogue: createNntpClientDialogue,
  serverDialogue: (client, credentials, startTls) =>
    createNntpServerDialogue({ credentials, startTls, modeReader: (client as NntpClientDialogue).modeReader }),
};

/** The nntp adapter configured by `adapters.nntp`. */
export function nntpAdapter(options: LineAdapterOptions, context: GatewayContext): LineAdapter {
  return new LineAdapter(nntpProtocol, options, context);
}
