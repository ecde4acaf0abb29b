/**
 * The bench's upstream: a raw `net` server speaking just enough SMTP-like
 * dialogue to be cheap, so that it is never what limits a measurement.
 * Run as a child of relay-bench (child_process.fork), it tells the parent its
 * port over IPC.
 *
 *   on connect      -> 220 bench ready
 *   NOOP            -> 250 ok
 *   QUIT            -> 221 bye, then the server closes (so the TIME_WAIT is
 *                      on the server side and load-generator ports are reused)
 *   DATA <n>        -> 354 send <n> bytes; the next <n> bytes are counted and
 *                      discarded, then 250 received ok
 *   anything else   -> 500 unknown command
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { serveParent, type ReadyMessage } from './bench-messages';

/** Longest command line accepted before the connection is dropped (bytes). */
const MAX_LINE_BYTES = 512;
/** Accept backlog: the idle-connection phase opens its connections in bursts. */
const LISTEN_BACKLOG = 4096;

function handle(socket: Socket): void {
  let pending = '';
  let discardLeft = 0;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.write('220 bench ready\r\n');

  const onLine = (line: string): boolean => {
    if (line === 'NOOP') socket.write('250 ok\r\n');
    else if (line === 'QUIT') {
      socket.end('221 bye\r\n');
      return false;
    } else if (line.startsWith('DATA ')) {
      const size = Number(line.slice(5));
      if (!Number.isSafeInteger(size) || size < 0) socket.write('501 bad size\r\n');
      else {
        discardLeft = size;
        socket.write(`354 send ${size} bytes\r\n`);
        if (size === 0) socket.write('250 received ok\r\n');
      }
    } else socket.write('500 unknown command\r\n');
    return true;
  };

  socket.on('data', (chunk: Buffer) => {
    let offset = 0;
    while (offset < chunk.length) {
      if (discardLeft > 0) {
        const taken = Math.min(discardLeft, chunk.length - offset);
        discardLeft -= taken;
        offset += taken;
        if (discardLeft === 0) socket.write('250 received ok\r\n');
        continue;
      }
      const newline = chunk.indexOf(10, offset);
      if (newline < 0) {
        pending += chunk.toString('latin1', offset);
        if (pending.length > MAX_LINE_BYTES) socket.destroy();
        return;
      }
      const line = (pending + chunk.toString('latin1', offset, newline)).replace(/\r$/, '');
      pending = '';
      offset = newline + 1;
      if (!onLine(line)) return;
    }
  });
}

const server = createServer(handle);
serveParent();
server.listen({ host: '127.0.0.1', port: 0, backlog: LISTEN_BACKLOG }, () => {
  const ready: ReadyMessage = { type: 'ready', port: (server.address() as AddressInfo).port };
  process.send?.(ready);
});
