import { Client, type ClientConfig, type Notification } from 'pg';
import { CHANGE_CHANNEL } from './postgres-migrations';
import { fromColumnText } from './postgres-session';
import type { ChangedTable, StoreChange, StoreChanges } from './store';

/** The first wait before the listener connects again after losing its connection (ms); it doubles up to the next. */
export const FEED_RECONNECT_MIN_MS = 100;
/** The longest wait between two attempts to connect the listener again (ms). */
export const FEED_RECONNECT_MAX_MS = 5_000;
/** How often the listener's connection is checked with a statement, so that a silent network is noticed (ms). */
export const FEED_HEARTBEAT_MS = 10_000;
/** The longest payload NOTIFY takes is 8000 bytes; what is sent stays below this (bytes). */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7_900;

const TABLES: ReadonlySet<string> = new Set<ChangedTable>(['users', 'leases', 'rules', 'registrations', 'sessions']);

/** What a trigger (or failures.record) sends: the table, the row's key (null when too long to send), the writer's origin. */
interface ChangePayload {
  table: string;
  id?: string | null;
  scope?: string;
  key?: string;
  origin: string | null;
}

/** What a payload says to a listener; undefined for one this store does not know (a newer roamgate's). */
function changeOf(payload: ChangePayload): StoreChange | undefined {
  if (payload.table === 'failures' && typeof payload.scope === 'string' && typeof payload.key === 'string')
    return { table: 'failures', scope: payload.scope, key: payload.key };
  if (!TABLES.has(payload.table)) return undefined;
  // A key too long for NOTIFY is sent as null: the listener must reload what it caches.
  if (typeof payload.id !== 'string') return { table: '*' };
  return { table: payload.table as ChangedTable, id: fromColumnText(payload.id) };
}

/** The payload that announces a failure counted by `origin`; undefined when it would not fit in a NOTIFY. */
export function failurePayload(scope: string, key: string, origin: string): string | undefined {
  const payload = JSON.stringify({ table: 'failures', scope, key, origin } satisfies ChangePayload);
  return Buffer.byteLength(payload) > MAX_NOTIFY_PAYLOAD_BYTES ? undefined : payload;
}

/** One connection of the listener, and how to give it up. */
interface Listening {
  client: Client;
  lose(): void;
}

/**
 * The change feed of a PostgreSQL store: one connection of its own that
 * LISTENs on the channel the tables' triggers notify (see
 * postgres-migrations.ts), passing on what other store instances wrote and
 * dropping what carries this instance's own origin. When the connection is
 * lost (the server restarted, an admin ended it, the heartbeat found it
 * silent), it connects again, waiting longer after each failure; once back it
 * tells its listeners `{ table: '*' }`, since changes may have been missed.
 */
export class PostgresChangeFeed implements StoreChanges {
  private readonly listeners = new Set<(change: StoreChange) => void>();
  private listening: Listening | undefined;
  /** Whether changes may have been missed since the listener last listened (or since the store opened). */
  private missed = false;
  private failedAttempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The attempt to connect under way, which close() waits for (it ends what it connected). */
  private attempt: Promise<void> | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly config: ClientConfig,
    private readonly origin: string,
    heartbeatMs: number = FEED_HEARTBEAT_MS,
  ) {
    this.heartbeat = setInterval(() => this.checkConnection(), heartbeatMs);
    this.heartbeat.unref();
  }

  /** Connects the listener; resolves after the first attempt, whether it worked or not (failures retry by themselves). */
  start(): Promise<void> {
    this.attempt = this.connect().catch(() => this.retry());
    return this.attempt;
  }

  subscribe(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Whether the listener is connected and listening now. */
  connected(): boolean {
    return this.listening !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retryTimer);
    await this.attempt;
    const listening = this.listening;
    this.listening = undefined;
    this.listeners.clear();
    await listening?.client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client(this.config);
    let gone = false;
    const lose = () => {
      if (gone) return;
      gone = true;
      if (this.listening?.client === client) this.listening = undefined;
      void client.end().catch(() => undefined);
      this.missed = true;
      this.retry();
    };
    // A lost connection is an 'error' and then an 'end'; neither may reach the process as an uncaught error.
    client.on('error', lose);
    client.on('end', lose);
    client.on('notification', (message) => this.heard(message));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch {
      lose();
      return;
    }
    if (gone) return;
    if (this.closed) {
      gone = true;
      await client.end().catch(() => undefined);
      return;
    }
    this.listening = { client, lose };
    this.failedAttempts = 0;
    if (this.missed) {
      this.missed = false;
      this.emit({ table: '*' });
    }
  }

  /** Schedules the next attempt to connect, each failure waiting twice as long as the one before, up to the maximum. */
  private retry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = Math.min(FEED_RECONNECT_MAX_MS, FEED_RECONNECT_MIN_MS * 2 ** this.failedAttempts);
    this.failedAttempts++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.attempt = this.connect().catch(() => this.retry());
    }, delay);
    this.retryTimer.unref();
  }

  /** A statement on the listener's connection: one that fails (query_timeout included) means the connection is gone. */
  private checkConnection(): void {
    const listening = this.listening;
    if (!listening) return;
    listening.client.query('SELECT 1').catch(() => listening.lose());
  }

  private heard(message: Notification): void {
    if (message.channel !== CHANGE_CHANNEL || message.payload === undefined) return;
    let payload: ChangePayload;
    try {
      payload = JSON.parse(message.payload) as ChangePayload;
    } catch {
      return;
    }
    if (payload.origin === this.origin) return;
    const change = changeOf(payload);
    if (change) this.emit(change);
  }

  private emit(change: StoreChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure is its own; the others still hear the change.
      }
    }
  }
}
