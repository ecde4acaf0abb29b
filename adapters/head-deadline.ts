import type { Socket } from 'node:net';
import { endWithLastWord } from '../net/last-word';
import { formatHttpResponse } from '../protocols/http/status';

interface Watched {
  timer: NodeJS.Timeout | undefined;
  /** Requests whose head is complete and whose response is not done yet. */
  inProgress: number;
}

/**
 * An absolute deadline for every request head on the web proxy's
 * connections. Node arms `headersTimeout` only for a server that listens,
 * and the proxy's http.Server never does (its sockets are handed to it), so
 * the deadline is kept here: armed when a connection is handed over and
 * again whenever it has no request in progress; a head not complete in time
 * is answered 408 and the connection closed, however slowly its bytes
 * trickle in (each byte would re-arm an idle timer).
 */
export class HeadDeadlines {
  private readonly watched = new WeakMap<Socket, Watched>();

  constructor(private readonly timeoutMs: number) {}

  /** Starts the deadline for the connection's first request head. */
  watch(socket: Socket): void {
    const entry: Watched = { timer: undefined, inProgress: 0 };
    this.watched.set(socket, entry);
    socket.once('close', () => clearTimeout(entry.timer));
    this.arm(socket, entry);
  }

  /**
   * A request head is complete: no deadline while its request runs. Returns
   * what to call when its response is done (the next head's deadline starts
   * when no request is left in progress).
   */
  headComplete(socket: Socket): () => void {
    const entry = this.watched.get(socket);
    if (!entry) return () => undefined;
    clearTimeout(entry.timer);
    entry.inProgress++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.inProgress--;
      if (entry.inProgress === 0 && !socket.destroyed) this.arm(socket, entry);
    };
  }

  private arm(socket: Socket, entry: Watched): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      const reply = formatHttpResponse(408, `request head not complete within ${this.timeoutMs} ms`);
      void endWithLastWord(socket, reply);
    }, this.timeoutMs);
    entry.timer.unref();
  }
}
