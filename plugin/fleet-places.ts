import { randomUUID } from 'node:crypto';
import type { SharedPlaces } from '../adapters/client-limits';
import { type Clock, systemClock } from '../clock';

/** The scope prefix of what a process says it holds on one listener (`places:pop3`). */
export const PLACES_SCOPE = 'places:';
/** How long what another process said it holds counts, unless it says it again (ms): a process that died stops counting. */
export const PLACES_HEARD_FOR_MS = 30_000;
/** How often a process says again what it holds, while it holds anything (ms). */
const PLACES_REPEAT_MS = 10_000;

/**
 * Per-address limits for a fleet on one store (`maxClientsPerAddress`): each
 * process says what it holds per address, and counts what the others said
 * on top of its own. To keep the store out of every connection's path, a
 * process says it only in steps of a tenth of the limit (an address with
 * fewer connections than that is never mentioned): the fleet-wide cap may
 * be exceeded by up to a step per other process. What a process said counts
 * for {@link PLACES_HEARD_FOR_MS}; it repeats it while it holds anything.
 */
export class FleetPlaces {
  /** This process, as the others know it. */
  readonly process = randomUUID();
  private readonly listeners = new Map<string, ListenerPlaces>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** Tells the other processes (through the store) what this process holds: `scope` names the listener. */
    private readonly say: (scope: string, key: string) => void,
    private readonly clock: Clock = systemClock,
  ) {
    this.timer = setInterval(() => {
      for (const places of this.listeners.values()) places.repeat();
    }, PLACES_REPEAT_MS);
    this.timer.unref();
  }

  /** The shared places of one listener (`pop3`, `pop3-tls`, `http-proxy`) with this per-address limit. */
  of(listener: string, limit: number): SharedPlaces {
    const places = this.listener(listener);
    places.step = Math.max(1, Math.floor(limit / 10));
    return places;
  }

  /** A listener's places, made on first use (what others say of a listener is kept even before this process opens it). */
  private listener(listener: string): ListenerPlaces {
    let places = this.listeners.get(listener);
    if (!places) {
      const scope = `${PLACES_SCOPE}${listener}`;
      places = new ListenerPlaces(this.clock, (address, count) => this.say(scope, JSON.stringify([address, this.process, count])));
      this.listeners.set(listener, places);
    }
    return places;
  }

  /** What another process said (the store's feed): `scope` and `key` as it said them. */
  heard(scope: string, key: string): void {
    let said: unknown;
    try {
      said = JSON.parse(key);
    } catch {
      return;
    }
    if (!Array.isArray(said) || said.length !== 3) return;
    const [address, process, count] = said as [unknown, unknown, unknown];
    if (typeof address !== 'string' || typeof process !== 'string' || typeof count !== 'number' || process === this.process) return;
    this.listener(scope.slice(PLACES_SCOPE.length)).heard(address, process, count);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** One listener's places: what the others hold per address, and what this process last said it holds. */
class ListenerPlaces implements SharedPlaces {
  private readonly others = new Map<string, Map<string, { count: number; at: number }>>();
  private readonly said = new Map<string, number>();

  /** What this process says in steps of (a tenth of the limit), set by FleetPlaces.of. */
  step = 1;

  constructor(
    private readonly clock: Clock,
    private readonly tell: (address: string, count: number) => void,
  ) {}

  elsewhere(key: string): number {
    const byProcess = this.others.get(key);
    if (!byProcess) return 0;
    const since = this.clock.now() - PLACES_HEARD_FOR_MS;
    let total = 0;
    for (const [process, held] of byProcess) {
      if (held.at < since) byProcess.delete(process);
      else total += held.count;
    }
    if (byProcess.size === 0) this.others.delete(key);
    return total;
  }

  holding(key: string, count: number): void {
    const stepped = count - (count % this.step);
    if (stepped === (this.said.get(key) ?? 0)) return;
    if (stepped === 0) this.said.delete(key);
    else this.said.set(key, stepped);
    this.tell(key, stepped);
  }

  heard(address: string, process: string, count: number): void {
    let byProcess = this.others.get(address);
    if (count <= 0) {
      byProcess?.delete(process);
      if (byProcess?.size === 0) this.others.delete(address);
      return;
    }
    if (!byProcess) {
      byProcess = new Map();
      this.others.set(address, byProcess);
    }
    byProcess.set(process, { count, at: this.clock.now() });
  }

  /** Says again what this process holds, so that the others keep counting it; forgets what the others said too long ago. */
  repeat(): void {
    for (const [address, count] of this.said) this.tell(address, count);
    // elsewhere() drops stale words of the addresses it is asked about; these are the ones nobody asks about any more.
    for (const address of [...this.others.keys()]) this.elsewhere(address);
  }
}
