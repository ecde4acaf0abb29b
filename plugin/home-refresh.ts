import { MAX_PEER_REFRESH_BATCH } from './defaults';
import type { LeaseManager } from './lease-manager';
import type { RefreshAnswer } from '../protocols/peer-messages';

export interface RefreshedHome {
  realm: string;
  refreshSeconds: number;
  client: { refresh(tokens: readonly string[]): Promise<RefreshAnswer['leases']> };
}

export interface HomeRefreshEvents {
  /** A visitor's lease was revoked because home no longer vouches for them. */
  ended(leaseId: string, userId: string, realm: string): void;
  /** Home could not be asked; its visitors keep their leases until it can. */
  failed(realm: string, error: Error): void;
  /** Home tokens in use beyond leases: those of visitors who logged in in their client's protocol (their open relays, the remembered answers). */
  tokensInUse?(realm: string): readonly string[];
  /** Home no longer honours this token: whatever still stands on it (relays, remembered answers) goes. */
  tokenEnded?(realm: string, token: string): void;
}

/**
 * Asks each home, every `refreshSeconds`, whether the home leases behind its
 * visitors' leases here are still live, and revokes those that are not (a
 * user disabled at home, logged out there, or revoked by its admin); their
 * relays close with them. A home that does not answer changes nothing: its
 * visitors' local services keep working and home-routed ones fail on their own.
 */
export class HomeRefresher {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<string>();
  private started = false;

  constructor(
    private homes: readonly RefreshedHome[],
    private readonly leases: LeaseManager,
    private readonly events: HomeRefreshEvents,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const home of this.homes) {
      const timer = setInterval(() => void this.refresh(home.realm), home.refreshSeconds * 1000);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** The homes to ask from now on (a reload); their timers start again when they were running. */
  setHomes(homes: readonly RefreshedHome[]): void {
    const started = this.started;
    this.close();
    this.homes = homes;
    if (started) this.start();
  }

  /** Stops asking the homes. */
  close(): void {
    this.started = false;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  /** Checks one home's visitors now (or every home's); resolves when done. Overlapping runs for a home are skipped. */
  async refresh(realm?: string): Promise<void> {
    await Promise.all(this.homes.filter((home) => realm === undefined || home.realm === realm).map((home) => this.refreshHome(home)));
  }

  private async refreshHome(home: RefreshedHome): Promise<void> {
    if (this.running.has(home.realm)) return;
    this.running.add(home.realm);
    try {
      const visitors = this.leases.list().filter((lease) => lease.home?.realm === home.realm);
      // Several leases and relays here may stand on one home lease (the home's answer is cached): ask once per token.
      const tokens = [...new Set([...visitors.map((lease) => lease.home!.token), ...(this.events.tokensInUse?.(home.realm) ?? [])])];
      for (let start = 0; start < tokens.length; start += MAX_PEER_REFRESH_BATCH) {
        const batch = tokens.slice(start, start + MAX_PEER_REFRESH_BATCH);
        let answers: RefreshAnswer['leases'];
        try {
          answers = await home.client.refresh(batch);
        } catch (error) {
          // One batch failing (home away, a bad answer) does not keep the others from being checked.
          this.events.failed(home.realm, error as Error);
          continue;
        }
        const ended = new Set(batch.filter((_, index) => !answers[index].active));
        for (const lease of visitors) {
          if (!ended.has(lease.home!.token)) continue;
          if (await this.leases.revoke(lease.id)) this.events.ended(lease.id, lease.userId, home.realm);
        }
        for (const token of ended) this.events.tokenEnded?.(home.realm, token);
      }
    } catch (error) {
      this.events.failed(home.realm, error as Error);
    } finally {
      this.running.delete(home.realm);
    }
  }
}
