import type { Adapter } from '../adapters/adapter';
import type { GatewayContext } from '../adapters/gateway-context';
import { HttpProxyAdapter } from '../adapters/http-proxy-adapter';
import { imapAdapter } from '../adapters/imap-adapter';
import { nntpAdapter } from '../adapters/nntp-adapter';
import { pop3Adapter } from '../adapters/pop3-adapter';
import { smtpAdapter } from '../adapters/smtp-adapter';
import { TcpAdapter } from '../adapters/tcp-adapter';
import type { NormalizedOptions } from './options';

/**
 * The adapters of `options`, keyed by their section below `adapters` (`smtp`, `http-proxy`, `tcp.telnet`), or only
 * those of the sections `only` names (a reload builds only what changed).
 */
export function buildAdapters(
  options: NormalizedOptions['adapters'],
  context: GatewayContext,
  only?: ReadonlySet<string>,
): Map<string, Adapter> {
  const built = new Map<string, Adapter>();
  const add = (key: string, make: () => Adapter) => {
    if (!only || only.has(key)) built.set(key, make());
  };
  if (options.smtp) add('smtp', () => smtpAdapter(options.smtp!, context));
  if (options.pop3) add('pop3', () => pop3Adapter(options.pop3!, context));
  if (options.imap) add('imap', () => imapAdapter(options.imap!, context));
  if (options.nntp) add('nntp', () => nntpAdapter(options.nntp!, context));
  if (options['http-proxy']) add('http-proxy', () => new HttpProxyAdapter(options['http-proxy']!, context));
  for (const [name, tcp] of Object.entries(options.tcp ?? {})) add(`tcp.${name}`, () => new TcpAdapter(name, tcp, context));
  return built;
}

/** The services that have an adapter here: the built-in sections, and each generic TCP adapter by its name. */
export function adapterServiceNames(options: NormalizedOptions['adapters']): string[] {
  const { tcp, ...builtIn } = options;
  return [...Object.keys(builtIn), ...Object.keys(tcp ?? {})];
}
