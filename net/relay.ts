import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface RelayResult {
  bytesFromClient: number;
  bytesFromServer: number;
  /** `closed` when either side closed normally. */
  end: 'closed' | 'idle-timeout' | 'client-error' | 'server-error';
}

/**
 * How much one side's unsent write buffer may hold before reading from the
 * other side pauses (bytes). pipe() pauses at the socket's 16 KiB high-water
 * mark, that is after nearly every 64 KiB read, and resumes on the next
 * 'drain': events and ticks per chunk for nothing when the writes go out at
 * once, as they mostly do. A few reads' worth is enough to avoid that (larger
 * windows measured no faster on loopback: the kernel's own socket buffers
 * already absorb bursts), and it bounds what a relay holds for a slow
 * reader: at most this plus one read (64 KiB) per direction.
 */
export const RELAY_WINDOW_BYTES = 256 * 1024;

/**
 * A relay still open after this long has TCP keepalive turned on on both
 * sockets (ms), by the relay's one timer. A connection that ends sooner (most
 * do: a mail sent, a mailbox checked) never needed the five system calls that
 * turning it on costs per socket, and its probes would not have started yet
 * anyway: they start after the keepalive idle time, 15 s by default. A peer
 * that went silent in the first seconds is found this much later at most.
 */
export const KEEPALIVE_ARM_AFTER_MS = 5_000;

/**
 * Relays bytes both ways with back-pressure until both sockets close.
 * An end on one side ends the other once its data is flushed; an error on
 * one side destroys the other; nothing read from either side for
 * `idleTimeoutMs` (0: no limit) destroys both. With `keepAlive`, a relay
 * that lasts turns TCP keepalive on on both sockets (see
 * KEEPALIVE_ARM_AFTER_MS). Bytes are counted by the sockets themselves,
 * at no cost per chunk.
 *
 * One set of listeners serves both directions, with `this` the socket that
 * emitted the event, rather than two pipe() calls: four listeners per socket
 * instead of about ten, and one idle timer per relay instead of one per
 * socket, refreshed by a timestamp rather than by re-arming it per chunk.
 */
export function relay(client: Socket, upstream: Socket, idleTimeoutMs: number, keepAlive?: RelayKeepAlive): Promise<RelayResult> {
  return new Promise((resolve) => startRelay(client, upstream, idleTimeoutMs, keepAlive, { relayEnded: resolve }));
}

/** Whom a relay tells, once, that it is over (a state object, such as a connection attempt: no closure per relay). */
export interface RelayWatcher {
  relayEnded(result: RelayResult): void;
}

/** {@link relay} without a promise: `watcher` is told when both sides have closed. */
export function startRelay(
  client: Socket,
  upstream: Socket,
  idleTimeoutMs: number,
  keepAlive: RelayKeepAlive | undefined,
  watcher: RelayWatcher,
): void {
  const state = new RelayState(client, upstream, idleTimeoutMs, keepAlive, watcher);
  start(client, state);
  start(upstream, state);
}

/** TCP keepalive for a relay that lasts: probes after `idleMs` quiet, turned on after `armAfterMs` (default KEEPALIVE_ARM_AFTER_MS). */
export interface RelayKeepAlive {
  idleMs: number;
  armAfterMs?: number;
}

/** Where a socket's relay state hangs, so the listeners are shared functions, not closures per relay. */
const RELAY = Symbol('roamgate.relay');
type RelayedSocket = Socket & { [RELAY]?: RelayState };

/** The state of one relay: what both sockets' listeners share. */
class RelayState {
  end: RelayResult['end'] | null = null;
  open = 2;
  lastActivity = performance.now();
  idleTimer: NodeJS.Timeout | undefined;
  /** Keepalive idle time still to be turned on (ms); 0 once it is, or when not asked for. */
  keepAliveMs: number;
  private readonly clientBytesBefore: number;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly idleTimeoutMs: number,
    keepAlive: RelayKeepAlive | undefined,
    private readonly watcher: RelayWatcher,
  ) {
    this.clientBytesBefore = client.bytesRead;
    this.keepAliveMs = keepAlive?.idleMs ?? 0;
    const armAfter = keepAlive?.armAfterMs ?? KEEPALIVE_ARM_AFTER_MS;
    const first = this.keepAliveMs > 0 && (idleTimeoutMs <= 0 || idleTimeoutMs > armAfter) ? armAfter : idleTimeoutMs;
    if (first > 0) this.idleTimer = unrefTimeout(checkIdle, first, this);
  }

  peerOf(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }

  /** One side closed; the relay is over when both have. */
  closed(): void {
    if (--this.open > 0) return;
    clearTimeout(this.idleTimer);
    const { client, upstream } = this;
    this.watcher.relayEnded({
      bytesFromClient: client.bytesRead - this.clientBytesBefore,
      bytesFromServer: upstream.bytesRead,
      end: this.end ?? 'closed',
    });
  }
}

function start(socket: RelayedSocket, state: RelayState): void {
  socket[RELAY] = state;
  // The relay owns the idle limit from here on: a timeout a caller set on the socket is dropped.
  if (socket.timeout) socket.setTimeout(0);
  socket.on('data', forward);
  socket.on('end', endPeer);
  socket.on('error', failPeer);
  socket.on('close', onClose);
  // As pipe() does: a side that ended before the relay began ends the other now.
  if (socket.readableEnded) process.nextTick(() => endPeer.call(socket));
  // A side already closed will not say so again; otherwise flow, even if an earlier reader paused it.
  if (socket.closed) process.nextTick(() => onClose.call(socket));
  else socket.resume();
}

function forward(this: RelayedSocket, chunk: Buffer): void {
  const state = this[RELAY]!;
  state.lastActivity = performance.now();
  const to = state.peerOf(this);
  // The other side has ended or gone, so nothing more can reach it. Keep
  // reading (and discard), or this side's own end would never be seen.
  if (!to.writable) return;
  to.write(chunk);
  if (to.writableLength > RELAY_WINDOW_BYTES && this.readableFlowing) {
    this.pause();
    to.on('drain', resumePeer);
  }
}

function resumePeer(this: RelayedSocket): void {
  this.removeListener('drain', resumePeer);
  this[RELAY]!.peerOf(this).resume();
}

function endPeer(this: RelayedSocket): void {
  const to = this[RELAY]!.peerOf(this);
  if (to.writable) to.end();
  // This side has said all it will. Unless it is half-open, Node would now end it
  // too (a shutdown() and a turn of the loop) only to close it right after; with
  // nothing left to send it, closing it now sends the same FIN for less.
  if (!this.allowHalfOpen && this.writableLength === 0) this.destroy();
}

function failPeer(this: RelayedSocket): void {
  const state = this[RELAY]!;
  state.end ??= this === state.client ? 'client-error' : 'server-error';
  state.peerOf(this).destroy();
}

function onClose(this: RelayedSocket): void {
  const state = this[RELAY]!;
  const other = state.peerOf(this);
  // Let what is already queued reach the other side, then close it. Keep
  // reading it (and discard) in case it was paused for this side's sake,
  // or its own end would never be seen.
  other.removeListener('drain', resumePeer);
  other.resume();
  if (!other.destroyed && other.writable) other.end();
  state.closed();
}

/** Fires at the earliest moment the relay can have been idle for idleTimeoutMs (or to turn keepalive on); re-arms if it was not. */
function checkIdle(state: RelayState): void {
  if (state.keepAliveMs > 0) {
    keepAlive(state.client, state.keepAliveMs);
    keepAlive(state.upstream, state.keepAliveMs);
    state.keepAliveMs = 0;
    if (state.idleTimeoutMs <= 0) return;
  }
  const quietMs = performance.now() - state.lastActivity;
  if (quietMs < state.idleTimeoutMs) {
    // Whole milliseconds: timers are grouped in one list per distinct duration.
    state.idleTimer = unrefTimeout(checkIdle, Math.ceil(state.idleTimeoutMs - quietMs), state);
    return;
  }
  state.end ??= 'idle-timeout';
  state.client.destroy();
  state.upstream.destroy();
}

function keepAlive(socket: Socket, idleMs: number): void {
  if (!socket.destroyed) socket.setKeepAlive(true, idleMs);
}

function unrefTimeout(callback: (state: RelayState) => void, ms: number, state: RelayState): NodeJS.Timeout {
  const timer = setTimeout(callback, ms, state);
  timer.unref();
  return timer;
}
