import { RoamgateError } from '../errors';
import { formatRefusalLine } from '../protocols/refusal-line';
import { bindListeners, type Adapter, type AdapterPort, type BoundPort } from './adapter';
import { withClientDefaults, type ClientLimits } from './client-limits';
import type { GatewayContext, RelayLimits } from './gateway-context';
import { lineRelayHandler } from './line-relay';
import { TcpListener } from './tcp-listener';

/** The options section of a generic TCP adapter (`adapters.tcp.<name>`), validated. */
export interface TcpAdapterOptions extends RelayLimits, ClientLimits {
  host: string;
  port: number;
  /** The one line a refused client is sent before it is closed, `{reason}` standing for the reason; absent: closed without a word. */
  refusal?: string;
}

/**
 * Any other TCP service (telnet, a line service, an HTTP server, a database),
 * chosen by the port the client arrives on. It speaks no protocol: the client
 * is identified by its lease (its address), authorized for the adapter's
 * service name by the access table and relayed byte for byte to the server the
 * table names for that service (with failover), whichever side speaks first;
 * what the client sends before the server is reached waits for it. A refusal
 * is the operator's one line, if any, then a close.
 */
export class TcpAdapter implements Adapter {
  private readonly listener: TcpListener;

  /** @param service the adapter's name in `adapters.tcp`, which is also the service it serves. */
  constructor(
    readonly service: string,
    private readonly options: TcpAdapterOptions,
    context: GatewayContext,
  ) {
    const refusal = (error: RoamgateError) => formatRefusalLine(options.refusal, error);
    const limits = withClientDefaults(options);
    const tooMany = (text: string) => refusal(new RoamgateError('ROAMGATE_TOO_MANY_CLIENTS', `${text}, try again later`));
    this.listener = new TcpListener({
      ...limits,
      host: options.host,
      port: options.port,
      handle: lineRelayHandler({ service, refusal }, context, options),
      excessReply: tooMany(`too many clients (limit ${limits.maxClients})`),
      addressExcessReply: tooMany(`too many connections from your address (limit ${limits.maxClientsPerAddress})`),
      shared: context.sharedPlaces?.(service, limits.maxClientsPerAddress),
      // Dialogues of short lines: each goes out as it comes, never held for an ACK (as nginx's stream proxy does by default).
      noDelay: true,
    });
  }

  listen(): Promise<BoundPort[]> {
    return bindListeners(
      `tcp.${this.service}`,
      this.options.host,
      new Map([[this.service, { listener: this.listener, port: this.options.port }]]),
    );
  }

  close(graceMs: number): Promise<void> {
    return this.listener.close(graceMs);
  }

  ports(): ReadonlyMap<string, AdapterPort> {
    return new Map([[this.service, { listener: this.listener, host: this.options.host, port: this.options.port }]]);
  }
}
