import type { Identity, ServerEntry, ServerInfo, ServerInfoSource } from './server-info-source';
import { serverKey } from './server-info-source';

/**
 * Several sources behind one: resolve asks them all and merges the answers.
 * A server named by several sources appears once, with its best (lowest) priority.
 */
export class CompositeSource implements ServerInfoSource {
  constructor(private readonly sources: readonly ServerInfoSource[]) {}

  async resolve(service: string, identity: Identity): Promise<ServerInfo[]> {
    const answers = await Promise.all(this.sources.map((source) => source.resolve(service, identity)));
    const merged = new Map<string, ServerInfo>();
    for (const server of answers.flat()) {
      const key = serverKey(service, server);
      const known = merged.get(key);
      if (!known || server.priority < known.priority) merged.set(key, { host: server.host, port: server.port, priority: server.priority });
    }
    return [...merged.values()];
  }

  async list(): Promise<ServerEntry[]> {
    const lists = await Promise.all(this.sources.map((source) => (source.list ? source.list() : [])));
    return lists.flat();
  }

  watch(onChange: () => void): () => void {
    const stops = this.sources.map((source) => source.watch?.(onChange));
    return () => stops.forEach((stop) => stop?.());
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((source) => source.close?.()));
  }
}
