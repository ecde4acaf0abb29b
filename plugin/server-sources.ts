import type { Clock } from '../clock';
import { RoamgateError } from '../errors';
import { CompositeSource } from '../sources/composite-source';
import { FileSource } from '../sources/file-source';
import { HealthMonitor } from '../sources/health-monitor';
import { RegistrySource } from '../sources/registry-source';
import type { ServerInfoSource } from '../sources/server-info-source';
import { StaticSource } from '../sources/static-source';
import type { Store } from '../store/store';
import type { Logger, NormalizedOptions } from './options';

/**
 * The server-info table: the options' table (or source), then the servers
 * file when there is one, then the registry of servers added at run time
 * (by an admin or by registration), which is written through to the store.
 */
export function buildSources(
  options: NormalizedOptions,
  logger: Logger,
  store: Store,
  clock: Clock,
): { source: ServerInfoSource; registry: RegistrySource } {
  const registry = new RegistrySource({
    clock,
    forwardCredentials: options.registration.forwardCredentials,
    persistence: {
      put: (entry) =>
        store.registrations.put({
          id: entry.id,
          origin: entry.origin as 'admin' | 'registered',
          service: entry.service,
          host: entry.host,
          port: entry.port,
          priority: entry.priority,
          ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
        }),
      remove: async (id) => void (await store.registrations.remove(id)),
      onError: (error) => logger.error({ event: 'store-write-failed', err: error }, 'could not save a server registration'),
    },
  });
  const sources: ServerInfoSource[] = ['source' in options.servers ? options.servers.source : new StaticSource(options.servers.table)];
  if (options.serversFile) {
    try {
      sources.push(
        new FileSource({
          path: options.serversFile,
          onError: (error) =>
            logger.error({ event: 'servers-file', file: options.serversFile, reason: error.message }, 'servers file edit rejected'),
          onReload: (entries) => logger.info({ event: 'servers-file', file: options.serversFile, entries }, 'servers file reloaded'),
        }),
      );
    } catch (error) {
      registry.close();
      throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `serversFile: ${(error as Error).message}`, { cause: error });
    }
  }
  sources.push(registry);
  return { source: new CompositeSource(sources), registry };
}

/** The health checks of every server the table lists, each change of state logged. */
export function monitorHealth(source: ServerInfoSource, health: NormalizedOptions['health'], logger: Logger): HealthMonitor {
  return new HealthMonitor(source, {
    intervalMs: health.intervalMs,
    timeoutMs: health.timeoutMs,
    onChange: (server, status) =>
      logger[status.state === 'healthy' ? 'info' : 'warn'](
        { event: 'health', service: server.service, server: `${server.host}:${server.port}`, state: status.state, reason: status.reason },
        `server ${status.state}`,
      ),
  });
}
