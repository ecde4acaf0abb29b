import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import type { ServerEntry, ServerInfoSource } from './server-info-source';
import type { ServerInfo } from '../server-info';
import { serverHostProblem } from './table-schema';

/** Registrations may ask for at most this TTL (seconds). */
export const MAX_REGISTRATION_TTL_SECONDS = 86_400;
/** How often lapsed registrations are swept out, so listeners hear of it (ms). */
export const REGISTRY_SWEEP_INTERVAL_MS = 1000;

/** Where registrations and admin entries are kept across restarts. */
export interface RegistryPersistence {
  put(entry: ServerEntry): Promise<void>;
  remove(id: string): Promise<void>;
  onError(error: unknown): void;
}

export interface RegistryOptions {
  /** What time it is, for the registrations' expiry; default the system clock. */
  clock?: Clock;
  sweepIntervalMs?: number;
  persistence?: RegistryPersistence;
  /** The services whose registered servers an in-protocol login may send the user's own credentials to; default none. */
  forwardCredentials?: readonly string[];
}

export interface RegistrationRequest extends ServerInfo {
  service: string;
  ttlSeconds: number;
}

/**
 * Servers added at run time: by self-registration (with a TTL renewed by
 * heartbeat, i.e. registering again) and by an admin through the API (no TTL).
 * Registered servers come out of resolve() marked `registered`, so that the
 * gateway tries them after the operator's and keeps users' credentials from
 * them unless `forwardCredentials` lists the service.
 */
export class RegistrySource implements ServerInfoSource {
  private readonly entries = new Map<string, ServerEntry>();
  private readonly listeners = new Set<() => void>();
  private readonly clock: Clock;
  private readonly sweeper: NodeJS.Timeout;
  private readonly persistence?: RegistryPersistence;
  private readonly forwardCredentials: ReadonlySet<string>;
  private writes: Promise<void> = Promise.resolve();
  /**
   * resolve()'s answers by service, each kept until an entry changes or the
   * first of its registrations lapses: every connection asks, and the table
   * may hold many services' registrations. Only answers with servers are kept
   * (a client can name services that have none).
   */
  private readonly answers = new Map<string, { servers: ServerInfo[]; until: number }>();

  constructor(options: RegistryOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.persistence = options.persistence;
    this.forwardCredentials = new Set(options.forwardCredentials ?? []);
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? REGISTRY_SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Registers or renews a server; returns the entry and whether it is new. */
  register(request: RegistrationRequest): { entry: ServerEntry; created: boolean } {
    return this.put('registered', request, this.clock.now() + request.ttlSeconds * 1000);
  }

  /** Adds (or updates) an admin entry, which does not lapse. */
  add(server: ServerInfo & { service: string }): { entry: ServerEntry; created: boolean } {
    return this.put('admin', server, undefined);
  }

  /** Removes an entry by id; returns whether one was removed. */
  remove(id: string): boolean {
    const removed = this.entries.delete(id);
    if (removed) {
      this.changed();
      this.save((persistence) => persistence.remove(id));
      this.emit();
    }
    return removed;
  }

  /**
   * Puts back entries read from the store at start (lapsed ones are dropped by
   * the next sweep). Entries the address rules now refuse (saved by an older
   * version) are dropped from the store instead, and returned.
   */
  restore(entries: readonly ServerEntry[]): ServerEntry[] {
    const refused: ServerEntry[] = [];
    this.changed();
    for (const entry of entries) {
      if (serverHostProblem(entry.host) === null) this.entries.set(entry.id, { ...entry });
      else {
        refused.push(entry);
        this.save((persistence) => persistence.remove(entry.id));
      }
    }
    if (entries.length > refused.length) this.emit();
    return refused;
  }

  /**
   * Makes the table what the store holds (another process registered,
   * renewed or removed servers), once this process's own writes are in.
   * Listeners hear of it when anything differs.
   */
  async reloadFrom(read: () => Promise<readonly ServerEntry[]>): Promise<void> {
    await this.flush();
    const entries = await read();
    const before = JSON.stringify([...this.entries.values()].sort(byId));
    this.entries.clear();
    this.changed();
    for (const entry of entries) if (serverHostProblem(entry.host) === null) this.entries.set(entry.id, { ...entry });
    if (JSON.stringify([...this.entries.values()].sort(byId)) !== before) this.emit();
  }

  /** Resolves when every change so far has reached the persistence. */
  flush(): Promise<void> {
    return this.writes;
  }

  /** Finds a live entry by id. */
  get(id: string): ServerEntry | undefined {
    const entry = this.entries.get(id);
    return entry && !this.lapsed(entry) ? entry : undefined;
  }

  /** The service's servers, registered ones marked; the same frozen array while nothing changes (see `answers`). */
  resolve(service: string): ServerInfo[] {
    const now = this.clock.now();
    const kept = this.answers.get(service);
    if (kept && now < kept.until) return kept.servers;
    const registered = { forwardCredentials: this.forwardCredentials.has(service) };
    const servers: ServerInfo[] = [];
    let until = Number.POSITIVE_INFINITY;
    for (const entry of this.entries.values()) {
      if (entry.service !== service || this.lapsed(entry, now)) continue;
      if (entry.expiresAt !== undefined) until = Math.min(until, entry.expiresAt);
      servers.push(entry.origin === 'registered' ? { ...entry, registered } : entry);
    }
    Object.freeze(servers);
    if (servers.length > 0) this.answers.set(service, { servers, until });
    else this.answers.delete(service);
    return servers;
  }

  list(): ServerEntry[] {
    return [...this.entries.values()].filter((entry) => !this.lapsed(entry));
  }

  watch(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.listeners.clear();
  }

  /** Drops lapsed registrations; returns how many. */
  sweep(): number {
    let dropped = 0;
    for (const [id, entry] of this.entries) {
      if (this.lapsed(entry)) {
        this.entries.delete(id);
        this.changed();
        this.save((persistence) => persistence.remove(id));
        dropped++;
      }
    }
    if (dropped) this.emit();
    return dropped;
  }

  private put(origin: 'registered' | 'admin', server: ServerInfo & { service: string }, expiresAt: number | undefined) {
    const id = `${origin}:${createHash('sha256').update(`${server.service}|${server.host.toLowerCase()}|${server.port}`).digest('hex').slice(0, 16)}`;
    const created = !this.entries.has(id);
    const entry: ServerEntry = {
      id,
      origin,
      service: server.service,
      host: server.host,
      port: server.port,
      priority: server.priority,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
    this.entries.set(id, entry);
    this.changed();
    this.save((persistence) => persistence.put(entry));
    if (created) this.emit();
    return { entry, created };
  }

  private save(write: (persistence: RegistryPersistence) => Promise<void>): void {
    const persistence = this.persistence;
    if (!persistence) return;
    this.writes = this.writes.then(() => write(persistence)).catch((error: unknown) => persistence.onError(error));
  }

  private lapsed(entry: ServerEntry, now = this.clock.now()): boolean {
    return entry.expiresAt !== undefined && entry.expiresAt <= now;
  }

  /** Every change to the entries goes through here (a renewal too: its expiry moved), so no kept answer outlives one. */
  private changed(): void {
    this.answers.clear();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

function byId(a: ServerEntry, b: ServerEntry): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
