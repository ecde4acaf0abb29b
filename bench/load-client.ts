/**
 * The load generator's three kinds of client, identical whether they talk to
 * the gateway's SMTP adapter or straight to the upstream: only the port
 * differs. All traffic is on 127.0.0.1.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export const HOST = '127.0.0.1';

/** A connection that makes no progress for this long counts as failed (ms). */
export const STALL_TIMEOUT_MS = 10_000;

/** Sorted latencies of the completed connections, and how many failed. */
export interface ShortConnectionResult {
  completed: number;
  failed: number;
  firstError?: string;
  elapsedMs: number;
  /** Whole-connection latencies (ms), sorted ascending. */
  latenciesMs: Float64Array;
}

/**
 * One short connection, written as a callback state machine rather than with
 * promises per line so the load generator spends as little CPU as it can:
 * connect, read the greeting, send one request line (QUIT), read its reply
 * (221), wait for the server to close: the "connect, one request
 * line, one reply, close", with the greeting SMTP always sends first. Calls back with the latency from connect() to close (ms),
 * or with an error.
 */
function shortConnection(port: number, done: (error: Error | null, latencyMs: number) => void): void {
  const started = performance.now();
  const socket = connect({ host: HOST, port, noDelay: true });
  let stage = 0; // 0 greeting, 1 QUIT reply, 2 waiting for close
  let pending = '';
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    socket.destroy();
  };
  socket.setTimeout(STALL_TIMEOUT_MS, () => fail(new Error(`stalled at stage ${stage}`)));
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const code = pending.slice(0, 3);
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (stage === 0 && code === '220') {
        stage = 1;
        socket.write('QUIT\r\n');
      } else if (stage === 1 && code === '221') {
        stage = 2;
      } else {
        fail(new Error(`unexpected reply at stage ${stage}: ${JSON.stringify(line)}`));
        return;
      }
    }
  });
  socket.on('error', fail);
  socket.on('close', () => {
    if (!failure && stage !== 2) failure = new Error(`closed at stage ${stage}`);
    done(failure, performance.now() - started);
  });
}

/**
 * `workers` concurrent loops, each doing short connections back to back
 * until `durationMs` has passed (a connection under way then is finished).
 */
export function runShortConnections(port: number, workers: number, durationMs: number): Promise<ShortConnectionResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const deadline = started + durationMs;
    const latencies: number[] = [];
    let failed = 0;
    let firstError: string | undefined;
    let running = workers;
    const loop = () => {
      if (performance.now() >= deadline) {
        if (--running === 0) {
          const sorted = Float64Array.from(latencies).sort();
          resolve({ completed: latencies.length, failed, firstError, elapsedMs: performance.now() - started, latenciesMs: sorted });
        }
        return;
      }
      shortConnection(port, (error, latencyMs) => {
        if (error) {
          failed++;
          firstError ??= error.message;
        } else latencies.push(latencyMs);
        // Next connection from a fresh tick, so the stack does not grow with the loop.
        setImmediate(loop);
      });
    };
    for (let i = 0; i < workers; i++) loop();
  });
}

/** The value at quantile `q` (0-1) of a sorted array, NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * One scripted dialogue on a new connection to 127.0.0.1:`port` (the login benches' sessions): `onLine` is told
 * each CRLF-terminated line the server sends, without the CRLF, and answers on `socket` (destroying it with an
 * error to fail the session); once the server closes, the session has succeeded if `done()` says so. Resolves
 * with its duration (ms).
 */
export function scriptedSession(
  port: number,
  timeoutMs: number,
  onLine: (line: string, socket: Socket) => void,
  done: () => boolean,
): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let pending = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('session timed out')));
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let newline: number;
      while (!socket.destroyed && (newline = pending.indexOf('\r\n')) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 2);
        onLine(line, socket);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => (done() ? resolve(performance.now() - started) : reject(new Error('closed early'))));
  });
}

/** Reads CRLF-terminated lines from a socket, one promise at a time. */
class LineSocket {
  private pending = '';
  private waiter: { resolve: (line: string) => void; reject: (error: Error) => void } | null = null;
  private lines: string[] = [];
  private failure: Error | null = null;

  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.pending += chunk;
      let newline: number;
      while ((newline = this.pending.indexOf('\n')) >= 0) {
        this.lines.push(this.pending.slice(0, newline).replace(/\r$/, ''));
        this.pending = this.pending.slice(newline + 1);
      }
      this.flush();
    });
    const end = (error: Error) => {
      this.failure ??= error;
      this.flush();
    };
    socket.on('error', end);
    socket.on('close', () => end(new Error('connection closed')));
    socket.setTimeout(STALL_TIMEOUT_MS, () => {
      end(new Error('stalled'));
      socket.destroy();
    });
  }

  /** The next line, which must start with `code`. */
  expect(code: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.flush();
    }).then((line) => {
      if (!line.startsWith(code)) throw new Error(`expected ${code}, got ${JSON.stringify(line)}`);
      return line;
    });
  }

  private flush(): void {
    if (!this.waiter) return;
    const waiter = this.waiter;
    if (this.lines.length > 0) {
      this.waiter = null;
      waiter.resolve(this.lines.shift()!);
    } else if (this.failure) {
      this.waiter = null;
      waiter.reject(this.failure);
    }
  }
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, noDelay: true });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Bulk upload result: bytes sent and the time from the first byte to the server's 250. */
export interface BulkResult {
  bytes: number;
  elapsedMs: number;
}

/**
 * One connection uploading `totalBytes` in `chunkBytes` writes, with
 * back-pressure, after `DATA <n>`; the upstream counts and discards them and
 * answers 250 once it has them all. The clock runs from the first write to
 * that 250, so it covers every byte reaching the upstream.
 */
export async function runBulkUpload(port: number, totalBytes: number, chunkBytes: number): Promise<BulkResult> {
  const socket = await connected(port);
  const lines = new LineSocket(socket);
  try {
    await lines.expect('220');
    socket.write(`DATA ${totalBytes}\r\n`);
    await lines.expect('354');
    const chunk = Buffer.alloc(chunkBytes, 'x');
    const started = performance.now();
    const accepted = lines.expect('250');
    // Catch now so an early failure is not an unhandled rejection while we write.
    accepted.catch(() => undefined);
    let left = totalBytes;
    while (left > 0 && !socket.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece))
        await new Promise<void>((resolve) => {
          const go = () => {
            socket.removeListener('drain', go);
            socket.removeListener('close', go);
            resolve();
          };
          socket.on('drain', go);
          socket.on('close', go);
        });
    }
    await accepted;
    const elapsedMs = performance.now() - started;
    socket.write('QUIT\r\n');
    await lines.expect('221');
    return { bytes: totalBytes, elapsedMs };
  } finally {
    socket.destroy();
  }
}

/** Opens one connection and resolves once its greeting has arrived; the connection stays open. */
export async function openIdleConnection(port: number): Promise<Socket> {
  const socket = await connected(port);
  const lines = new LineSocket(socket);
  try {
    await lines.expect('220');
  } catch (error) {
    socket.destroy();
    throw error;
  }
  // Idle from here on: no stall timeout, the bench closes it.
  socket.setTimeout(0);
  return socket;
}

/** Opens `count` idle connections, `burst` at a time so the accept backlog never overflows. */
export async function openIdleConnections(port: number, count: number, burst: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  try {
    while (sockets.length < count) {
      const batch = Math.min(burst, count - sockets.length);
      const opened = await Promise.allSettled(Array.from({ length: batch }, () => openIdleConnection(port)));
      for (const result of opened) if (result.status === 'fulfilled') sockets.push(result.value);
      const rejected = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (rejected)
        throw new Error(`opening idle connection ${sockets.length + 1} of ${count} failed: ${(rejected.reason as Error).message}`);
    }
    return sockets;
  } catch (error) {
    for (const socket of sockets) socket.destroy();
    throw error;
  }
}
