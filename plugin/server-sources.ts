import type { Clock } from '../clock';
import { resolveTableSecrets } from './config-secrets';
import { RoamgateError } from '../errors';
import { CompositeSource } from '../sources/composite-source';
import { FileSource } from '../sources/file-source';
import { HealthMonitor } from '../sources/health-monitor';
import { RegistrySource } from '../sources/registry-source';
import type { ServerInfoSource } from '../sources/server-info-source';
import { StaticSource } from '../sources/static-source';
import { SwappableSource } from '../sources/swappable-source';
import type { Store } from '../store/store';
import type { Logger, NormalizedOptions } from './options';

/**
 * The server-info table: the operator's (the options' table or source, then
 * the servers file when there is one, behind a holder a reload swaps), then
 * the registry of servers added at run time (by an admin or by
 * registration), which is written through to the store.
 */
export function buildSources(
  options: NormalizedOptions,
  logger: Logger,
  store: Store,
  clock: Clock,
): { source: ServerInfoSource; registry: RegistrySource; operator: SwappableSource } {
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
  let operator: ServerInfoSource;
  try {
    operator = operatorSource(options, logger);
  } catch (error) {
    registry.close();
    throw error;
  }
  const swappable = new SwappableSource(operator);
  return { source: new CompositeSource([swappable, registry]), registry, operator: swappable };
}

/**
 * The operator's own table: the `servers` option (a table or a source), then the watched `serversFile`. Throws
 * ROAMGATE_INVALID_OPTIONS naming `serversFile` when the file cannot be read or is not a table.
 */
export function operatorSource(options: Pick<NormalizedOptions, 'servers' | 'serversFile'>, logger: Logger): ServerInfoSource {
  const table = 'source' in options.servers ? options.servers.source : new StaticSource(options.servers.table);
  if (!options.serversFile) return table;
  const file = options.serversFile;
  try {
    const watched = new FileSource({
      path: file,
      onError: (error) => logger.error({ event: 'servers-file', file, reason: error.message }, 'servers file edit rejected'),
      onReload: (entries) => logger.info({ event: 'servers-file', file, entries }, 'servers file reloaded'),
      secrets: resolveTableSecrets,
    });
    return new CompositeSource([table, watched]);
  } catch (error) {
    throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `serversFile: ${(error as Error).message}`, { cause: error });
  }
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
