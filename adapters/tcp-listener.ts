import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { endWithLastWord } from '../net/last-word';
import { setListenerNoDelay } from '../net/listener-nodelay';
import { ClientsPerAddress, type ClientLimits, type SharedPlaces } from './client-limits';
import { type OpenEntry, OpenList } from '../net/open-list';

export interface TcpListenerOptions extends Required<ClientLimits> {
  host: string;
  port: number;
  /** Serves one accepted connection; calls `over.done()` when it is over. Must not throw. */
  handle: ConnectionHandler;
  /** The answer (in the listener's protocol) to a client over `maxClients`, before it is closed. */
  excessReply: string;
  /** The answer (in the listener's protocol) to a client whose address is over `maxClientsPerAddress`. */
  addressExcessReply: string;
  /** In a fleet: the places the other processes hold per address, so that `maxClientsPerAddress` holds for all. */
  shared?: SharedPlaces;
  /**
   * TCP_NODELAY on every accepted socket (a protocol of short lines, each to go out as it comes): on Linux set once on
   * the listening socket and inherited (see net/listener-nodelay.ts), elsewhere set per socket.
   */
  noDelay?: boolean;
}

/**
 * What a handler tells its listener: `done()` when the connection is over, which
 * frees its place among `maxClients` and its address's (once: later calls do
 * nothing). A handler run as one state object calls it itself, with no promise
 * or closure of its own per connection; see {@link untilSettled} for one that
 * returns a promise.
 */
export interface ConnectionOver {
  done(): void;
}

/** Serves one accepted connection (see ConnectionOver). */
export type ConnectionHandler = (socket: Socket, over: ConnectionOver) => void;

/**
 * A handler from one that resolves when its connection is over. It must not
 * reject; if it does, the place is freed and the rejection still propagates.
 */
export function untilSettled(handle: (socket: Socket) => Promise<void>): ConnectionHandler {
  return (socket, over) =>
    void handle(socket).then(
      () => over.done(),
      (error: unknown) => {
        over.done();
        throw error;
      },
    );
}

/**
 * One TCP port: accepts, enforces the client limits (in all and per address),
 * tracks live connections so that close() can stop accepting, let them finish
 * for a grace period and then cut what is left.
 */
export class TcpListener {
  /** The listening socket; null once handed over to the listener that replaces this one (see handOver). */
  private server: Server | null;
  /** The accepted connections whose handler has not finished (not a Map: see net/open-list.ts). */
  private readonly live = new OpenList<LiveConnection>();
  /** What close() waits on while connections are live, settled by the last one to end. */
  private drain: { ended: Promise<void>; resolve: () => void } | undefined;
  private readonly perAddress: ClientsPerAddress;
  /** Whether the accepted sockets inherit TCP_NODELAY from the listening socket (so none is set per socket). */
  private noDelayInherited = false;

  constructor(private readonly options: TcpListenerOptions) {
    this.server = createServer(this.accept);
    this.perAddress = new ClientsPerAddress(options.maxClientsPerAddress, options.loopbackExempt, options.shared);
  }

  /** Live connections right now. */
  get connections(): number {
    return this.live.size;
  }

  listen(): Promise<AddressInfo> {
    const server = this.server;
    if (!server) return Promise.reject(new Error('this listener handed its port over'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.host, port: this.options.port }, () => {
        server.removeListener('error', reject);
        this.noDelayInherited = this.options.noDelay === true && setListenerNoDelay(server);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  /**
   * Hands this listener's bound port to `next` (a listener for the same host
   * and port, with new settings: a reload): from now on `next` accepts, with
   * its own handler and limits, and the port is never closed in between. The
   * connections open here stay here; close() then only drains them.
   */
  handOver(next: TcpListener): void {
    const server = this.server;
    if (!server || !next.server || next.server.listening) throw new Error('handOver needs a bound listener and an unbound one');
    server.removeListener('connection', this.accept);
    server.on('connection', next.accept);
    next.server = server;
    // The listening socket keeps its options: set TCP_NODELAY on it now if the next one asks and it was not set.
    next.noDelayInherited = next.options.noDelay === true && (this.noDelayInherited || setListenerNoDelay(server));
    this.server = null;
  }

  /**
   * Stops accepting; waits up to `graceMs` for live connections, then destroys
   * them. `Infinity` waits for them however long they last (a reload's drain:
   * each relay still ends at its idle timeout).
   */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (this.live.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        if (graceMs !== Number.POSITIVE_INFINITY) timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([this.drained(), grace]);
      clearTimeout(timer);
      for (const connection of this.live.values()) connection.socket.destroy();
      await this.drained();
    }
    await closed;
  }

  /** Resolves once no connection is live (at once when none is). */
  private drained(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    if (!this.drain) {
      let resolve!: () => void;
      const ended = new Promise<void>((settle) => {
        resolve = settle;
      });
      this.drain = { ended, resolve };
    }
    return this.drain.ended;
  }

  /** The last live connection has ended: close()'s wait is over. */
  private readonly lastEnded = (): void => {
    this.drain?.resolve();
    this.drain = undefined;
  };

  private readonly accept = (socket: Socket): void => {
    socket.on('error', ignoreError);
    if (this.options.noDelay && !this.noDelayInherited) socket.setNoDelay(true);
    if (this.live.size >= this.options.maxClients) {
      // Not tracked, so bounded by the linger: a client that never hangs up must not hold its descriptor for ever.
      void endWithLastWord(socket, this.options.excessReply);
      return;
    }
    const givePlaceBack = this.perAddress.take(socket.remoteAddress);
    if (!givePlaceBack) {
      void endWithLastWord(socket, this.options.addressExcessReply);
      return;
    }
    const connection = new LiveConnection(this.live, socket, givePlaceBack, this.lastEnded);
    try {
      this.options.handle(socket, connection);
    } catch (error) {
      connection.done();
      throw error;
    }
  };
}

/**
 * An accepted connection while its handler runs: its entry among the live
 * ones and its place at its address, given back by done(). It is what the
 * handler is handed as its ConnectionOver.
 */
class LiveConnection implements ConnectionOver {
  private readonly entry: OpenEntry<LiveConnection>;

  constructor(
    private readonly live: OpenList<LiveConnection>,
    readonly socket: Socket,
    private readonly givePlaceBack: () => void,
    private readonly lastEnded: () => void,
  ) {
    this.entry = live.add(this);
  }

  done(): void {
    if (!this.entry.open) return;
    this.entry.remove();
    this.givePlaceBack();
    if (this.live.size === 0) this.lastEnded();
  }
}

/** Errors on an accepted socket are the handler's business; this only keeps them from being unhandled. */
function ignoreError(): void {}
