import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import type { ServerEntry, ServerInfoSource } from './server-info-source';

/**
 * A source that can be replaced while the gateway runs (a reload gives the
 * operator's table anew): every call goes to the current one, watchers are
 * moved over and told of the change, and the replaced one is closed.
 */
export class SwappableSource implements ServerInfoSource {
  private readonly listeners = new Set<() => void>();
  private stopWatching: (() => void) | undefined;

  constructor(private current: ServerInfoSource) {}

  resolve(service: string, identity: Identity): ServerInfo[] | Promise<ServerInfo[]> {
    return this.current.resolve(service, identity);
  }

  list(): ServerEntry[] | Promise<ServerEntry[]> {
    return this.current.list ? this.current.list() : [];
  }

  watch(onChange: () => void): () => void {
    this.listeners.add(onChange);
    if (this.listeners.size === 1) this.follow();
    return () => {
      this.listeners.delete(onChange);
      if (this.listeners.size === 0) this.unfollow();
    };
  }

  /** Puts `next` in place of the current source, tells the watchers and closes the one replaced. */
  async replace(next: ServerInfoSource): Promise<void> {
    const previous = this.current;
    this.unfollow();
    this.current = next;
    if (this.listeners.size > 0) this.follow();
    this.announce();
    // The new table serves already: a replaced one that fails to close changes nothing for clients.
    await Promise.resolve(previous.close?.()).catch(() => undefined);
  }

  /** Tells the watchers the table changed (what clients are told to use changed: a reload moved an adapter). */
  announce(): void {
    for (const listener of [...this.listeners]) listener();
  }

  async close(): Promise<void> {
    this.unfollow();
    await this.current.close?.();
  }

  private follow(): void {
    this.stopWatching = this.current.watch?.(() => this.announce());
  }

  private unfollow(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
  }
}
