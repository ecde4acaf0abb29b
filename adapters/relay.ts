import type { Socket } from 'node:net';

export interface RelayResult {
  bytesFromClient: number;
  bytesFromServer: number;
  /** `closed` when either side closed normally. */
  end: 'closed' | 'idle-timeout' | 'client-error' | 'server-error';
}

/**
 * Pipes bytes both ways with back-pressure until both sockets close.
 * An end on one side ends the other once its data is flushed; an error on
 * one side destroys the other; no traffic either way for `idleTimeoutMs`
 * destroys both. Bytes are counted by the sockets themselves, at no cost
 * per chunk.
 */
export function relay(client: Socket, upstream: Socket, idleTimeoutMs: number): Promise<RelayResult> {
  const clientBytesBefore = client.bytesRead;
  return new Promise((resolve) => {
    let end: RelayResult['end'] | null = null;
    let open = 2;
    const settle = () => {
      if (--open > 0) return;
      resolve({ bytesFromClient: client.bytesRead - clientBytesBefore, bytesFromServer: upstream.bytesRead, end: end ?? 'closed' });
    };
    const onIdle = () => {
      end ??= 'idle-timeout';
      client.destroy();
      upstream.destroy();
    };
    const link = (from: Socket, to: Socket, errorName: 'client-error' | 'server-error') => {
      from.setTimeout(idleTimeoutMs, onIdle);
      from.on('error', () => {
        end ??= errorName;
        to.destroy();
      });
      from.once('close', () => {
        from.setTimeout(0);
        // Let what is already queued reach the other side, then close it. Keep reading
        // it (and discard), or its own end would never be seen once unpiped.
        to.resume();
        if (!to.destroyed && to.writable) to.end();
        settle();
      });
      from.pipe(to);
    };
    link(client, upstream, 'client-error');
    link(upstream, client, 'server-error');
  });
}
