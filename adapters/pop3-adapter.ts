import { createPop3ClientDialogue } from '../protocols/pop3/client-dialogue';
import { pop3Refusal } from '../protocols/pop3/replies';
import { createPop3ServerDialogue } from '../protocols/pop3/server-dialogue';
import type { GatewayContext } from './gateway-context';
import { LineAdapter, type LineAdapterOptions } from './line-adapter';
import type { LoginProtocol } from './login-relay';

/**
 * POP3: refusals as `-ERR [SYS/PERM] ...` or `-ERR [SYS/TEMP] ...`; with
 * in-protocol login, USER/PASS and AUTH PLAIN, and at the server USER/PASS.
 */
export const pop3Protocol: LoginProtocol = {
  service: 'pop3',
  refusal: pop3Refusal,
  clientDialogue: createPop3ClientDialogue,
  serverDialogue: (_client, credentials, startTls) => createPop3ServerDialogue({ credentials, startTls }),
};

/** The pop3 adapter configured by `adapters.pop3`. */
export function pop3Adapter(options: LineAdapterOptions, context: GatewayContext): LineAdapter {
  return new LineAdapter(pop3Protocol, options, context);
}
