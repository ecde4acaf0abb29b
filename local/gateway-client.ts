import { z } from 'zod';
import { systemClock } from '../clock';
import { RoamgateError } from '../errors';
import { EventStreamParser, type ServerSentEvent } from './event-stream-parser';
import { pingInterval, SilenceWatch, silenceLimitMs } from './silence-watch';

const endpointSchema = z.object({ host: z.string().min(1).max(255), port: z.int().min(1).max(65535) });
const discoverSchema = z.object({ mode: z.enum(['gateway', 'direct']), services: z.record(z.string(), z.array(endpointSchema)) });
/** A time as the gateway writes it (ISO 8601); anything Date.parse cannot read is a broken answer. */
const instant = z
  .string()
  .max(64)
  .refine((text) => Number.isFinite(Date.parse(text)), 'must be a date and time');
const loginSchema = z.object({
  token: z.string().min(1),
  lease: z.object({ id: z.string().min(1), userId: z.string(), expiresAt: instant }),
});
const renewSchema = z.object({ lease: z.object({ expiresAt: instant }) });

/** What the gateway's `GET /discover` says. */
export type DiscoverAnswer = z.output<typeof discoverSchema>;
export type Endpoint = z.output<typeof endpointSchema>;
/** A lease as the local proxy keeps it. */
export interface Lease {
  /** The user's id as the gateway has it. */
  user: string;
  token: string;
  id: string;
  expiresAt: string;
  /** The name given at login, when it was this proxy's login (it may differ from `user`, e.g. in case). */
  login?: string;
}

/** How an event stream ended: the gateway closed it, refused the token, or the caller stopped it. */
export type EventStreamEnd = 'ended' | 'unauthorized' | 'stopped';

/** A request the gateway did not answer (ROAMGATE_GATEWAY_LOST), in words a user can act on. */
function unreachable(url: string, error: unknown): RoamgateError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const name = (error as Error).name;
  const why =
    name === 'TimeoutError' || name === 'AbortError' ? 'no answer in time' : (cause?.code ?? cause?.message ?? (error as Error).message);
  return new RoamgateError('ROAMGATE_GATEWAY_LOST', `cannot reach the gateway at ${url} (${why})`, { cause: error });
}

/** The management API of one gateway, as a local proxy uses it. */
export class GatewayClient {
  /** @param url the management URL (its mount), without a trailing slash. */
  constructor(
    readonly url: string,
    private readonly requestTimeoutMs: number,
  ) {}

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, {
        ...init,
        signal: init.signal ?? AbortSignal.timeout(this.requestTimeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      throw unreachable(this.url, error);
    }
  }

  private async json<T>(response: Response, schema: z.ZodType<T>, what: string): Promise<T> {
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new RoamgateError(
        'ROAMGATE_SOURCE_FAILED',
        `the gateway at ${this.url} sent a ${what} answer that is not JSON; is this a roamgate management URL?`,
        { cause: error },
      );
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success)
      throw new RoamgateError(
        'ROAMGATE_SOURCE_FAILED',
        `the gateway at ${this.url} sent a ${what} answer this local proxy does not understand`,
      );
    return parsed.data;
  }

  /** `GET /discover`: the mode and, per service, where to connect; with a lease token, for that user (direct mode). */
  async discover(token?: string): Promise<DiscoverAnswer> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await this.request('/discover', { headers });
    if (!response.ok)
      throw new RoamgateError(
        'ROAMGATE_SOURCE_FAILED',
        `the gateway at ${this.url} answered /discover with ${response.status}; is this a roamgate management URL?`,
      );
    return this.json(response, discoverSchema, '/discover');
  }

  /**
   * `POST /login`, for a token-only lease (this proxy's connections come
   * through the tunnel endpoint with its token, so the lease binds no
   * address and other programs on this machine stay who they are). Throws
   * ROAMGATE_LOGIN_FAILED for a wrong user name or password,
   * ROAMGATE_LOGIN_THROTTLED when logins are throttled, ROAMGATE_ACCESS_DENIED
   * when the user may use nothing there.
   */
  async login(user: string, password: string): Promise<Lease> {
    const response = await this.request('/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ username: user, password, bindAddress: false }),
    });
    if (response.status === 401)
      throw new RoamgateError(
        'ROAMGATE_LOGIN_FAILED',
        `the gateway at ${this.url} refused the login of ${user}: wrong user name or password (check --user, and --password-file or ROAMGATE_PASSWORD)`,
      );
    if (response.status === 429) {
      const wait = response.headers.get('retry-after');
      throw new RoamgateError(
        'ROAMGATE_LOGIN_THROTTLED',
        `the gateway at ${this.url} refuses logins of ${user} for now after too many failures${wait ? `; try again in ${wait} s` : ''}`,
      );
    }
    if (response.status === 403) {
      const reason = ((await response.json().catch(() => ({}))) as { error?: unknown }).error;
      throw new RoamgateError(
        'ROAMGATE_ACCESS_DENIED',
        `the gateway at ${this.url} gives ${user} no lease: ${String(reason ?? 'no rights')}`,
      );
    }
    if (response.status !== 201)
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `the gateway at ${this.url} answered the login with ${response.status}`);
    const { token, lease } = await this.json(response, loginSchema, 'login');
    return { user: lease.userId, token, id: lease.id, expiresAt: lease.expiresAt };
  }

  /** Whether a lease token still works (`GET /leases` answers 200, not 401). */
  async leaseAlive(token: string): Promise<boolean> {
    const response = await this.request('/leases', { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
    await response.body?.cancel();
    if (response.status === 200) return true;
    if (response.status === 401) return false;
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `the gateway at ${this.url} answered /leases with ${response.status}`);
  }

  /** Extends a lease; resolves to its new expiry, or null when the lease is gone. */
  async renew(lease: Lease): Promise<string | null> {
    const response = await this.request(`/leases/${encodeURIComponent(lease.id)}/renew`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${lease.token}`, Accept: 'application/json' },
    });
    if (response.status === 401 || response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok)
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `the gateway at ${this.url} answered the lease renewal with ${response.status}`);
    return (await this.json(response, renewSchema, 'renewal')).lease.expiresAt;
  }

  /**
   * Follows `GET /events` until it ends, calling `onEvent` per event and
   * `onOpen` once it is established. Resolves with how it ended; rejects when
   * the gateway cannot be reached, or its stream is silent for longer than
   * `silenceMs` (never less than two of the pings it announces; a gateway that
   * announces none gets EVENTS_SILENCE_WITHOUT_PING_MS). The stream's opening
   * has the request timeout.
   */
  async follow(
    token: string,
    handlers: { onOpen(): void; onEvent(event: ServerSentEvent): void },
    silenceMs: number,
    stop: AbortSignal,
  ): Promise<EventStreamEnd> {
    const controller = new AbortController();
    let silent = false;
    const watch = new SilenceWatch(this.requestTimeoutMs, systemClock, () => {
      silent = true;
      controller.abort();
    });
    const onStop = () => controller.abort();
    stop.addEventListener('abort', onStop);
    const silence = () =>
      new RoamgateError(
        'ROAMGATE_UPSTREAM_TIMEOUT',
        `the gateway at ${this.url} sent nothing on its event stream for ${Math.round(watch.limitMs / 100) / 10} s`,
      );
    try {
      const response = await fetch(`${this.url}/events`, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
        signal: controller.signal,
        redirect: 'error',
      });
      if (response.status === 401) {
        await response.body?.cancel();
        return 'unauthorized';
      }
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `the gateway at ${this.url} answered /events with ${response.status}`);
      }
      watch.heard();
      watch.setLimit(silenceLimitMs(silenceMs, null));
      handlers.onOpen();
      await readEvents(
        response.body,
        controller.signal,
        (event) => {
          const interval = event.event === 'ping' ? pingInterval(event.data) : null;
          if (interval !== null) watch.setLimit(silenceLimitMs(silenceMs, interval));
          else if (event.event !== 'ping') handlers.onEvent(event);
        },
        () => watch.heard(),
      );
      if (silent) throw silence();
      return stop.aborted ? 'stopped' : 'ended';
    } catch (error) {
      if (stop.aborted) return 'stopped';
      if (silent) throw silence();
      if (error instanceof RoamgateError) throw error;
      throw unreachable(this.url, error);
    } finally {
      watch.stop();
      stop.removeEventListener('abort', onStop);
    }
  }
}

/**
 * Reads an event stream's body to its end (or until `signal` aborts), telling
 * `heard` of every chunk and `onEvent` of every complete event.
 */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  onEvent: (event: ServerSentEvent) => void,
  heard: () => void,
): Promise<void> {
  const parser = new EventStreamParser();
  const decoder = new TextDecoder();
  // Cancelled explicitly on abort: an aborted fetch does not always end a body that is being read.
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', cancel);
  if (signal.aborted) cancel();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || signal.aborted) break;
      heard();
      for (const event of parser.feed(decoder.decode(value, { stream: true }))) onEvent(event);
    }
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
