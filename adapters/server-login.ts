import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import type { ServerAction, ServerDialogue } from '../protocols/dialogue';
import { type LineEvent, LineReader } from '../protocols/line-reader';
import type { ServerInfo } from '../server-info';
import { asRoamgateError } from './connection-attempt';
import { startServerTls } from './tls';

/** Longest line accepted from a server during the login towards it. */
export const SERVER_LINE_MAX_LENGTH = 8192;

/**
 * Logs in at the server: feeds its lines to the server dialogue and carries
 * out what it asks (send, STARTTLS), until it is ready or has failed. Resolves
 * with the socket to relay on (a TLS socket after STARTTLS), paused, with any
 * bytes the server sent after its last login reply put back.
 */
export function completeServerLogin(socket: Socket, dialogue: ServerDialogue, server: ServerInfo, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => new ServerLogin(socket, dialogue, server, timeoutMs, resolve, reject).attach());
}

/** One login at a server, from its greeting to ready or failed. */
class ServerLogin {
  private reader = new LineReader(SERVER_LINE_MAX_LENGTH);
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  /** The events of the chunk being read, and where the line being handled is in them: what follows the last login reply belongs to the relay. */
  private events: LineEvent[] = [];
  private at = 0;

  constructor(
    private current: Socket,
    private readonly dialogue: ServerDialogue,
    private readonly server: ServerInfo,
    timeoutMs: number,
    private readonly resolve: (socket: Socket) => void,
    private readonly reject: (error: RoamgateError) => void,
  ) {
    this.timer = setTimeout(
      () => this.fail(refused('server did not complete the login in time', 'ROAMGATE_UPSTREAM_TIMEOUT')),
      timeoutMs * 2,
    );
    this.timer.unref();
  }

  private readonly onData = (chunk: Buffer): void => {
    const events = this.reader.push(chunk);
    this.events = events;
    for (this.at = 0; this.at < events.length; this.at++) {
      const event = events[this.at];
      if (event.kind === 'too-long') return this.fail(refused('server sent an overlong line during login'));
      if (!this.run(this.dialogue.onLine(event.line))) return;
    }
  };

  private readonly onError = (error: Error): void => {
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    this.fail(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `server connection failed: ${code}`, { cause: error }));
  };

  private readonly onClose = (): void => this.fail(refused('server closed the connection during login'));

  attach(): void {
    this.current.on('data', this.onData);
    this.current.on('error', this.onError);
    this.current.once('close', this.onClose);
    // A socket from a tunnel hop arrives paused (its first bytes put back); a 'data' listener alone would not start it.
    this.current.resume();
  }

  private detach(): void {
    this.current.removeListener('data', this.onData);
    this.current.removeListener('error', this.onError);
    this.current.removeListener('close', this.onClose);
  }

  /** Carries out the dialogue's actions; false once the login is over or waits for TLS. */
  private run(actions: ServerAction[]): boolean {
    for (const action of actions) {
      if (this.settled) return false;
      switch (action.kind) {
        case 'send':
          this.current.write(action.data);
          break;
        case 'failed':
          this.fail(refused(action.reason, action.authentication ? 'ROAMGATE_ACCESS_DENIED' : 'ROAMGATE_UPSTREAM_REFUSED'));
          return false;
        case 'ready':
          this.ready();
          return false;
        case 'starttls':
          this.startTls();
          return false;
      }
    }
    return true;
  }

  private ready(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.detach();
    // Usually nothing: a server says nothing more until the client's first command.
    let lines = '';
    for (let next = this.at + 1; next < this.events.length; next++) {
      const event = this.events[next]!;
      if (event.kind === 'line') lines += `${event.line}\r\n`;
    }
    const partial = this.reader.takeRemainder();
    if (lines.length + partial.length > 0) this.current.unshift(Buffer.concat([Buffer.from(lines, 'latin1'), partial]));
    this.current.pause();
    this.resolve(this.current);
  }

  private startTls(): void {
    this.detach();
    // Nothing read before the handshake is carried into the TLS session.
    this.reader = new LineReader(SERVER_LINE_MAX_LENGTH);
    this.events = [];
    startServerTls(this.current, this.server.host, this.server.tls ?? { mode: 'starttls' }).then(
      (secure) => {
        this.current = secure;
        this.attach();
        this.run(this.dialogue.tlsStarted());
      },
      (error: unknown) => this.fail(asRoamgateError(error)),
    );
  }

  private fail(error: RoamgateError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.detach();
    this.current.destroy();
    this.reject(error);
  }
}

function refused(
  reason: string,
  code: 'ROAMGATE_UPSTREAM_REFUSED' | 'ROAMGATE_UPSTREAM_TIMEOUT' | 'ROAMGATE_ACCESS_DENIED' = 'ROAMGATE_UPSTREAM_REFUSED',
): RoamgateError {
  return new RoamgateError(code, reason);
}
