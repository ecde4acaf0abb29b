import { entriesByService, NO_SERVERS, type ServerEntry, type ServerInfoSource, type ServerTable } from './server-info-source';
import type { ServerInfo } from '../server-info';

/** A fixed table, from options. */
export class StaticSource implements ServerInfoSource {
  private readonly entries: ServerEntry[];
  private readonly byService: ReadonlyMap<string, ServerInfo[]>;

  constructor(table: ServerTable, origin: ServerEntry['origin'] = 'static') {
    this.entries = tableEntries(table, origin);
    this.byService = entriesByService(this.entries);
  }

  /** The service's servers (the same frozen array each time: see entriesByService). */
  resolve(service: string): ServerInfo[] {
    return this.byService.get(service) ?? NO_SERVERS;
  }

  list(): ServerEntry[] {
    return this.entries.slice();
  }
}

/** Turns a table into listed entries with ids like `static:smtp:127.0.0.1:25`. */
export function tableEntries(table: ServerTable, origin: ServerEntry['origin']): ServerEntry[] {
  return Object.entries(table).flatMap(([service, servers]) =>
    servers.map((server) => ({
      ...server,
      id: `${origin}:${service}:${server.for ? `${server.for}:` : ''}${server.host}:${server.port}`,
      service,
      origin,
    })),
  );
}
