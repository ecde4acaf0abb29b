import type { Server } from 'node:net';

/** The part of a listening server's libuv TCP handle used here (Node's own `TCPWrap`, not a public API). */
interface TcpHandle {
  setNoDelay?: (enable: boolean) => number;
}

/**
 * Sets TCP_NODELAY once on a listening socket, for the sockets it accepts to
 * inherit: Linux copies it from the listener into every accepted connection,
 * so the system call that `socket.setNoDelay()` makes per connection is not
 * needed. True when that was done; false elsewhere (another system, a handle
 * without the method, or a failure), and then each accepted socket must be
 * set on its own. Call it once the server is listening.
 */
export function setListenerNoDelay(server: Server): boolean {
  if (process.platform !== 'linux') return false;
  const handle = (server as unknown as { _handle?: TcpHandle | null })._handle;
  if (typeof handle?.setNoDelay !== 'function') return false;
  return handle.setNoDelay(true) === 0;
}
