import type { Clock } from '../clock';

/** The gateway in use stopped answering: which one, since when (the clock's elapsed time), and the latest reason. */
export interface Outage {
  gateway: string;
  since: number;
  reason: string;
  /** Set when its event stream went silent: how long nothing had been heard from it (ms). */
  silentMs?: number;
}

/** What a client's refusal during an outage is worded from. */
export interface OutageFacts {
  /** The gateway in use now: another one than the outage's when a switch is under way. */
  current: string | null;
  /** The gateway was given (`--gateway`), not discovered: it is tried again, never replaced. */
  configured: boolean;
  /** Who roamgate local logs in as, when it knows. */
  user?: string;
}

/**
 * What a client is told while the gateway is lost: a temporary failure, what
 * roamgate local is doing about it, and never advice that the command line
 * already followed.
 */
export function outageMessage(outage: Outage, facts: OutageFacts): string {
  if (facts.current && facts.current !== outage.gateway)
    return `roamgate local is switching to the gateway ${facts.current}${facts.user ? ` and logging in as ${facts.user}` : ''}: try again in a moment`;
  const doing = facts.configured ? 'keeps trying it' : 'is looking for a gateway on this network';
  return `the gateway ${outage.gateway} is not answering (${outage.reason}); roamgate local ${doing}: try again in a moment`;
}

/**
 * Whether the gateway in use is lost, since when and why: begun by the
 * gateway follower when its event stream fails, ended once the gateway (or
 * another) answers again. Those waiting for the start of one (the upstream
 * connector, to stop waiting on tunnels through it) are told at once.
 */
export class GatewayOutage {
  private outage: Outage | null = null;
  private readonly listeners = new Set<(outage: Outage) => void>();

  constructor(private readonly clock: Clock) {}

  get current(): Outage | null {
    return this.outage;
  }

  /** The gateway is lost. Listeners hear of a new outage; one under way only takes the latest reason. */
  begin(gateway: string, reason: string, silentMs?: number): void {
    if (this.outage) {
      this.outage.reason = reason;
      return;
    }
    const outage: Outage = { gateway, since: this.clock.monotonic(), reason, ...(silentMs !== undefined ? { silentMs } : {}) };
    this.outage = outage;
    for (const listener of this.listeners) listener(outage);
  }

  /** Another attempt to reach it failed: the reason clients are given is the latest. */
  note(reason: string): void {
    if (this.outage) this.outage.reason = reason;
  }

  /** A gateway answers again: ends the outage; returns how long it lasted (ms), or null when there was none. */
  end(): { outage: Outage; lastedMs: number } | null {
    const outage = this.outage;
    if (!outage) return null;
    this.outage = null;
    return { outage, lastedMs: this.clock.monotonic() - outage.since };
  }

  onBegin(listener: (outage: Outage) => void): void {
    this.listeners.add(listener);
  }
}
