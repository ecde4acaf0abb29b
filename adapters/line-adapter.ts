import { hostname } from 'node:os';
import type { SecureContext } from 'node:tls';
import { RoamgateError } from '../errors';
import { bindListeners, type Adapter, type AdapterPort, type BoundPort } from './adapter';
import { withClientDefaults, type ClientLimits } from './client-limits';
import type { GatewayContext, RelayLimits } from './gateway-context';
import { lineRelayHandler } from './line-relay';
import { loginRelayHandler, type LoginProtocol, type LoginSettings } from './login-relay';
import { type ConnectionHandler, TcpListener } from './tcp-listener';
import { acceptTls, loadSecureContext } from './tls';

/** The options section of a line-protocol adapter (`adapters.smtp`, `adapters.pop3`, `adapters.nntp`), validated. */
export interface LineAdapterOptions extends RelayLimits, ClientLimits {
  host: string;
  port: number;
  /** A second port with implicit TLS (needs `tls`). */
  tlsPort?: number;
  /** Certificate and key PEM files: STARTTLS offered, and the implicit-TLS port served. */
  tls?: { cert: string; key: string };
  /** In-protocol login: the adapter speaks the protocol up to the client's own login. */
  login?: Omit<LoginSettings, 'hostname' | 'tls'> & { hostname?: string };
}

/**
 * A line protocol's adapter (SMTP, POP3, NNTP): its port and, with a
 * certificate, its implicit-TLS port. Clients are relayed transparently, or
 * logged in in their own protocol first when `login` is set.
 */
export class LineAdapter implements Adapter {
  readonly service: string;
  private readonly listeners = new Map<string, { listener: TcpListener; port: number }>();

  constructor(
    protocol: LoginProtocol,
    private readonly options: LineAdapterOptions,
    context: GatewayContext,
  ) {
    this.service = protocol.service;
    // Certificates are read now, so a missing or broken file is an options error at creation.
    const secureContext = options.tls && loadSecureContext(options.tls, `adapters.${protocol.service}.tls`);
    const transparent = lineRelayHandler(protocol, context, options);
    const login: LoginSettings | undefined = options.login && {
      ...options.login,
      hostname: options.login.hostname ?? hostname(),
      tls: secureContext,
    };
    const handlerFor = (implicitTls: boolean) => {
      if (login) return loginRelayHandler(protocol, context, options, login, transparent, implicitTls);
      return implicitTls ? tlsThen(transparent, secureContext!) : transparent;
    };
    const limits = withClientDefaults(options);
    const tooMany = (text: string) => protocol.refusal(new RoamgateError('ROAMGATE_TOO_MANY_CLIENTS', `${text}, try again later`));
    const excessReply = tooMany(`too many clients (limit ${limits.maxClients})`);
    const addressExcessReply = tooMany(`too many connections from your address (limit ${limits.maxClientsPerAddress})`);
    const listener = (port: number, implicitTls: boolean) => ({
      listener: new TcpListener({
        ...limits,
        host: options.host,
        port,
        handle: handlerFor(implicitTls),
        excessReply,
        addressExcessReply,
        shared: context.sharedPlaces?.(implicitTls ? `${protocol.service}-tls` : protocol.service, limits.maxClientsPerAddress),
        // Dialogues of short lines: each goes out as it comes, never held for an ACK (as nginx's stream proxy does by default).
        noDelay: true,
      }),
      port,
    });
    this.listeners.set(protocol.service, listener(options.port, false));
    if (options.tlsPort !== undefined) this.listeners.set(`${protocol.service}-tls`, listener(options.tlsPort, true));
  }

  listen(): Promise<BoundPort[]> {
    return bindListeners(this.service, this.options.host, this.listeners);
  }

  async close(graceMs: number): Promise<void> {
    await Promise.all([...this.listeners.values()].map(({ listener }) => listener.close(graceMs)));
  }

  ports(): ReadonlyMap<string, AdapterPort> {
    return new Map([...this.listeners].map(([key, { listener, port }]) => [key, { listener, host: this.options.host, port }]));
  }
}

/** TLS to the client first, then `handle` on the secure socket; a failed handshake has nobody to answer. */
function tlsThen(handle: ConnectionHandler, context: SecureContext): ConnectionHandler {
  return (socket, over) =>
    void acceptTls(socket, context).then(
      (secure) => handle(secure, over),
      () => over.done(),
    );
}
