import type { ServerEntry, ServerInfoSource, ServerTable } from './server-info-source';
import type { ServerInfo } from '../server-info';

/** A fixed table, from options. */
export class StaticSource implements ServerInfoSource {
  private readonly entries: ServerEntry[];

  constructor(table: ServerTable, origin: ServerEntry['origin'] = 'static') {
    this.entries = tableEntries(table, origin);
  }

  resolve(service: string): ServerInfo[] {
    return this.entries.filter((entry) => entry.service === service);
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
