import { RoamgateError } from '../errors';
import type { GatewayLocator } from './gateway-locator';
import type { LeaseKeeper } from './lease-keeper';
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
 * `/discover` without a lease), and when the gateway is lost finds it again
 * (discovery or the configured URL) with growing waits in between, then
 * refreshes the routes and the lease.
 */
export class GatewayFollower {
  /** The wait before the next attempt to find the gateway again; grows while attempts fail, back to the minimum once a stream has held. */
  private retryDelayMs: number;
  /** Event streams refused (401) one after the other, each right after a fresh login. */
  private refusedStreams = 0;
  /** Aborted to drop the current event stream at once (a tunnel found the gateway unreachable). */
  private following: AbortController | null = null;
  private watching: Promise<void> | null = null;

  constructor(
    private readonly limits: NormalizedLocalOptions['limits'],
    private readonly locator: GatewayLocator,
    private readonly routes: ServiceRoutes,
    private readonly leases: LeaseKeeper,
    private readonly report: ReportEvent,
    private readonly closing: AbortSignal,
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

  /** A tunnel could not reach the gateway: stop waiting for the event stream to notice. */
  suspectGatewayLost(): void {
    this.following?.abort();
  }

  private async watch(): Promise<void> {
    const closing = this.closing;
    while (!closing.aborted) {
      try {
        await this.followOnce();
        if (closing.aborted || this.leases.ended === 'revoked') return;
      } catch (error) {
        if (closing.aborted) return;
        if (this.leases.refusal && (error as RoamgateError).code !== 'ROAMGATE_GATEWAY_LOST') {
          this.report({ type: 'error', message: (error as Error).message });
          return;
        }
        this.report({ type: 'gateway-lost', gateway: this.locator.url ?? '', reason: (error as Error).message });
        if (!(await this.recover())) return;
      }
    }
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
      await sleep(this.limits.discoverPollMs, closing);
      if (!closing.aborted) await this.routes.refresh(true);
      return;
    }
    const following = new AbortController();
    this.following = following;
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
            void this.routes.refresh(true).catch(() => undefined);
          },
          onEvent: (event) => this.onGatewayEvent(event.event, event.data),
        },
        this.limits.eventsSilenceMs,
        following.signal,
      );
      if (end === 'stopped') {
        if (!closing.aborted) throw new RoamgateError('ROAMGATE_GATEWAY_LOST', 'a connection through it failed');
        return;
      }
      if (this.leases.ended === 'revoked') return;
      if (end === 'unauthorized' || this.leases.ended === 'expired') return await this.loginAgain(client.url, end === 'unauthorized');
      throw new RoamgateError('ROAMGATE_GATEWAY_LOST', 'its event stream ended');
    } finally {
      closing.removeEventListener('abort', onClose);
      this.following = null;
      // Only a stream that held for a while shows the gateway is well again: then retries start from the shortest wait.
      if (openedAt !== undefined && Date.now() - openedAt >= this.limits.reconnectMaxMs) this.retryDelayMs = this.limits.reconnectMinMs;
    }
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
      await this.backOff();
      if (closing.aborted) return false;
      try {
        await this.locator.locate();
        if (closing.aborted) return false;
        await this.routes.refresh(false);
        if (closing.aborted) return false;
        await this.leases.ensure();
        this.routes.announce();
        return true;
      } catch (error) {
        if (this.leases.refusal) {
          this.report({ type: 'error', message: (error as Error).message });
          this.routes.announce();
          return !this.leases.refusal;
        }
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
    await sleep(this.retryDelayMs, this.closing);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.limits.reconnectMaxMs);
  }
}
