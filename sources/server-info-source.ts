import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';

export interface ServerEntry extends ServerInfo {
  /** Stable id; entries from the API can be removed by it. */
  id: string;
  service: string;
  /** `static` (options), `file` (watched file), `admin` (added through the API), `registered` (self-registration). */
  origin: 'static' | 'file' | 'admin' | 'registered';
  /** When a registration lapses unless renewed (ms since the epoch). */
  expiresAt?: number;
}

/**
 * Where the gateway learns which servers provide a service. A plain table
 * (`{ smtp: [{ host, port }] }`) is accepted wherever a source is.
 * @example
 * const source: ServerInfoSource = {
 *   resolve: (service, who) => who.kind === 'user' && who.user.id === 'alice'
 *     ? [{ host: 'mail-a.internal', port: 110, priority: 10 }] : [],
 * };
 */
export interface ServerInfoSource {
  /** Candidate servers for a service and client, any order; the gateway orders by priority and health. */
  resolve(service: string, identity: Identity): ServerInfo[] | Promise<ServerInfo[]>;
  /** Every entry, for admin listings and health checks. */
  list?(): ServerEntry[] | Promise<ServerEntry[]>;
  /** Calls `onChange` whenever the table changes; returns an unsubscribe function. */
  watch?(onChange: () => void): () => void;
  /** Releases timers and watchers. */
  close?(): void | Promise<void>;
}

/** A plain table: service name -> servers. */
export type ServerTable = Readonly<Record<string, readonly Readonly<ServerInfo>[]>>;

/** Default priority of a server that names none. */
export const DEFAULT_PRIORITY = 10;

/** The key that identifies one server of one service. */
export function serverKey(service: string, server: { host: string; port: number }): string {
  return `${service}|${server.host.toLowerCase()}|${server.port}`;
}

/**
 * A table's entries grouped by service, each group frozen: what a fixed
 * table's resolve() answers, looked up rather than filtered for every
 * connection. Frozen because the same array is handed out every time.
 */
export function entriesByService(entries: readonly ServerEntry[]): ReadonlyMap<string, ServerInfo[]> {
  const groups = new Map<string, ServerEntry[]>();
  for (const entry of entries) {
    const group = groups.get(entry.service);
    if (group) group.push(entry);
    else groups.set(entry.service, [entry]);
  }
  for (const group of groups.values()) Object.freeze(group);
  return groups;
}

/** What a table answers for a service it has no servers for (shared and frozen, like its groups). */
export const NO_SERVERS: ServerInfo[] = Object.freeze([]) as unknown as ServerInfo[];
