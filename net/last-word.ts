import type { Socket } from 'node:net';

/** After a refusal is written, how long the client may take to hang up before it is cut (ms). */
export const REFUSAL_LINGER_MS = 5000;

/**
 * Writes a connection's last word (a refusal in its protocol) and closes it:
 * a client that does not hang up is cut after `lingerMs`, however much it
 * still sends. What it sends is read and dropped, since a timer that reading
 * reset would never fire. Resolves when the socket is gone.
 */
export function endWithLastWord(socket: Socket, data: string | Buffer, lingerMs = REFUSAL_LINGER_MS): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const cut = setTimeout(() => socket.destroy(), lingerMs);
    cut.unref();
    socket.once('close', () => {
      clearTimeout(cut);
      resolve();
    });
    if (socket.writable) socket.end(data);
    else socket.destroy();
    socket.resume();
  });
}
