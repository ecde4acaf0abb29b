import { EventEmitter } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { connectWithTimeout } from '../net/connect-server';
import { relay } from '../net/relay';
import { RoamgateError } from '../errors';
import { notice, type LocalProxyEvent, type LocalProxyNotice, type RouteTarget, describeTarget } from './clear-words';
import { GatewayClient, type DiscoverAnswer, type Endpoint, type Lease } from './gateway-client';
import { normalizeLocalOptions, type ListenerName, type LocalProxyOptions, type LocalService, type NormalizedLocalOptions } from './options';
import { pacFile, pacServer, PAC_PATHS } from './pac-file';
import { bindFirst, portCandidates } from './port-choice';
import { refusalFor } from './refusals';
import { StateDir, STATE_FILES, type PinnedNetwork, type SavedLease } from './state-dir';
import { openTunnel } from '../net/tunnel-client';
import { discoverGateway } from './lan-discovery';

/** How long a refused web-proxy client gets to send its request before the refusal is written anyway (ms). */
export const REFUSAL_READ_WAIT_MS = 1_000;
/** A refused client that does not close after the refusal is cut after this long (ms). */
export const REFUSAL_LINGER_MS = 5_000;
/** A lease is renewed when this share of its remaining time has passed. */
export const LEASE_RENEW_AT = 0.5;
/** Longest delay Node's timers take (ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** Where one listener is bound. */
export interface ListenerAddress {
  host: string;
  port: number;
}

/** What a running local proxy is doing, for callers and tests. */
export interface LocalProxyStatus {
  gateway: string | null;
  mode: 'direct' | 'gateway' | null;
  lease: 'none' | 'live' | 'revoked' | 'failed';
  user?: string;
}

/**
 * A running local proxy.
 * @example
 * const proxy = await startLocalProxy({ gateway: 'http://10.0.0.1:8080/roamgate', user: 'alice', password: 'alice-pw', onEvent: (n) => console.log(n.text) });
 * proxy.listeners.smtp; // { host: '127.0.0.1', port: 2525 }
 * await proxy.stop();
 */
export interface LocalProxy {
  /** Where each listener is bound (services, and `pac` when served). */
  readonly listeners: Readonly<Partial<Record<ListenerName, ListenerAddress>>>;
  status(): LocalProxyStatus;
  /** Every notice after start (the ones during start go to the `onEvent` option). */
  on(event: 'event', listener: (notice: LocalProxyNotice) => void): LocalProxy;
  off(event: 'event', listener: (notice: LocalProxyNotice) => void): LocalProxy;
  /** Stops accepting, closes open connections and the event stream. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalProxy}: the validated ones, and `onEvent` to hear every notice from the start. */
export type StartLocalProxyOptions = LocalProxyOptions & { onEvent?: (notice: LocalProxyNotice) => void };

/**
 * Starts a local proxy: binds one loopback listener per service (and the PAC
 * file), finds the gateway (`gateway` or discovery on the LAN), logs in, and
 * relays each client connection straight to the server the gateway names
 * (direct mode) or through a tunnel to the gateway (gateway mode), following
 * the gateway's event stream to stay current. Rejects with a RoamgateError
 * whose message says what to do (bad option, port in use, no gateway found,
 * wrong password).
 */
export async function startLocalProxy(input: StartLocalProxyOptions): Promise<LocalProxy> {
  const { onEvent, ...rest } = (input ?? {}) as StartLocalProxyOptions;
  if (onEvent !== undefined && typeof onEvent !== 'function') throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', 'onEvent: must be a function');
  const proxy = new LocalProxyRuntime(normalizeLocalOptions(rest), onEvent);
  try {
    await proxy.start();
  } catch (error) {
    await proxy.stop({ quiet: true });
    throw error;
  }
  const handle: LocalProxy = {
    listeners: Object.freeze({ ...proxy.listeners }),
    status: () => proxy.status(),
    on: (_event, listener) => {
      proxy.on(listener);
      return handle;
    },
    off: (_event, listener) => {
      proxy.off(listener);
      return handle;
    },
    stop: () => proxy.stop(),
  };
  return handle;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

function asError(error: unknown): RoamgateError {
  return error instanceof RoamgateError ? error : new RoamgateError('ROAMGATE_SOURCE_FAILED', (error as Error).message ?? String(error), { cause: error });
}

class LocalProxyRuntime {
  private readonly events = new EventEmitter();
  readonly listeners: Partial<Record<ListenerName, ListenerAddress>> = {};
  private readonly state: StateDir;
  private readonly servers = new Map<ListenerName, Server | HttpServer>();
  private readonly sockets = new Set<Socket>();
  private readonly stopping = new AbortController();
  private gatewayUrl: string | null = null;
  private client: GatewayClient | null = null;
  private discovered: DiscoverAnswer | null = null;
  private lease: Lease | null = null;
  /** Who held the lease at the gateway before this one: logged in again as them at a new gateway. */
  private formerUser: string | undefined;
  /** The wait before the next attempt to find the gateway again; grows while attempts fail, back to the minimum once a stream has held. */
  private retryDelayMs: number;
  /** Event streams refused (401) one after the other, each right after a fresh login. */
  private refusedStreams = 0;
  /** Set when the gateway revoked the lease, or a new login failed: clients are refused with it. */
  private refusal: RoamgateError | null = null;
  private leaseEvent: 'revoked' | 'expired' | null = null;
  private password: string | undefined;
  private loggingIn: Promise<void> | null = null;
  private readonly announced = new Map<LocalService, string>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Aborted to drop the current event stream at once (a tunnel found the gateway unreachable). */
  private following: AbortController | null = null;
  private watching: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly options: NormalizedLocalOptions,
    private readonly onEvent?: (notice: LocalProxyNotice) => void,
  ) {
    this.state = new StateDir(options.stateDir);
    this.retryDelayMs = options.limits.reconnectMinMs;
  }

  status(): LocalProxyStatus {
    return {
      gateway: this.gatewayUrl,
      mode: this.discovered ? this.mode() : null,
      lease: this.refusal ? (this.leaseEvent === 'revoked' ? 'revoked' : 'failed') : this.lease ? 'live' : 'none',
      ...(this.lease ? { user: this.lease.user } : {}),
    };
  }

  private report(event: LocalProxyEvent): void {
    const line = notice(event);
    this.onEvent?.(line);
    this.events.emit('event', line);
  }

  on(listener: (notice: LocalProxyNotice) => void): void {
    this.events.on('event', listener);
  }

  off(listener: (notice: LocalProxyNotice) => void): void {
    this.events.off('event', listener);
  }

  async start(): Promise<void> {
    await this.bindListeners();
    await this.locateGateway();
    await this.refreshRoutes(false);
    if (this.mode() === 'gateway' && !this.options.user && !this.savedLease()) {
      throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `user: the gateway at ${this.gatewayUrl} works in gateway mode, which needs a login: pass --user NAME`);
    }
    await this.ensureLease();
    this.announceRoutes();
    const pac = this.listeners.pac;
    const proxy = this.listeners['http-proxy'];
    if (pac && proxy) this.report({ type: 'pac', url: `http://${hostPort(pac)}${PAC_PATHS[0]}`, proxy: hostPort(proxy) });
    this.watching = this.watch();
  }

  // ---- listeners ------------------------------------------------------------

  private async bindListeners(): Promise<void> {
    const remembered = this.state.read<Record<string, number>>(STATE_FILES.ports);
    const chosen: Record<string, number> = {};
    const names: ListenerName[] = [...this.options.services, ...(this.options.pac ? (['pac'] as const) : [])];
    for (const name of names) {
      const server: Server | HttpServer =
        name === 'pac' ? pacServer(() => pacFile(this.options.host, this.listeners['http-proxy']?.port ?? 0)) : createServer((socket) => void this.accept(name, socket));
      const rememberedPort = remembered[name];
      const candidates = portCandidates(name, {
        explicit: this.options.listen[name],
        remembered: Number.isInteger(rememberedPort) && rememberedPort > 0 && rememberedPort < 65536 ? rememberedPort : undefined,
        tryStandard: this.options.tryStandardPorts,
      });
      const bound = await bindFirst(server, name, this.options.host, candidates, this.state.file(STATE_FILES.ports));
      this.servers.set(name, server);
      this.listeners[name] = { host: this.options.host, port: bound.port };
      if (bound.origin === 'standard' || bound.origin === 'default') chosen[name] = bound.port;
    }
    if (Object.keys(chosen).length) this.state.update<Record<string, number>>(STATE_FILES.ports, (ports) => ({ ...ports, ...chosen }));
  }

  private async accept(service: LocalService, client: Socket): Promise<void> {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    client.setNoDelay(true);
    let upstream: Socket;
    try {
      if (this.refusal) throw this.refusal;
      upstream = await this.connectFor(service);
    } catch (error) {
      return this.refuse(service, client, asError(error));
    }
    if (client.destroyed || this.stopping.signal.aborted) {
      upstream.destroy();
      return;
    }
    this.sockets.add(upstream);
    upstream.once('close', () => this.sockets.delete(upstream));
    await relay(client, upstream, this.options.limits.idleTimeoutMs);
  }

  /** Where a new connection of this service goes, now. */
  private route(service: LocalService): RouteTarget {
    const gateway = this.gatewayUrl ?? '';
    if (this.mode() === 'gateway') return this.lease ? { kind: 'gateway', url: gateway } : { kind: 'none', reason: 'gateway mode needs a login (--user NAME)' };
    const servers = this.discovered?.services[service] ?? [];
    if (servers.length) return { kind: 'servers', servers };
    // /discover never lists the web proxy in direct mode: the gateway's own web proxy serves it through the tunnel.
    if (this.lease) return { kind: 'gateway', url: gateway };
    return { kind: 'none', reason: `the gateway names no ${service} server for this network` };
  }

  private async connectFor(service: LocalService): Promise<Socket> {
    const target = this.route(service);
    if (target.kind === 'none') throw new RoamgateError('ROAMGATE_NO_SERVER', `${service} service unavailable: ${target.reason}`);
    if (target.kind === 'servers') return this.connectDirect(service, target.servers);
    return this.connectTunnel(service, true);
  }

  private async connectDirect(service: LocalService, servers: readonly Endpoint[]): Promise<Socket> {
    let lastError: RoamgateError | undefined;
    for (const server of servers) {
      try {
        return await connectWithTimeout(server.host, server.port, this.options.limits.connectTimeoutMs);
      } catch (error) {
        lastError = asError(error);
      }
    }
    throw new RoamgateError(lastError?.code === 'ROAMGATE_UPSTREAM_TIMEOUT' ? 'ROAMGATE_UPSTREAM_TIMEOUT' : 'ROAMGATE_UPSTREAM_REFUSED', `${service} service unavailable: could not reach ${servers.length === 1 ? 'the server' : `any of the ${servers.length} servers`} the gateway named`, { cause: lastError });
  }

  private async connectTunnel(service: LocalService, retry: boolean): Promise<Socket> {
    const lease = this.lease;
    const gateway = this.gatewayUrl;
    if (!lease || !gateway) throw new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `${service} service unavailable: not logged in at the gateway`);
    try {
      return await openTunnel(gateway, service, lease.token, this.options.limits.connectTimeoutMs);
    } catch (thrown) {
      const error = asError(thrown);
      // Within the local proxy this code means the gateway itself could not be reached.
      if (error.code === 'ROAMGATE_UPSTREAM_REFUSED') this.suspectGatewayLost();
      if (error.code !== 'ROAMGATE_LOGIN_REQUIRED') throw error;
      // The gateway no longer knows the token (restarted with a fresh store, or the lease ran out): log in again, once.
      if (this.refusal) throw this.refusal;
      if (!retry || this.leaseEvent === 'revoked' || this.lease !== lease) throw error;
      await this.login().catch((failure: unknown) => {
        throw this.refusal ?? asError(failure);
      });
      return this.connectTunnel(service, false);
    }
  }

  private refuse(service: LocalService, client: Socket, error: RoamgateError): void {
    const reply = refusalFor(service, error);
    const send = () => {
      clearTimeout(timer);
      if (client.writable) client.end(reply);
    };
    // Keep reading, so that what the client still sends never turns the close into a reset that loses the reply.
    client.resume();
    const linger = setTimeout(() => client.destroy(), REFUSAL_LINGER_MS);
    linger.unref();
    client.once('close', () => clearTimeout(linger));
    // A web client speaks first; answer its request rather than racing it.
    const timer = setTimeout(send, service === 'http-proxy' ? REFUSAL_READ_WAIT_MS : 0);
    timer.unref();
    if (service === 'http-proxy') client.once('data', send);
  }

  // ---- the gateway ----------------------------------------------------------

  private mode(): 'direct' | 'gateway' {
    return this.options.mode ?? this.discovered?.mode ?? 'gateway';
  }

  /** Finds the gateway: the configured URL, or a discovery answer from a trusted key. */
  private async locateGateway(): Promise<void> {
    let url: string;
    let event: LocalProxyEvent;
    if (this.options.gateway) {
      url = this.options.gateway;
      event = { type: 'gateway', url, found: 'configured' };
    } else {
      const { discovery } = this.options;
      const pins = this.state.read<Record<string, PinnedNetwork>>(STATE_FILES.networks);
      const mdns = discovery.mdns.enabled && { port: discovery.mdns.port, interfaces: discovery.mdns.interfaces };
      const outcome = await discoverGateway({ port: discovery.port, addresses: discovery.addresses, mdns, windowMs: discovery.windowMs, gatewayKey: discovery.gatewayKey, pins });
      for (const rejected of outcome.rejected) this.report({ type: 'discovery-rejected', network: rejected.name, from: rejected.from, reason: rejected.reason, keyChanged: rejected.keyChanged });
      const found = outcome.gateway;
      if (!found) {
        const where = `UDP port ${discovery.port} at ${discovery.addresses.join(', ')}${mdns ? ` and mDNS port ${mdns.port} on ${mdns.interfaces.length ? mdns.interfaces.join(', ') : 'every interface'}` : ''}`;
        const loud = outcome.rejected.some((rejected) => rejected.keyChanged);
        throw new RoamgateError(
          'ROAMGATE_NO_SERVER',
          loud
            ? `no trusted gateway found: the answers received were rejected (see above); pass --gateway URL to name one, or --forget-network NAME if its key really changed`
            : `no roamgate gateway answered on this network (${where}, for ${discovery.windowMs} ms${outcome.sendErrors.length ? `; could not send to ${outcome.sendErrors.join(', ')}` : ''}): pass --gateway URL, or ask the network's administrator whether its gateway answers discovery`,
        );
      }
      url = found.url.replace(/\/+$/, '');
      if (found.trust === 'new') {
        this.state.update<Record<string, PinnedNetwork>>(STATE_FILES.networks, (current) => ({ ...current, [found.name]: { publicKey: found.publicKey, pinnedAt: new Date().toISOString(), url } }));
      }
      event = { type: 'gateway', url, found: 'discovery', network: found.name, trust: found.trust, publicKey: found.publicKey, via: found.via };
    }
    if (url !== this.gatewayUrl) {
      // A lease is one gateway's: its token is never shown to another one (it is saved under its gateway's URL).
      if (this.gatewayUrl !== null && this.lease) {
        this.formerUser = this.lease.user;
        this.lease = null;
        clearTimeout(this.renewTimer);
      }
      this.gatewayUrl = url;
      this.client = new GatewayClient(url, this.options.limits.requestTimeoutMs);
      this.report(event);
    }
  }

  /** Fetches /discover; announces routes that changed when asked. */
  private async refreshRoutes(announce: boolean): Promise<void> {
    const client = this.client!;
    const answer = await client.discover();
    if (client !== this.client) return;
    this.discovered = answer;
    if (announce) this.announceRoutes();
  }

  /** One line per service whose route differs from the last one announced. */
  private announceRoutes(): void {
    if (!this.discovered) return;
    for (const service of this.options.services) {
      const address = this.listeners[service];
      if (!address) continue;
      const target = this.route(service);
      const words = `${this.mode()} ${describeTarget(service, target)}`;
      if (this.announced.get(service) === words) continue;
      this.announced.set(service, words);
      this.report({ type: 'route', service, address: hostPort(address), mode: this.mode(), target });
    }
  }

  // ---- the lease ------------------------------------------------------------

  private savedLease(): SavedLease | undefined {
    if (!this.gatewayUrl) return undefined;
    const saved = this.state.read<Record<string, SavedLease>>(STATE_FILES.leases)[this.gatewayUrl];
    if (!saved || typeof saved.token !== 'string' || typeof saved.id !== 'string' || typeof saved.user !== 'string') return undefined;
    if (saved.login !== undefined && typeof saved.login !== 'string') return undefined;
    // Matched on the name given at login (the gateway may spell the user's id otherwise).
    if (this.options.user && (saved.login ?? saved.user) !== this.options.user) return undefined;
    return saved;
  }

  private saveLease(lease: Lease | null): void {
    const gateway = this.gatewayUrl!;
    this.state.update<Record<string, SavedLease>>(STATE_FILES.leases, (leases) => {
      const next = { ...leases };
      if (lease) next[gateway] = { user: lease.user, token: lease.token, id: lease.id, expiresAt: lease.expiresAt, ...(lease.login ? { login: lease.login } : {}) };
      else delete next[gateway];
      return next;
    });
  }

  /** Makes sure a live lease is held at the current gateway when one is wanted: the current one, the saved one, or a new login. */
  private async ensureLease(): Promise<void> {
    const client = this.client!;
    if (this.refusal) return;
    if (this.lease && (await client.leaseAlive(this.lease.token))) return;
    const saved = this.savedLease();
    if (saved && (!this.lease || saved.token !== this.lease.token) && (await client.leaseAlive(saved.token))) {
      this.useLease(saved);
      this.report({ type: 'login', user: saved.user, gateway: client.url, expiresAt: saved.expiresAt, reused: true });
      return;
    }
    if (!this.options.user && !this.lease && !saved && !this.formerUser) {
      this.lease = null;
      return;
    }
    await this.login();
  }

  private async passwordFor(user: string): Promise<string> {
    if (this.password !== undefined) return this.password;
    const given = this.options.password;
    if (typeof given === 'string') return given;
    if (typeof given === 'function') return given();
    throw new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `no password to log in as ${user}: use --password-file FILE or set ROAMGATE_PASSWORD`);
  }

  /** Logs in with the user's password (one login at a time, however many connections need it). */
  private login(): Promise<void> {
    this.loggingIn ??= this.loginNow().finally(() => {
      this.loggingIn = null;
    });
    return this.loggingIn;
  }

  /** A refusal (wrong password, no password to be had) makes every client be refused with the reason until restart. */
  private async loginNow(): Promise<void> {
    const client = this.client!;
    const saved = this.savedLease();
    const user = this.options.user ?? this.lease?.login ?? this.lease?.user ?? this.formerUser ?? saved?.login ?? saved?.user;
    if (!user) throw new RoamgateError('ROAMGATE_LOGIN_REQUIRED', 'not logged in at the gateway and no user to log in as: pass --user NAME');
    let password: string;
    try {
      password = await this.passwordFor(user);
    } catch (error) {
      this.refusal = new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `roamgate needs to log in as ${user} again but has no password: ${(error as Error).message}`);
      throw error;
    }
    // Stopped while the password was being read, or while the gateway was looked for: send it nowhere.
    if (this.stopping.signal.aborted) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'roamgate local is stopping');
    let lease: Lease;
    try {
      lease = { ...(await client.login(user, password)), login: user };
    } catch (error) {
      if ((error as RoamgateError).code === 'ROAMGATE_ACCESS_DENIED') {
        this.password = undefined;
        this.refusal = new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `roamgate could not log in as ${user} (wrong user name or password); restart roamgate local with the right password`);
      }
      throw error;
    }
    this.password = password;
    this.useLease(lease);
    this.saveLease(lease);
    this.report({ type: 'login', user: lease.user, gateway: client.url, expiresAt: lease.expiresAt, reused: false });
  }

  private useLease(lease: Lease): void {
    this.lease = { user: lease.user, token: lease.token, id: lease.id, expiresAt: lease.expiresAt, ...(lease.login ? { login: lease.login } : {}) };
    this.leaseEvent = null;
    this.scheduleRenewal();
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const lease = this.lease;
    if (!lease || this.stopping.signal.aborted) return;
    const remaining = Date.parse(lease.expiresAt) - Date.now();
    // A saved lease written by hand may hold anything: an unreadable expiry is renewed after the longest retry wait.
    const delay = Number.isFinite(remaining) ? Math.min(MAX_TIMER_MS, Math.max(1_000, Math.floor(remaining * LEASE_RENEW_AT))) : this.options.limits.reconnectMaxMs;
    this.renewTimer = setTimeout(() => void this.renew(lease), delay);
    this.renewTimer.unref();
  }

  private async renew(lease: Lease): Promise<void> {
    if (this.lease !== lease || !this.client) return;
    try {
      const expiresAt = await this.client.renew(lease);
      if (this.lease !== lease) return;
      if (expiresAt === null) {
        if (this.leaseEvent !== 'revoked') await this.login();
        return;
      }
      lease.expiresAt = expiresAt;
      this.saveLease(lease);
      this.scheduleRenewal();
    } catch {
      // The gateway is unreachable or refused: the watch loop deals with that; try again later.
      if (this.lease === lease) {
        this.renewTimer = setTimeout(() => void this.renew(lease), this.options.limits.reconnectMaxMs);
        this.renewTimer.unref();
      }
    }
  }

  // ---- staying current ------------------------------------------------------

  /** A tunnel could not reach the gateway: stop waiting for the event stream to notice. */
  private suspectGatewayLost(): void {
    this.following?.abort();
  }

  private async watch(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      try {
        await this.followOnce();
        if (stop.aborted || this.leaseEvent === 'revoked') return;
      } catch (error) {
        if (stop.aborted) return;
        if (this.refusal && (error as RoamgateError).code !== 'ROAMGATE_UPSTREAM_REFUSED') {
          this.report({ type: 'error', message: (error as Error).message });
          return;
        }
        this.report({ type: 'gateway-lost', gateway: this.gatewayUrl ?? '', reason: (error as Error).message });
        if (!(await this.recover())) return;
      }
    }
  }

  /**
   * One round: follow the event stream until it ends (with a lease), or wait
   * one poll interval and fetch /discover (without). Throws when the gateway
   * is gone; returns when a round ended in order.
   */
  private async followOnce(): Promise<void> {
    const stop = this.stopping.signal;
    const client = this.client!;
    const lease = this.lease;
    if (!lease || this.refusal) {
      await sleep(this.options.limits.discoverPollMs, stop);
      if (!stop.aborted) await this.refreshRoutes(true);
      return;
    }
    this.following = new AbortController();
    let openedAt: number | undefined;
    const onStop = () => this.following?.abort();
    stop.addEventListener('abort', onStop);
    if (stop.aborted) onStop();
    try {
      const end = await client.follow(
        lease.token,
        {
          // Changes made while the stream was down are picked up now.
          onOpen: () => {
            openedAt = Date.now();
            this.refusedStreams = 0;
            void this.refreshRoutes(true).catch(() => undefined);
          },
          onEvent: (event) => this.onGatewayEvent(event.event, event.data),
        },
        this.options.limits.eventsSilenceMs,
        this.following.signal,
      );
      if (end === 'stopped') {
        if (!stop.aborted) throw new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', 'a connection through it failed');
        return;
      }
      if (this.leaseEvent === 'revoked') return;
      if (end === 'unauthorized' || this.leaseEvent === 'expired') {
        if (end === 'unauthorized' && ++this.refusedStreams > 1) {
          // Refused again with the lease just issued (a proxy in front of the gateway that drops the
          // token, or leases that end as soon as issued): log in again only after a growing wait.
          if (this.refusedStreams === 2) this.report({ type: 'error', message: `the gateway ${client.url} refuses its event stream even to a fresh lease; trying again every ${Math.round(this.options.limits.reconnectMaxMs / 1000)} s at most` });
          await this.backOff();
          if (stop.aborted) return;
        }
        // The gateway no longer knows the lease (it expired, or the gateway restarted with a fresh store).
        await this.login();
        this.announceRoutes();
        return;
      }
      throw new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', 'its event stream ended');
    } finally {
      stop.removeEventListener('abort', onStop);
      this.following = null;
      // Only a stream that held for a while shows the gateway is well again: then retries start from the shortest wait.
      if (openedAt !== undefined && Date.now() - openedAt >= this.options.limits.reconnectMaxMs) this.retryDelayMs = this.options.limits.reconnectMinMs;
    }
  }

  private onGatewayEvent(name: string, data: string): void {
    if (name === 'servers') {
      void this.refreshRoutes(true).catch(() => undefined);
      return;
    }
    if (name !== 'lease') return;
    let state: unknown;
    try {
      state = (JSON.parse(data) as { state?: unknown }).state;
    } catch {
      return;
    }
    const lease = this.lease;
    if (!lease || (state !== 'revoked' && state !== 'expired')) return;
    this.leaseEvent = state;
    this.report({ type: 'lease-ended', user: lease.user, state });
    if (state === 'revoked') {
      clearTimeout(this.renewTimer);
      this.refusal = new RoamgateError('ROAMGATE_LOGIN_REQUIRED', `the gateway revoked the roamgate lease of ${lease.user}; restart roamgate local to log in again`);
      this.saveLease(null);
    }
  }

  /** Finds the gateway again (discovery or the configured URL), refreshes routes and the lease. False when it should stop trying. */
  private async recover(): Promise<boolean> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      await this.backOff();
      if (stop.aborted) return false;
      try {
        await this.locateGateway();
        if (stop.aborted) return false;
        await this.refreshRoutes(false);
        if (stop.aborted) return false;
        await this.ensureLease();
        this.announceRoutes();
        return true;
      } catch (error) {
        if (this.refusal) {
          this.report({ type: 'error', message: (error as Error).message });
          this.announceRoutes();
          return !this.refusal;
        }
      }
    }
    return false;
  }

  /**
   * Waits the current retry delay, then doubles it (up to reconnectMaxMs).
   * The delay is kept across rounds, so a gateway that is found but whose
   * stream fails at once is not asked again and again at the shortest wait.
   */
  private async backOff(): Promise<void> {
    await sleep(this.retryDelayMs, this.stopping.signal);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.options.limits.reconnectMaxMs);
  }

  // ---- stopping ---------------------------------------------------------------

  stop(how: { quiet?: boolean } = {}): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping.abort();
      clearTimeout(this.renewTimer);
      const closing = [...this.servers.values()].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const socket of this.sockets) socket.destroy();
      for (const server of this.servers.values()) if ('closeAllConnections' in server) server.closeAllConnections();
      await Promise.all(closing);
      await this.watching?.catch(() => undefined);
      if (!how.quiet) this.report({ type: 'stopped' });
    })();
    return this.stopped;
  }
}

function hostPort(address: ListenerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
