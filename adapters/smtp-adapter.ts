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

/** The options section `adapters.smtp`, validated. */
export interface SmtpAdapterOptions extends LineAdapterOptions {
  /**
   * Mail submission (RFC 6409, port 587): every client logs in with AUTH
   * before MAIL (`530 5.7.0` otherwise), a lease holder or an anonymous
   * client the access table lets through included; STARTTLS is offered with
   * `tls`. Validation gives a submission adapter `login` settings.
   */
  submission?: boolean;
}

/** The smtp adapter configured by `adapters.smtp`. */
export function smtpAdapter(options: SmtpAdapterOptions, context: GatewayContext): LineAdapter {
  const { submission, ...line } = options;
  const login = submission ? { ...line.login!, required: true } : line.login;
  return new LineAdapter(smtpProtocol, { ...line, login }, context);
}
