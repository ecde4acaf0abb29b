import { isRoamgateError } from '../errors';
import type { Logger } from './options';
import { sameValue } from './reload-diff';
import type { Roamgate } from './roamgate';
import type { StandaloneConfig } from './standalone-config';

/** What a reload of the standalone server cannot change: the sections of the file that only `serve` reads, at start. */
export function standaloneRestartNeeded(running: StandaloneConfig, next: StandaloneConfig): string[] {
  const sections: Array<[string, unknown, unknown]> = [
    ['http', running.http, next.http],
    ['mount', running.mount, next.mount],
    ['metrics', running.metrics, next.metrics],
    ['log.pretty', running.logPretty, next.logPretty],
    ['web', running.web ?? {}, next.web ?? {}],
  ];
  return sections.filter(([, before, after]) => !sameValue(before, after)).map(([name]) => name);
}

/**
 * The standalone server's reload (SIGHUP): reads the config file again and hands its options to gw.reload, which logs
 * what changed, or why nothing did. A file that cannot be read or checked is logged here the same way. Never throws:
 * resolves true when the reload was applied. `log.level` changes at once; the sections only `serve` reads (http,
 * mount, metrics, web routes) keep their running value, named in a warning.
 */
export function standaloneReloader(running: {
  gateway: Roamgate;
  logger: Logger;
  config: StandaloneConfig;
  readConfigFile(file: string): StandaloneConfig;
}): (file: string) => Promise<boolean> {
  let current = running.config;
  const { gateway, logger, readConfigFile } = running;
  return async (file) => {
    let next: StandaloneConfig;
    try {
      next = readConfigFile(file);
    } catch (error) {
      const reason = isRoamgateError(error) ? error.message : String(error);
      logger.error({ event: 'reload-failed', file, reason }, `reload failed, the running configuration is kept: ${file}: ${reason}`);
      return false;
    }
    try {
      // The running mount, so that a changed one is named once (as `mount`, below), not also as the plugin's mountPath.
      await gateway.reload({ mountPath: current.mount, ...next.options, logger });
    } catch {
      return false; // gw.reload logged why
    }
    const restart = standaloneRestartNeeded(current, next);
    if (restart.length)
      logger.warn(
        { event: 'reload-restart-needed', options: restart },
        `these options changed but take a restart (the running values are kept): ${restart.join(', ')}`,
      );
    if (next.logLevel !== current.logLevel && 'level' in logger) (logger as { level: string }).level = next.logLevel;
    current = {
      ...next,
      http: current.http,
      mount: current.mount,
      metrics: current.metrics,
      logPretty: current.logPretty,
      web: current.web,
    };
    return true;
  };
}
