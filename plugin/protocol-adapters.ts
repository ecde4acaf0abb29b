import type { Adapter } from '../adapters/adapter';
import type { GatewayContext } from '../adapters/gateway-context';
import { HttpProxyAdapter } from '../adapters/http-proxy-adapter';
import { nntpAdapter } from '../adapters/nntp-adapter';
import { pop3Adapter } from '../adapters/pop3-adapter';
import { smtpAdapter } from '../adapters/smtp-adapter';
import type { NormalizedOptions } from './options';

/** The gateway's protocol adapters, one per `adapters.<service>` section; the web proxy also serves tunnels. */
export interface ProtocolAdapters {
  all: Adapter[];
  httpProxy: HttpProxyAdapter | undefined;
}

/** Builds the configured adapters (certificates are read now: a bad file is an options error at creation). */
export function createProtocolAdapters(options: NormalizedOptions['adapters'], context: GatewayContext): ProtocolAdapters {
  const httpProxy = options['http-proxy'] && new HttpProxyAdapter(options['http-proxy'], context);
  const all: Adapter[] = [];
  if (options.smtp) all.push(smtpAdapter(options.smtp, context));
  if (options.pop3) all.push(pop3Adapter(options.pop3, context));
  if (options.nntp) all.push(nntpAdapter(options.nntp, context));
  if (httpProxy) all.push(httpProxy);
  return { all, httpProxy };
}
