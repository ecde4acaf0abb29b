import { createSmtpClientDialogue } from '../protocols/smtp/client-dialogue';
import { smtpRefusal } from '../protocols/smtp/replies';
import { createSmtpServerDialogue } from '../protocols/smtp/server-dialogue';
import type { GatewayContext } from './gateway-context';
import { LineAdapter, type LineAdapterOptions } from './line-adapter';
import type { LoginProtocol } from './login-relay';

/**
 * SMTP: refusals as `554 5.7.1` (denied) or `421 4.3.0` (unavailable); with
 * in-protocol login, AUTH PLAIN/LOGIN after EHLO, and at the server EHLO with
 * the client's own name, then AUTH.
 */
export const smtpProtocol: LoginProtocol = {
  service: 'smtp',
  refusal: smtpRefusal,
  clientDialogue: createSmtpClientDialogue,
  serverDialogue: (client, credentials, startTls) => createSmtpServerDialogue({ credentials, startTls, clientName: client.clientName }),
};

/** The smtp adapter configured by `adapters.smtp`. */
export function smtpAdapter(options: LineAdapterOptions, context: GatewayContext): LineAdapter {
  return new LineAdapter(smtpProtocol, options, context);
}
