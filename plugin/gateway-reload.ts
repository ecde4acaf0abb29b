import type { Adapter } from '../adapters/adapter';
import type { GatewayContext } from '../adapters/gateway-context';
import { isRoamgateError, RoamgateError } from '../errors';
import type { ServerInfoSource } from '../sources/server-info-source';
import { type AdapterSwap, certificateFingerprints, commitAdapters, prepareAdapters } from './adapter-swap';
import type { GatewayState } from './gateway-state';
import { normalizeOptions, type Logger, type NormalizedOptions } from './options';
import { buildPeers, replacePeers } from './peers';
import { adapterServiceNames } from './protocol-adapters';
import { diffOptions, type OptionsDiff } from './reload-diff';
import { operatorSource } from './server-sources';

/**
 * What a reload did.
 * @example { changed: ['servers', 'access (2 relays closed)', 'adapters.pop3 port 1110->1111'], restartNeeded: ['store'], relaysClosed: 2 }
 */
export interface ReloadResult {
  /** What changed and applies from the next connection on, as the log line says it. */
  changed: string[];
  /** Options that changed but take a restart: their running value is kept. */
  restartNeeded: string[];
  /** Open relays closed because the new access rules deny them (`onAccessChange: close`). */
  relaysClosed: number;
}

export interface GatewayReloadDeps {
  options: NormalizedOptions;
  logger: Logger;
  state: Pick<
    GatewayState,
    | 'operator'
    | 'configUsers'
    | 'loginCache'
    | 'holderCheck'
    | 'accessChange'
    | 'access'
    | 'relays'
    | 'guard'
    | 'peers'
    | 'directory'
    | 'refresher'
    | 'clock'
    | 'adapterServices'
  >;
  /** What the adapters use to decide (the connection policy): new adapters get the same. */
  context: GatewayContext;
  /** The running adapters by section (`pop3`, `tcp.telnet`); a reload changes this map. */
  adapters: Map<string, Adapter>;
  lifecycle: {
    serving(): boolean;
    closed(): boolean;
    replaceAdapters(adapters: readonly Adapter[], retired: readonly Adapter[]): void;
  };
}

/** What a reload prepares before it changes anything: each part that can fail is done here. */
interface Prepared {
  operator?: ServerInfoSource;
  adapters?: AdapterSwap;
}

/**
 * `gw.reload(options)`: validates new options, then applies what can change
 * while connections are open (the server table, config users, access rules,
 * peers, the login throttle, adapters and their certificates) for the next
 * connection, and keeps the running value of the rest (named in a warning:
 * they take a restart). Anything that fails (options that do not validate, a
 * servers file or certificate that cannot be read, a port that cannot be
 * bound) fails the whole reload before anything changed: the running
 * configuration stays entirely. Reloads run one at a time.
 */
export class GatewayReload {
  private running: NormalizedOptions;
  private certificates: Map<string, string>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: GatewayReloadDeps) {
    this.running = deps.options;
    this.certificates = certificateFingerprints(deps.options.adapters);
  }

  /** Reloads with `input` (options as `roamgate()` takes them); rejects with ROAMGATE_INVALID_OPTIONS saying why, the old options kept. */
  readonly reload = (input: unknown): Promise<ReloadResult> => {
    const run = this.queue.then(() => this.apply(input));
    this.queue = run.catch(() => undefined);
    return run;
  };

  private async apply(input: unknown): Promise<ReloadResult> {
    const { logger } = this.deps;
    let diff: OptionsDiff;
    let prepared: Prepared;
    try {
      if (this.deps.lifecycle.closed()) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'the gateway is closed');
      diff = diffOptions(this.running, normalizeOptions(input));
      this.renewedCertificates(diff);
      prepared = await this.prepare(diff);
    } catch (error) {
      const reason = isRoamgateError(error) ? error.message : String(error);
      logger.error({ event: 'reload-failed', reason }, `reload failed, the running configuration is kept: ${reason}`);
      throw isRoamgateError(error) ? error : new RoamgateError('ROAMGATE_INVALID_OPTIONS', reason, { cause: error });
    }
    const result = await this.commit(diff, prepared);
    const changed = result.changed.length ? result.changed.join(', ') : 'nothing changed';
    logger.info({ event: 'reloaded', changed: result.changed, restartNeeded: result.restartNeeded }, `reloaded: ${changed}`);
    if (result.restartNeeded.length)
      logger.warn(
        { event: 'reload-restart-needed', options: result.restartNeeded },
        `these options changed but take a restart (the running values are kept): ${result.restartNeeded.join(', ')}`,
      );
    return result;
  }

  /** Adds to the adapters to build those whose certificate or key file changed though the options did not. */
  private renewedCertificates(diff: OptionsDiff): void {
    const next = certificateFingerprints(diff.effective.adapters);
    for (const [section, fingerprint] of next) {
      if (diff.adapters.build.includes(section) || this.certificates.get(section) === fingerprint) continue;
      diff.adapters.build.push(section);
      diff.adapters.described.push(`adapters.${section} certificate`);
    }
  }

  private async prepare(diff: OptionsDiff): Promise<Prepared> {
    const prepared: Prepared = {};
    const { live, effective } = diff;
    if (live.includes('servers') || live.includes('serversFile')) prepared.operator = operatorSource(effective, this.deps.logger);
    if (diff.adapters.build.length === 0) return prepared;
    try {
      const listening = this.deps.lifecycle.serving();
      prepared.adapters = await prepareAdapters(diff.adapters.build, effective.adapters, this.deps.context, this.deps.adapters, listening);
    } catch (error) {
      await prepared.operator?.close?.();
      throw error;
    }
    return prepared;
  }

  /** Applies what was prepared; nothing here can fail the reload. */
  private async commit(diff: OptionsDiff, prepared: Prepared): Promise<ReloadResult> {
    const { state, logger } = this.deps;
    const { live, effective } = diff;
    const changed: string[] = [];
    const has = (key: string) => live.includes(key);
    state.accessChange.mode = effective.onAccessChange;
    if (prepared.operator) await state.operator.replace(prepared.operator);
    if (has('users') && state.configUsers) {
      const users = state.configUsers.setConfigured(effective.users);
      state.loginCache?.forget(users);
      // Leases of users removed or disabled end now, not at the next scheduled check.
      if (users.length) void state.holderCheck.check();
    }
    if (live.some((key) => key.startsWith('login.'))) state.guard.setLimits(effective.login);
    if (has('peers')) {
      replacePeers(state.peers, buildPeers(effective, state.clock, state.peers.observer));
      state.directory.setHomes(state.peers.homes);
      state.refresher.setHomes(state.peers.refreshed);
    }
    changed.push(...live.filter((key) => key !== 'access' && key !== 'adapters'));
    if (prepared.adapters) this.commitAdapters(prepared.adapters, diff);
    else if (diff.adapters.remove.length) this.commitAdapters({ built: new Map(), bound: [], handOvers: [] }, diff);
    changed.push(...diff.adapters.described);
    // Local proxies are told to ask /discover again: the table or the gateway's own endpoints changed.
    if (diff.adapters.described.length && !prepared.operator) state.operator.announce();
    let relaysClosed = 0;
    if (has('access')) {
      const before = state.relays.size;
      state.access.setConfigRules(effective.access);
      relaysClosed = before - state.relays.size;
      changed.push(relaysClosed ? `access (${relaysClosed} relay${relaysClosed === 1 ? '' : 's'} closed)` : 'access');
    }
    for (const { key, service, address } of prepared.adapters?.bound ?? [])
      logger.info(
        { event: 'listening', service, address: `${address.address}:${address.port}`, tls: key !== service },
        `${key} adapter listening`,
      );
    this.running = effective;
    this.certificates = certificateFingerprints(effective.adapters);
    return { changed, restartNeeded: diff.restart, relaysClosed };
  }

  private commitAdapters(swap: AdapterSwap, diff: OptionsDiff): void {
    const { retired } = commitAdapters(swap, this.deps.adapters, diff.adapters.remove);
    this.deps.lifecycle.replaceAdapters([...this.deps.adapters.values()], retired);
    this.deps.state.adapterServices.splice(0, this.deps.state.adapterServices.length, ...adapterServiceNames(diff.effective.adapters));
  }
}
