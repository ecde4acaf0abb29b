import { RoamgateError } from '../errors';
import { GatewayClient, type DiscoverAnswer } from './gateway-client';
import { discoverGateway } from './lan-discovery';
import type { NormalizedLocalOptions } from './options';
import type { LocalProxyEvent, ReportEvent } from './proxy-notices';
import { STATE_FILES, type PinnedNetwork, type StateDir } from './state-dir';

/** A gateway found, and the notice that says how. */
interface FoundGateway {
  url: string;
  event: LocalProxyEvent;
}

/**
 * Asks the LAN for a gateway (UDP and mDNS at once), pins a new network's
 * key, reports the answers not used. Throws ROAMGATE_NO_GATEWAY when no
 * trusted gateway answered.
 */
async function findOnLan(options: NormalizedLocalOptions, state: StateDir, report: ReportEvent): Promise<FoundGateway> {
  const { discovery } = options;
  const pins = state.read<Record<string, PinnedNetwork>>(STATE_FILES.networks);
  const mdns = discovery.mdns.enabled && { port: discovery.mdns.port, interfaces: discovery.mdns.interfaces };
  const outcome = await discoverGateway({
    port: discovery.port,
    addresses: discovery.addresses,
    mdns,
    windowMs: discovery.windowMs,
    gatewayKey: discovery.gatewayKey,
    pins,
  });
  for (const rejected of outcome.rejected)
    report({
      type: 'discovery-rejected',
      network: rejected.name,
      from: rejected.from,
      reason: rejected.reason,
      keyChanged: rejected.keyChanged,
    });
  const found = outcome.gateway;
  if (!found) {
    const where = `UDP port ${discovery.port} at ${discovery.addresses.join(', ')}${mdns ? ` and mDNS port ${mdns.port} on ${mdns.interfaces.length ? mdns.interfaces.join(', ') : 'every interface'}` : ''}`;
    const loud = outcome.rejected.some((rejected) => rejected.keyChanged);
    throw new RoamgateError(
      'ROAMGATE_NO_GATEWAY',
      loud
        ? `no trusted gateway found: the answers received were rejected (see above); pass --gateway URL to name one, or --forget-network NAME if its key really changed`
        : `no roamgate gateway answered on this network (${where}, for ${discovery.windowMs} ms${outcome.sendErrors.length ? `; could not send to ${outcome.sendErrors.join(', ')}` : ''}): pass --gateway URL, or ask the network's administrator whether its gateway answers discovery`,
    );
  }
  const url = found.url.replace(/\/+$/, '');
  if (found.trust === 'new') {
    state.update<Record<string, PinnedNetwork>>(STATE_FILES.networks, (current) => ({
      ...current,
      [found.name]: { publicKey: found.publicKey, pinnedAt: new Date().toISOString(), url },
    }));
  }
  return {
    url,
    event: {
      type: 'gateway',
      url,
      found: 'discovery',
      network: found.name,
      trust: found.trust,
      publicKey: found.publicKey,
      via: found.via,
    },
  };
}

/**
 * The gateway a local proxy uses and what its `/discover` last said: the
 * configured URL, or the one discovery on the LAN finds (again, when it was
 * lost: the network may have changed).
 */
export class GatewayLocator {
  /** The gateway in use (its management URL) and its API client; null until found. */
  private current: { url: string; client: GatewayClient } | null = null;
  /** Its last `/discover` answer (mode and servers); null until fetched. */
  private answer: DiscoverAnswer | null = null;

  /** @param leaving called before another gateway takes the place of the current one. */
  constructor(
    private readonly options: NormalizedLocalOptions,
    private readonly state: StateDir,
    private readonly report: ReportEvent,
    private readonly leaving: () => void,
  ) {}

  get url(): string | null {
    return this.current?.url ?? null;
  }

  get client(): GatewayClient | null {
    return this.current?.client ?? null;
  }

  get discovered(): DiscoverAnswer | null {
    return this.answer;
  }

  /** The mode in force: the one forced by the options, else the one the gateway names. */
  mode(): 'direct' | 'gateway' {
    return this.options.mode ?? this.answer?.mode ?? 'gateway';
  }

  /** Finds the gateway: the configured URL, or a discovery answer from a trusted key. Reports a gateway new to this proxy. */
  async locate(): Promise<void> {
    const { url, event } = this.options.gateway
      ? { url: this.options.gateway, event: { type: 'gateway', url: this.options.gateway, found: 'configured' } as const }
      : await findOnLan(this.options, this.state, this.report);
    if (url === this.current?.url) return;
    if (this.current !== null) this.leaving();
    this.current = { url, client: new GatewayClient(url, this.options.limits.requestTimeoutMs) };
    this.report(event);
  }

  /** The lease token /discover is asked with (direct mode answers per user); set by the proxy's wiring. */
  leaseToken: () => string | undefined = () => undefined;

  /** Fetches `/discover`; false when another gateway took this one's place meanwhile (its answer is dropped). */
  async discover(): Promise<boolean> {
    const client = this.client!;
    const answer = await client.discover(this.leaseToken());
    if (client !== this.client) return false;
    this.answer = answer;
    return true;
  }
}
