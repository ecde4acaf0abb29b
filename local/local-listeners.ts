import type { Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { RoamgateError } from '../errors';
import { endWithLastWord } from '../net/last-word';
import { OpenList } from '../net/open-list';
import { relay } from '../net/relay';
import type { ListenerName, LocalService, NormalizedLocalOptions } from './options';
import { pacFile, pacServer } from './pac-file';
import { bindFirst, portCandidates } from './port-choice';
import { refusalFor } from './refusals';
import { STATE_FILES, type StateDir } from './state-dir';

/** How long a refused web-proxy client gets to send its request before the refusal is written anyway (ms). */
export const REFUSAL_READ_WAIT_MS = 1_000;

/** Where one listener is bound. */
export interface ListenerAddress {
  host: string;
  port: number;
}

/** Opens the upstream side for a client of `service`; rejects with a RoamgateError the client is told in its protocol. */
export type ConnectUpstream = (service: LocalService) => Promise<Socket>;

/**
 * The loopback listeners of a local proxy, one per service (and the PAC
 * file): bound on the given, remembered or standard ports; each client
 * connection relayed to what `connect` opens, or refused in its protocol.
 */
export class LocalListeners {
  /** Where each listener is bound. */
  readonly addresses: Partial<Record<ListenerName, ListenerAddress>> = {};
  private readonly servers = new Map<ListenerName, Server | HttpServer>();
  /** Open client and upstream sockets, cut on close. */
  private readonly sockets = new OpenList<Socket>();

  constructor(
    private readonly options: NormalizedLocalOptions,
    private readonly state: StateDir,
    private readonly connect: ConnectUpstream,
    private readonly closing: AbortSignal,
  ) {}

  /** Binds every listener; ports chosen automatically are remembered. Throws the port error (ROAMGATE_PORT_IN_USE, ...). */
  async bind(): Promise<void> {
    const remembered = this.state.read<Record<string, number>>(STATE_FILES.ports);
    const chosen: Record<string, number> = {};
    const names: ListenerName[] = [...this.options.services, ...(this.options.pac ? (['pac'] as const) : [])];
    for (const name of names) {
      const server: Server | HttpServer =
        name === 'pac'
          ? pacServer(() => pacFile(this.options.host, this.addresses['http-proxy']?.port ?? 0))
          : createServer((socket) => void this.accept(name, socket));
      const rememberedPort = remembered[name];
      const candidates = portCandidates(name, {
        explicit: this.options.listen[name],
        remembered: Number.isInteger(rememberedPort) && rememberedPort > 0 && rememberedPort < 65536 ? rememberedPort : undefined,
        tryStandard: this.options.tryStandardPorts,
      });
      const bound = await bindFirst(server, name, this.options.host, candidates, this.state.file(STATE_FILES.ports));
      this.servers.set(name, server);
      this.addresses[name] = { host: this.options.host, port: bound.port };
      if (bound.origin === 'standard' || bound.origin === 'default') chosen[name] = bound.port;
    }
    if (Object.keys(chosen).length) this.state.update<Record<string, number>>(STATE_FILES.ports, (ports) => ({ ...ports, ...chosen }));
  }

  /** Stops accepting and cuts every open connection. */
  async close(): Promise<void> {
    const closed = [...this.servers.values()].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of this.sockets.values()) socket.destroy();
    for (const server of this.servers.values()) if ('closeAllConnections' in server) server.closeAllConnections();
    await Promise.all(closed);
  }

  private async accept(service: LocalService, client: Socket): Promise<void> {
    this.track(client);
    client.on('error', () => undefined);
    client.setNoDelay(true);
    let upstream: Socket;
    try {
      upstream = await this.connect(service);
    } catch (error) {
      return this.refuse(service, client, error as RoamgateError);
    }
    if (client.destroyed || this.closing.aborted) {
      upstream.destroy();
      return;
    }
    this.track(upstream);
    await relay(client, upstream, this.options.limits.idleTimeoutMs);
  }

  private track(socket: Socket): void {
    const entry = this.sockets.add(socket);
    socket.once('close', () => entry.remove());
  }

  private refuse(service: LocalService, client: Socket, error: RoamgateError): void {
    const reply = refusalFor(service, error);
    let sent = false;
    const send = () => {
      if (sent) return;
      sent = true;
      clearTimeout(timer);
      void endWithLastWord(client, reply);
    };
    // Keep reading, so that what the client still sends never turns the close into a reset that loses the reply.
    client.resume();
    // A web client speaks first; answer its request rather than racing it.
    const timer = setTimeout(send, service === 'http-proxy' ? REFUSAL_READ_WAIT_MS : 0);
    timer.unref();
    if (service === 'http-proxy') client.once('data', send);
  }
}
