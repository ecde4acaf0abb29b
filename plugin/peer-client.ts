import { systemClock, type Clock } from '../clock';
import { RoamgateError } from '../errors';
import {
  parseMessage,
  PEER_PATHS,
  refreshAnswerSchema,
  refusalSchema,
  releaseAnswerSchema,
  verifyAnswerSchema,
  type RefreshAnswer,
  type VerifyAnswer,
} from '../protocols/peer-messages';
import { NONCE_HEADER, signRequest, verifyResponse } from '../protocols/peer-signature';

/** Largest answer read from a peer (bytes). */
export const MAX_PEER_ANSWER_BYTES = 256 * 1024;

/** The body as text, or null when it is larger than `max` bytes (reading stops there) or breaks off. */
async function readCapped(response: Response, max: number): Promise<string | null> {
  if (Number(response.headers.get('content-length') ?? 0) > max) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > max) {
        await response.body.cancel().catch(() => undefined);
        return null;
      }
      chunks.push(chunk);
    }
  } catch {
    return null;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A home's answer to a login: the user, or why not (`credentials`: wrong name or password; `refused`: not allowed to roam). */
export type VerifyOutcome = { ok: true; answer: VerifyAnswer } | { ok: false; why: 'credentials' | 'refused'; reason: string };

/** The last exchange with a home: when, which request, and its signed answer's status or why there was none. */
export interface PeerAnswer {
  at: number;
  /** `verify`, `refresh` or `release`. */
  request: string;
  status?: number;
  error?: string;
}

export interface PeerClientOptions {
  /** Our own realm: the name the peer knows us by. */
  self: string;
  /** The peer's realm, for messages. */
  realm: string;
  /** The peer's management URL (no trailing slash needed). */
  url: string;
  secret: string;
  timeoutMs: number;
  /** What time it is, for signing and for the home lease's expiry; default the system clock. */
  clock?: Clock;
  /** Told how each request ended (for the metrics). */
  observe?(outcome: PeerRequestOutcome): void;
}

/** How a request to a peer ended: a signed 2xx answer, a 4xx one, or anything else (5xx, no answer, a bad one). */
export type PeerRequestOutcome = 'ok' | 'rejected' | 'error';

/** The outcome of an HTTP status a peer answered with. */
export function outcomeOfStatus(status: number): PeerRequestOutcome {
  return status < 400 ? 'ok' : status < 500 ? 'rejected' : 'error';
}

/**
 * Asks a home gateway about its users, over signed requests, and accepts only
 * answers signed for the request it sent. Network trouble, a home that
 * refuses this gateway and bad answers throw ROAMGATE_UPSTREAM_REFUSED (or
 * _TIMEOUT) naming the home and never a server.
 */
export class PeerClient {
  private readonly base: string;
  private readonly clock: Clock;
  private last: PeerAnswer | undefined;

  constructor(private readonly options: PeerClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.clock = options.clock ?? systemClock;
  }

  /** Checks a user's password at home. A refusal (wrong password, not allowed) is `{ ok: false, reason }`. */
  async verify(username: string, password: string): Promise<VerifyOutcome> {
    const { status, text } = await this.post(PEER_PATHS.verify, { username, password });
    if (status === 200) {
      const answer = parseMessage(verifyAnswerSchema, text);
      // A lease already over is of no use: its token opens nothing.
      if (!answer || answer.lease.expiresAt <= this.clock.now()) throw this.malformed();
      return { ok: true, answer };
    }
    if (status === 401 || status === 403) {
      const refusal = parseMessage(refusalSchema, text);
      return { ok: false, why: status === 401 ? 'credentials' : 'refused', reason: refusal?.error ?? 'wrong user name or password' };
    }
    throw this.refusedUs(status, text);
  }

  /** Whether each home lease (by token) is still live, in order. */
  async refresh(tokens: readonly string[]): Promise<RefreshAnswer['leases']> {
    const { status, text } = await this.post(PEER_PATHS.refresh, { tokens });
    if (status !== 200) throw this.refusedUs(status, text);
    const answer = parseMessage(refreshAnswerSchema, text);
    if (!answer || answer.leases.length !== tokens.length) throw this.malformed();
    return answer.leases;
  }

  /** Tells home these home leases are no longer used here; resolves with how many it ended. */
  async release(tokens: readonly string[]): Promise<number> {
    const { status, text } = await this.post(PEER_PATHS.release, { tokens });
    if (status !== 200) throw this.refusedUs(status, text);
    const answer = parseMessage(releaseAnswerSchema, text);
    if (!answer) throw this.malformed();
    return answer.released;
  }

  /** The last time this home was asked: what it answered (the HTTP status of a signed answer), or why there was no answer. */
  get lastAnswer(): PeerAnswer | undefined {
    return this.last;
  }

  private async post(path: string, payload: unknown): Promise<{ status: number; text: string }> {
    const request = path.slice(path.lastIndexOf('/') + 1);
    try {
      const answer = await this.exchange(path, payload);
      this.last = { at: this.clock.now(), request, status: answer.status };
      this.options.observe?.(outcomeOfStatus(answer.status));
      return answer;
    } catch (error) {
      this.last = { at: this.clock.now(), request, error: (error as Error).message };
      this.options.observe?.('error');
      throw error;
    }
  }

  private async exchange(path: string, payload: unknown): Promise<{ status: number; text: string }> {
    const body = JSON.stringify(payload);
    const url = new URL(this.base + path);
    const signed = { peer: this.options.self, method: 'POST', path: url.pathname + url.search, body };
    const headers = signRequest(this.options.secret, signed, this.clock.now());
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        body,
        headers: { ...headers, 'content-type': 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      const code = ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message) || 'network error';
      throw new RoamgateError(
        timedOut ? 'ROAMGATE_UPSTREAM_TIMEOUT' : 'ROAMGATE_UPSTREAM_REFUSED',
        timedOut
          ? `home gateway ${this.options.realm} did not answer in time`
          : `home gateway ${this.options.realm} cannot be reached (${code})`,
        { cause: error },
      );
    }
    const text = await readCapped(response, MAX_PEER_ANSWER_BYTES);
    if (text === null) throw this.malformed();
    const verdict = verifyResponse(
      Object.fromEntries(response.headers),
      { peer: this.options.self, status: response.status, requestNonce: headers[NONCE_HEADER], body: text },
      this.options.secret,
      this.clock.now(),
    );
    if (!verdict.ok) {
      // An unsigned error is how a home refuses a request it could not authenticate; only its text is used, for the message.
      if (response.status >= 400) throw this.refusedUs(response.status, text);
      throw new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `home gateway ${this.options.realm}: its answer was refused: ${verdict.reason}`);
    }
    return { status: response.status, text };
  }

  private malformed(): RoamgateError {
    return new RoamgateError(
      'ROAMGATE_UPSTREAM_REFUSED',
      `home gateway ${this.options.realm} sent an answer this gateway does not understand`,
    );
  }

  private refusedUs(status: number, text: string): RoamgateError {
    const reason = parseMessage(refusalSchema, text)?.error ?? `HTTP ${status}`;
    return new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `home gateway ${this.options.realm} refused this gateway: ${reason}`);
  }
}
