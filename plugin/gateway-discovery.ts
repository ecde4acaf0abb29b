import type { Clock } from '../clock';
import { publicKeyOf } from '../protocols/discovery-message';
import { DEFAULT_MDNS_PORT } from '../protocols/mdns-announcement';
import { DiscoveryResponder } from './discovery-responder';
import { loadGatewayKey } from './gateway-key';
import type { Logger, NormalizedOptions } from './options';

/**
 * The options' `discovery` section made real: the gateway's key (made on
 * first start), the responder answering discovery queries on the LAN (and
 * mDNS when asked), and what `/discover` tells local proxies to pin.
 */
export class GatewayDiscovery {
  /** The network's name and the gateway's public key, for local proxies to pin. */
  readonly pinned: { name: string; publicKey: string };
  private readonly responder: DiscoveryResponder;

  constructor(
    private readonly options: NonNullable<NormalizedOptions['discovery']>,
    private readonly logger: Logger,
    clock: Clock,
  ) {
    const privateKeyPem = loadGatewayKey(options.keyFile, logger);
    this.responder = new DiscoveryResponder({
      name: options.name,
      url: options.url,
      privateKeyPem,
      port: options.port,
      host: options.host,
      mdns: options.mdns,
      onError: (error) => logger.warn({ event: 'discovery', err: error }, 'discovery answer failed'),
      clock,
    });
    this.pinned = { name: options.name, publicKey: publicKeyOf(privateKeyPem) };
  }

  /** Starts answering; logs where. */
  async start(): Promise<void> {
    if (!this.options.answer) return;
    const { port } = await this.responder.start();
    const { mdns } = this.options;
    const mdnsPort = mdns === true ? DEFAULT_MDNS_PORT : mdns ? mdns.port : undefined;
    this.logger.info(
      {
        event: 'discovery',
        port,
        name: this.options.name,
        publicKey: this.pinned.publicKey,
        ...(mdnsPort === undefined ? {} : { mdnsPort }),
      },
      mdnsPort === undefined ? 'answering discovery queries' : 'answering discovery queries and mDNS (DNS-SD _roamgate._tcp)',
    );
  }

  close(): Promise<void> {
    return this.responder.close();
  }
}
