import { connect, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { listenTcp } from './net';
import { untilValue } from './until';

/**
 * An SMTP server that greets, then answers the first command with half a reply; `reset()`
 * then closes those connections with a RST. The test calls it once the half reply has
 * arrived: a reset right behind the write (even in its callback) goes out as a plain FIN.
 */
export async function startResettingSmtp(partial: string) {
  const answered: Socket[] = [];
  const server = await listenTcp((socket) => {
    socket.write('220 resetting upstream ESMTP\r\n');
    socket.once('data', () => socket.write(partial, () => answered.push(socket)));
  });
  const reset = () => {
    for (const socket of answered.splice(0)) socket.resetAndDestroy();
  };
  return { ...server, answered, reset };
}

/** A server that accepts connections and never writes a byte. */
export function startSilentServer() {
  return listenTcp(() => undefined);
}

/** Listens with a tiny backlog, says its port, then blocks its event loop for good: nothing is ever accepted. */
const FROZEN_LISTENER = `
const server = require('node:net').createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
});`;

/** Resolves whether a connect to the port completes within `ms` (the socket is left open when it does). */
function connectsWithin(port: number, ms: number, opened: Socket[]): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      opened.push(socket);
      resolve(true);
    });
  });
}

/**
 * A port on 127.0.0.1 whose new connections are never answered: a child process listens
 * there with a tiny backlog and then blocks, so nothing is accepted; connections are opened
 * until one hangs (the accept queue is full), after which Linux drops every SYN and a
 * connect hangs until the caller's timeout.
 */
export async function startBlackHole(): Promise<{ port: number; close: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', FROZEN_LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const opened: Socket[] = [];
  const close = async () => {
    for (const socket of opened) socket.destroy();
    child.kill('SIGKILL');
    await exited;
  };
  try {
    const port = Number(
      await untilValue(
        () => /^(\d+)\n/.exec(output)?.[1],
        (found) => found !== undefined,
        'the frozen listener’s port',
      ),
    );
    let full = false;
    for (let i = 0; i < 10 && !full; i++) full = !(await connectsWithin(port, 300, opened));
    if (!full) throw new Error('the frozen listener’s accept queue never filled');
    return { port, close };
  } catch (error) {
    await close();
    throw error;
  }
}
