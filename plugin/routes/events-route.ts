import { type Response, Router } from 'express';
import { EVENTS_HEARTBEAT_MS } from '../defaults';
import type { LeaseEnd, LeaseManager } from '../lease-manager';
import { callerOf, requireCaller } from '../request-auth';

/** The heartbeat event: it names its own interval, so a local proxy knows how long a silence means the gateway is gone. */
export const EVENTS_PING = `event: ping\ndata: ${JSON.stringify({ intervalMs: EVENTS_HEARTBEAT_MS })}\n\n`;
/** Table changes arriving this close together are announced once (ms). */
export const EVENTS_SERVERS_DEBOUNCE_MS = 100;
/** Event streams open at once; more get 503. */
export const MAX_EVENT_STREAMS = 1000;
/** Event streams one caller (a user, or the admin token) may hold open at once; more get 429. A local proxy needs one. */
export const MAX_EVENT_STREAMS_PER_CALLER = 8;

export interface EventsDeps {
  leases: LeaseManager;
  /** Subscribes to server-info table changes; returns the unsubscribe function. */
  watchServers(onChange: () => void): () => void;
  /** Told of each stream opened (+1) and closed (-1), by who holds it (see gateway-metrics). */
  counted?(caller: 'user' | 'admin', change: 1 | -1): void;
}

/**
 * GET /events (Server-Sent Events) for local proxies, with their lease token:
 *   event: servers   data: {}                      the table changed: fetch /discover again
 *   event: lease     data: {"state":"revoked"}     this lease ended (revoked or expired); the stream then ends
 *   event: ping      data: {"intervalMs":1000}     at once, then every EVENTS_HEARTBEAT_MS: the gateway and the path are alive
 * The pings also keep proxies and NATs from closing a quiet stream. One timer writes them to every open stream.
 */
export function eventsRoute(deps: EventsDeps): Router {
  const router = Router();
  let open = 0;
  const streams = new Set<Response>();
  let heartbeat: NodeJS.Timeout | null = null;
  const ping = () => {
    for (const stream of streams) stream.write(EVENTS_PING);
  };
  const perCaller = new Map<string, number>();
  router.get('/events', requireCaller, (req, res) => {
    const caller = callerOf(req);
    // One user (whatever lease or session they come with) cannot take every place.
    const key = caller.user ? `user:${caller.user.id}` : 'admin';
    const held = perCaller.get(key) ?? 0;
    if (held >= MAX_EVENT_STREAMS_PER_CALLER)
      return void res
        .status(429)
        .set('Retry-After', '60')
        .json({ error: `too many event streams for one user (at most ${MAX_EVENT_STREAMS_PER_CALLER}); close one first` });
    if (open >= MAX_EVENT_STREAMS) return void res.status(503).json({ error: 'too many event streams' });
    open++;
    perCaller.set(key, held + 1);
    const holder = caller.user ? 'user' : 'admin';
    deps.counted?.(holder, 1);
    const leaseId = caller.leaseId;
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(`: roamgate events\n\n${EVENTS_PING}`);
    streams.add(res);
    if (!heartbeat) {
      heartbeat = setInterval(ping, EVENTS_HEARTBEAT_MS);
      heartbeat.unref();
    }
    const send = (event: string, data: object) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let debounce: NodeJS.Timeout | null = null;
    const stopServers = deps.watchServers(() => {
      debounce ??= setTimeout(() => {
        debounce = null;
        send('servers', {});
      }, EVENTS_SERVERS_DEBOUNCE_MS);
    });
    const stopLeases = deps.leases.onEnd((lease, why: LeaseEnd) => {
      if (lease.id !== leaseId) return;
      send('lease', { state: why });
      streams.delete(res);
      res.end();
    });
    res.once('close', () => {
      streams.delete(res);
      if (streams.size === 0 && heartbeat) {
        clearInterval(heartbeat);
        heartbeat = null;
      }
      open--;
      deps.counted?.(holder, -1);
      const left = (perCaller.get(key) ?? 1) - 1;
      if (left > 0) perCaller.set(key, left);
      else perCaller.delete(key);
      if (debounce) clearTimeout(debounce);
      stopServers();
      stopLeases();
    });
  });
  return router;
}
