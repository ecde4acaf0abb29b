/**
 * The servers behind the gateway during the soak. Each greets as its protocol's server would (or not at all,
 * for the web proxy's CONNECT destination), a POP3 one first takes USER/PASS, an IMAP one AUTHENTICATE PLAIN
 * with its initial response (as the imap adapter logs in where SASL-IR is offered), and then every one speaks the
 * soak exchange: the client sends `SOAK <length>` and that many payload bytes; the server echoes each byte as
 * it arrives, then reports the SHA-256 of what it received (`SHA256 <hex>`) and closes. The server closing
 * first keeps TIME_WAIT on the listening side, so tens of thousands of connections spend no ephemeral ports.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { encodePlain } from '../../protocols/sasl';
import { listenTcp } from '../helpers/net';

/** Longest line before the payload (greeting replies, `SOAK <length>`) the server reads (bytes). */
const MAX_LINE = 1024;
/** Largest payload a client may announce (bytes). */
export const MAX_SOAK_PAYLOAD = 1024 * 1024;

export interface UpstreamOptions {
  /** The line the server greets with (without CRLF), or none. */
  greeting?: string;
  /** Take `USER <id>` and `PASS <password>` first, as a POP3 server does, and refuse anything else. */
  pop3Login?: { user: string; password: string };
  /** Take `<tag> AUTHENTICATE PLAIN <initial response>` first, as an IMAP server offering SASL-IR does, and refuse anything else. */
  imapLogin?: { user: string; password: string };
}

/** What a soak upstream saw: every count only grows. */
export interface UpstreamCounts {
  connections: number;
  /** Exchanges whose payload arrived whole (the client's hash comparison says whether it arrived intact). */
  completed: number;
  logins: number;
  /** Connections that broke the exchange: a wrong login, a malformed line, bytes past the payload. */
  protocolErrors: number;
  payloadBytes: number;
}

type Stage =
  | { name: 'login'; user: string | null }
  | { name: 'announce' }
  | { name: 'payload'; left: number; hash: Hash }
  | { name: 'done' };

/** One connection's exchange, fed the bytes the server reads. */
class Exchange {
  private pending: Buffer = Buffer.alloc(0);
  private stage: Stage;

  constructor(
    private readonly socket: Socket,
    private readonly options: UpstreamOptions,
    private readonly counts: UpstreamCounts,
  ) {
    this.stage = options.pop3Login || options.imapLogin ? { name: 'login', user: null } : { name: 'announce' };
    if (options.greeting !== undefined) socket.write(`${options.greeting}\r\n`);
  }

  onData(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      const stage = this.stage;
      if (stage.name === 'payload') data = this.payload(stage, data);
      else if (stage.name === 'done') return this.broken();
      else {
        const newline = data.indexOf(0x0a);
        if (newline === -1) {
          if (data.length > MAX_LINE) return this.broken();
          this.pending = Buffer.from(data);
          return;
        }
        const line = data.subarray(0, newline).toString('latin1').replace(/\r$/, '');
        data = data.subarray(newline + 1);
        if (!this.line(stage, line)) return this.broken();
      }
    }
  }

  private line(stage: Stage, line: string): boolean {
    const imap = this.options.imapLogin;
    if (stage.name === 'login' && imap) {
      const [tag, command, mechanism, response] = line.split(' ');
      if (command !== 'AUTHENTICATE' || mechanism !== 'PLAIN' || response !== encodePlain(imap.user, imap.password)) return false;
      this.counts.logins++;
      this.stage = { name: 'announce' };
      this.socket.write(`${tag} OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n`);
      return true;
    }
    const login = this.options.pop3Login;
    if (stage.name === 'login' && login) {
      const [verb, ...rest] = line.split(' ');
      if (verb === 'USER' && rest.join(' ') === login.user) {
        this.stage = { name: 'login', user: login.user };
        this.socket.write('+OK\r\n');
        return true;
      }
      if (verb !== 'PASS' || stage.user === null || rest.join(' ') !== login.password) return false;
      this.counts.logins++;
      this.stage = { name: 'announce' };
      this.socket.write('+OK soak-upstream mailbox open\r\n');
      return true;
    }
    const announced = /^SOAK ([0-9]{1,7})$/.exec(line);
    const length = announced ? Number(announced[1]) : -1;
    if (stage.name !== 'announce' || length < 1 || length > MAX_SOAK_PAYLOAD) return false;
    this.stage = { name: 'payload', left: length, hash: createHash('sha256') };
    return true;
  }

  /** Echoes and hashes payload bytes; returns what is left of `data` past the payload (which breaks the exchange). */
  private payload(stage: Stage & { name: 'payload' }, data: Buffer): Buffer {
    const part = data.length > stage.left ? data.subarray(0, stage.left) : data;
    stage.hash.update(part);
    stage.left -= part.length;
    this.counts.payloadBytes += part.length;
    this.socket.write(part);
    if (stage.left === 0) {
      this.stage = { name: 'done' };
      this.counts.completed++;
      this.socket.end(`SHA256 ${stage.hash.digest('hex')}\r\n`);
    }
    return data.subarray(part.length);
  }

  private broken(): void {
    this.counts.protocolErrors++;
    this.stage = { name: 'done' };
    this.socket.destroy();
  }
}

/** Starts one soak upstream on 127.0.0.1:0. */
export async function startSoakUpstream(options: UpstreamOptions) {
  const counts: UpstreamCounts = { connections: 0, completed: 0, logins: 0, protocolErrors: 0, payloadBytes: 0 };
  const server = await listenTcp((socket) => {
    counts.connections++;
    const exchange = new Exchange(socket, options, counts);
    socket.on('data', (chunk: Buffer) => exchange.onData(chunk));
  });
  return { ...server, counts };
}

export type SoakUpstream = Awaited<ReturnType<typeof startSoakUpstream>>;
