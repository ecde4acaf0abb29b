import type { Adapter } from '../adapters/adapter';
import type { GatewayContext } from '../adapters/gateway-context';
import { HttpProxyAdapter } from '../adapters/http-proxy-adapter';
import { imapAdapter } from '../adapters/imap-adapter';
import { nntpAdapter } from '../adapters/nntp-adapter';
import { pop3Adapter } from '../adapters/pop3-adapter';
import { smtpAdapter } from '../adapters/smtp-adapter';
import { TcpAdapter } from '../adapters/tcp-adapter';
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
  if (options.imap) all.push(imapAdapter(options.imap, context));
  if (options.nntp) all.push(nntpAdapter(options.nntp, context));
  if (httpProxy) all.push(httpProxy);
  for (const [name, tcp] of Object.entries(options.tcp ?? {})) all.push(new TcpAdapter(name, tcp, context));
  return { all, httpProxy };
}

/** The services that have an adapter here: the built-in sections, and each generic TCP adapter by its name. */
export function adapterServiceNames(options: NormalizedOptions['adapters']): string[] {
  const { tcp, ...builtIn } = options;
  return [...Object.keys(builtIn), ...Object.keys(tcp ?? {})];
}
