import { RoamgateError } from '../errors';
import { tunnelAddress } from '../net/tunnel-client';
import type { GatewayLocator } from './gateway-locator';
import type { GatewayOutage } from './gateway-outage';
import type { LeaseKeeper } from './lease-keeper';
import { describeChange, type NetworkChange, sourceAddressFor } from './network-watch';
import type { NormalizedLocalOptions } from './options';
import type { ReportEvent } from './proxy-notices';
import type { ServiceRoutes } from './service-routes';

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Keeps a local proxy current: follows the gateway's event stream (or polls
 * `/discover` without a lease), and when the gateway is lost (the stream
 * ended, failed, or went silent past its heartbeat) finds it again
 * (discovery or the configured URL), at once when the lost stream had held
 * or the network changed, else with growing waits in between; then refreshes
 * the routes and the lease. The outage in between is kept in `outage`, for
 * what clients are told.
 */
export class GatewayFollower {
  /** The wait before the next attempt to find the gateway again; grows while attempts fail, back to the minimum once a stream has held. */
  private retryDelayMs: number;
  /** Event streams refused (401) one after the other, each right after a fresh login. */
  private refusedStreams = 0;
  /** Aborted to drop the current event stream at once (a tunnel found the gateway unreachable). */
  private following: AbortController | null = null;
  /** Why the local proxy dropped the current stream itself, when it did. */
  private dropReason: string | null = null;
  /** Aborted to end a wait early (before the next attempt, or the next /discover poll): the network changed. */
  private nap: AbortController | null = null;
  /** Make the next attempt to find the gateway at once: the stream lost had held, or the network changed. */
  private retryNow = false;
  /** The local address the gateway was reached from when the stream opened: null for no route, undefined while unknown. */
  private streamSource: string | null | undefined;
  private watching: Promise<void> | null = null;

  /** @param configured the gateway was given (`--gateway`): it is tried again when lost, never looked for. */
  constructor(
    private readonly limits: NormalizedLocalOptions['limits'],
    private readonly locator: GatewayLocator,
    private readonly routes: ServiceRoutes,
    private readonly leases: LeaseKeeper,
    private readonly outage: GatewayOutage,
    private readonly report: ReportEvent,
    private readonly closing: AbortSignal,
    private readonly configured: boolean,
  ) {
    this.retryDelayMs = limits.reconnectMinMs;
  }

  /** Starts following; runs until the proxy closes (or following can only fail). */
  start(): void {
    this.watching = this.watch();
  }

  /** Resolves once following has ended (after the proxy closed). */
  async settled(): Promise<void> {
    await this.watching?.catch(() => undefined);
  }

  /** A tunnel could not reach the gateway (or the way to it changed): stop waiting for the event stream to notice. */
  suspectGatewayLost(reason = 'a connection through it failed'): void {
    if (!this.following) return;
    this.dropReason = reason;
    this.following.abort();
  }

  /**
   * This machine's network changed. While the gateway is lost, it is looked
   * for again at once (when something was added: an address, a route). A
   * gateway in use is checked at once when the local address it is reached
   * from changed, since its stream cannot outlive that.
   */
  async networkChanged(change: NetworkChange): Promise<void> {
    const gateway = this.locator.url;
    if (this.closing.aborted || !gateway) return;
    const words = describeChange(change);
    if (this.outage.current) {
      if (!change.added.length && !change.route) return;
      this.retryDelayMs = this.limits.reconnectMinMs;
      this.retryNow = true;
      this.nap?.abort();
      const action = this.configured ? `trying the gateway ${gateway} again now` : 'looking for a gateway now';
      this.report({ type: 'network-changed', change: words, action });
      return;
    }
    const following = this.following;
    // Without a lease there is no stream to check: the next /discover poll is made now instead.
    if (!following) return void this.nap?.abort();
    const { host, port } = tunnelAddress(gateway);
    const source = await sourceAddressFor(host, port);
    if (following !== this.following || source === this.streamSource) return;
    this.report({ type: 'network-changed', change: words, action: `checking the gateway ${gateway}` });
    this.retryNow = true;
    this.suspectGatewayLost('the network changed');
  }

  private async watch(): Promise<void> {
    const closing = this.closing;
    while (!closing.aborted) {
      try {
        await this.followOnce();
        if (closing.aborted) return;
      } catch (error) {
        if (closing.aborted) return;
        if (this.leases.refusal && (error as RoamgateError).code !== 'ROAMGATE_GATEWAY_LOST') {
          this.report({ type: 'error', message: (error as Error).message });
          return;
        }
        this.lost(error as RoamgateError);
        if (!(await this.recover())) return;
      }
    }
  }

  /** The gateway is lost: the outage begins (a silent stream says how long it was quiet), and the user is told. */
  private lost(error: RoamgateError): void {
    const gateway = this.locator.url ?? '';
    // From following, this code means one thing: the stream went silent past its limit.
    const silentMs = error.code === 'ROAMGATE_UPSTREAM_TIMEOUT' ? this.limits.eventsSilenceMs : undefined;
    this.outage.begin(gateway, error.message, silentMs);
    this.report({ type: 'gateway-lost', gateway, reason: error.message, ...(this.configured ? { configured: true } : {}) });
  }

  /**
   * One round: follow the event stream until it ends (with a lease), or wait
   * one poll interval and fetch /discover (without). Throws when the gateway
   * is gone; returns when a round ended in order.
   */
  private async followOnce(): Promise<void> {
    const closing = this.closing;
    const client = this.locator.client!;
    const lease = this.leases.current;
    if (!lease || this.leases.refusal) {
      await this.napFor(this.limits.discoverPollMs);
      if (!closing.aborted) await this.routes.refresh(true);
      return;
    }
    const following = new AbortController();
    this.following = following;
    this.dropReason = null;
    this.retryNow = false;
    let openedAt: number | undefined;
    const onClose = () => following.abort();
    closing.addEventListener('abort', onClose);
    if (closing.aborted) onClose();
    try {
      const end = await client.follow(
        lease.token,
        {
          // Changes made while the stream was down are picked up now.
          onOpen: () => {
            openedAt = Date.now();
            this.refusedStreams = 0;
            this.noteSource(client.url, following);
            void this.routes.refresh(true).catch(() => undefined);
          },
          onEvent: (event) => this.onGatewayEvent(event.event, event.data),
        },
        this.limits.eventsSilenceMs,
        following.signal,
      );
      if (end === 'stopped') {
        if (!closing.aborted) throw new RoamgateError('ROAMGATE_GATEWAY_LOST', this.dropReason ?? 'a connection through it failed');
        return;
      }
      // A revoked lease's relays were cut; a new login (if the gateway still gives one) serves the next connections.
      if (end === 'unauthorized' || this.leases.ended !== null) return await this.loginAgain(client.url, end === 'unauthorized');
      throw new RoamgateError('ROAMGATE_GATEWAY_LOST', 'its event stream ended');
    } finally {
      closing.removeEventListener('abort', onClose);
      this.following = null;
      // Only a stream that held for a while shows the gateway is well again: then retries start at once, then from the shortest wait.
      if (openedAt !== undefined && Date.now() - openedAt >= this.limits.reconnectMaxMs) {
        this.retryDelayMs = this.limits.reconnectMinMs;
        this.retryNow = true;
      }
    }
  }

  /** Notes which local address the stream's gateway is reached from, to tell later whether a network change moved it. */
  private noteSource(url: string, following: AbortController): void {
    this.streamSource = undefined;
    const { host, port } = tunnelAddress(url);
    void sourceAddressFor(host, port).then((source) => {
      if (this.following === following) this.streamSource = source;
    });
  }

  /** The gateway no longer knows the lease (it expired, or the gateway restarted with a fresh store): logs in again. */
  private async loginAgain(gateway: string, refused: boolean): Promise<void> {
    if (refused && ++this.refusedStreams > 1) {
      // Refused again with the lease just issued (a proxy in front of the gateway that drops the
      // token, or leases that end as soon as issued): log in again only after a growing wait.
      if (this.refusedStreams === 2)
        this.report({
          type: 'error',
          message: `the gateway ${gateway} refuses its event stream even to a fresh lease; trying again every ${Math.round(this.limits.reconnectMaxMs / 1000)} s at most`,
        });
      await this.backOff();
      if (this.closing.aborted) return;
    }
    await this.leases.login();
    this.routes.announce();
  }

  private onGatewayEvent(name: string, data: string): void {
    if (name === 'servers') {
      void this.routes.refresh(true).catch(() => undefined);
      return;
    }
    if (name !== 'lease') return;
    let state: unknown;
    try {
      state = (JSON.parse(data) as { state?: unknown }).state;
    } catch {
      return;
    }
    if (state === 'revoked' || state === 'expired') this.leases.endedAtGateway(state);
  }

  /** Finds the gateway again (discovery or the configured URL), refreshes routes and the lease. False when it should stop trying. */
  private async recover(): Promise<boolean> {
    const closing = this.closing;
    while (!closing.aborted) {
      if (this.retryNow) this.retryNow = false;
      else await this.backOff();
      if (closing.aborted) return false;
      try {
        await this.locator.locate();
        if (closing.aborted) return false;
        await this.routes.refresh(false);
        if (closing.aborted) return false;
        await this.leases.ensure();
        // In direct mode the gateway names a logged-in user's own servers: ask again with the lease.
        if (this.locator.mode() === 'direct' && this.leases.current) await this.routes.refresh(false);
        this.routes.announce();
        const ended = this.outage.end();
        if (ended)
          this.report({ type: 'gateway-back', gateway: this.locator.url ?? '', lost: ended.outage.gateway, afterMs: ended.lastedMs });
        return true;
      } catch (error) {
        if (this.leases.refusal) {
          this.report({ type: 'error', message: (error as Error).message });
          this.routes.announce();
          return !this.leases.refusal;
        }
        this.outage.note((error as Error).message);
      }
    }
    return false;
  }

  /**
   * Waits the current retry delay, then doubles it (up to reconnectMaxMs).
   * The delay is kept across rounds, so a gateway that is found but whose
   * stream fails at once is not asked again and again at the shortest wait.
   */
  private async backOff(): Promise<void> {
    await this.napFor(this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.limits.reconnectMaxMs);
  }

  /** Waits `ms`, or less when the proxy closes or the network changes. */
  private async napFor(ms: number): Promise<void> {
    const nap = new AbortController();
    this.nap = nap;
    try {
      await sleep(ms, AbortSignal.any([this.closing, nap.signal]));
    } finally {
      if (this.nap === nap) this.nap = null;
    }
  }
}
