/**
 * One soak connection from the client's side: open it through an adapter (each adapter's own opening: a
 * greeting, an in-protocol login, a CONNECT), then the soak exchange with the upstream (soak-upstream.ts),
 * and judge it: `ok` when the echo and the upstream's SHA-256 both match the payload's, `mismatch` when any
 * byte was lost, added or altered, `failed` (with a reason) when the connection never got that far.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export type SoakAdapter = 'smtp' | 'pop3' | 'imap' | 'nntp' | 'http-proxy' | 'tunnel';

export type Outcome = { kind: 'ok' } | { kind: 'mismatch'; reason: string } | { kind: 'failed'; reason: string };

/** Bytes of the upstream's closing report: `SHA256 `, 64 hex digits, CRLF. */
const REPORT_LENGTH = 7 + 64 + 2;

/** A client socket read as a conversation: lines, an HTTP head, the rest up to the server's close. */
export class Conversation {
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.wake?.();
    });
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    socket.on('error', (error) => this.finish(error));
  }

  finish(error?: Error): void {
    this.failure ??= error;
    this.ended = true;
    this.wake?.();
  }

  /** Waits until `end(buffer)` finds where what is wanted ends; takes those bytes off the buffer. */
  private async take(end: (buffer: Buffer) => number, what: string): Promise<Buffer> {
    for (;;) {
      const at = end(this.buffer);
      if (at >= 0) {
        const taken = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at);
        return taken;
      }
      if (this.ended) throw new Error(`${this.failure ? this.failure.message : 'closed'} while waiting for ${what}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  async line(): Promise<string> {
    const line = await this.take((buffer) => (buffer.indexOf(0x0a) === -1 ? -1 : buffer.indexOf(0x0a) + 1), 'a line');
    return line.toString('latin1').replace(/\r?\n$/, '');
  }

  async head(): Promise<string> {
    const head = await this.take((buffer) => (buffer.indexOf('\r\n\r\n') === -1 ? -1 : buffer.indexOf('\r\n\r\n') + 4), 'an HTTP head');
    return head.toString('latin1');
  }

  /** Everything up to the server's close. */
  async rest(): Promise<Buffer> {
    const rest = await this.take((buffer) => (this.ended ? buffer.length : -1), 'the end of the exchange');
    if (this.failure) throw this.failure;
    return rest;
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }
}

/** Where and how to open each adapter's connections. */
export interface SoakTarget {
  port: number;
  open(conversation: Conversation): Promise<void>;
}

/** Reads a line and checks it; a refusal or anything unexpected fails the connection with what was said. */
async function expectLine(conversation: Conversation, pattern: RegExp, step: string): Promise<void> {
  const line = await conversation.line();
  if (!pattern.test(line)) throw new Error(`${step}: ${JSON.stringify(line.slice(0, 120))}`);
}

async function expectHead(conversation: Conversation, step: string): Promise<void> {
  const head = await conversation.head();
  if (!/^HTTP\/1\.1 200 /.test(head)) throw new Error(`${step}: ${JSON.stringify(head.split('\r\n')[0].slice(0, 120))}`);
}

/** The openings the soak drives: what a client says and hears through each adapter before its payload. */
export function soakTargets(
  ports: Record<'smtp' | 'pop3' | 'imap' | 'nntp' | 'http-proxy' | 'http', number>,
  web: number,
  login: { user: string; password: string; token: string },
): Record<SoakAdapter, SoakTarget> {
  return {
    smtp: { port: ports.smtp, open: (c) => expectLine(c, /^220 soak-upstream /, 'smtp greeting') },
    nntp: { port: ports.nntp, open: (c) => expectLine(c, /^200 soak-upstream /, 'nntp greeting') },
    pop3: {
      port: ports.pop3,
      async open(c) {
        // The adapter's own greeting, not the upstream's: the login is the gateway's.
        await expectLine(c, /^\+OK .*POP3 roamgate ready$/, 'pop3 greeting');
        c.send(`USER ${login.user}\r\n`);
        await expectLine(c, /^\+OK/, 'pop3 USER');
        c.send(`PASS ${login.password}\r\n`);
        await expectLine(c, /^\+OK Logged in$/, 'pop3 PASS');
      },
    },
    imap: {
      port: ports.imap,
      async open(c) {
        await expectLine(c, /^\* OK \[CAPABILITY IMAP4rev1 [^\]]*\] .*IMAP roamgate ready$/, 'imap greeting');
        c.send(`a1 LOGIN ${login.user} "${login.password}"\r\n`);
        // The server's capabilities after login, passed on with the OK.
        await expectLine(c, /^a1 OK \[CAPABILITY IMAP4rev1 IDLE\] Logged in$/, 'imap LOGIN');
      },
    },
    'http-proxy': {
      port: ports['http-proxy'],
      async open(c) {
        c.send(`CONNECT 127.0.0.1:${web} HTTP/1.1\r\nHost: 127.0.0.1:${web}\r\n\r\n`);
        await expectHead(c, 'CONNECT');
      },
    },
    tunnel: {
      port: ports.http,
      async open(c) {
        c.send(`CONNECT smtp.roamgate:1 HTTP/1.1\r\nHost: smtp.roamgate:1\r\nProxy-Authorization: Bearer ${login.token}\r\n\r\n`);
        await expectHead(c, 'tunnel CONNECT');
        await expectLine(c, /^220 soak-upstream /, 'smtp greeting through the tunnel');
      },
    },
  };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The soak exchange after the opening: the payload out, its echo and the upstream's hash back. */
async function exchange(conversation: Conversation, payload: Buffer): Promise<Outcome> {
  conversation.send(`SOAK ${payload.length}\r\n`);
  conversation.send(payload);
  const received = await conversation.rest();
  const sent = sha256(payload);
  if (received.length !== payload.length + REPORT_LENGTH)
    return { kind: 'mismatch', reason: `received ${received.length} bytes back for ${payload.length}` };
  if (sha256(received.subarray(0, payload.length)) !== sent) return { kind: 'mismatch', reason: 'the echo differs from the payload' };
  if (received.subarray(payload.length).toString('latin1') !== `SHA256 ${sent}\r\n`)
    return { kind: 'mismatch', reason: 'the upstream received other bytes than were sent' };
  return { kind: 'ok' };
}

/** One connection through `target` with `payload`, given up (failed) after `timeoutMs`. */
export function soakConnection(target: SoakTarget, payload: Buffer, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: target.port });
    const conversation = new Conversation(socket);
    const timer = setTimeout(() => {
      conversation.finish(new Error(`no end within ${timeoutMs} ms`));
      socket.destroy();
    }, timeoutMs);
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      // An exchange that reached its end closes as TCP does; one that did not is cut.
      if (outcome.kind === 'failed') socket.destroy();
      else socket.end();
      resolve(outcome);
    };
    target
      .open(conversation)
      .then(() => exchange(conversation, payload))
      .then(done, (error: Error) => done({ kind: 'failed', reason: error.message }));
  });
}
