import { systemClock, type Clock } from '../clock';
import { type AuditEvent, type AuditQuery, isStoreUnavailable, type Store } from '../store/store';
import type { Logger } from './options';

/** How often queued audit events are written to the store, in one batch (ms). */
export const AUDIT_FLUSH_INTERVAL_MS = 200;
/** Queued events beyond this are written at once rather than waiting for the timer. */
export const AUDIT_MAX_QUEUE = 500;
/** How often events held while the store cannot be used are offered to it again (ms). */
export const AUDIT_HELD_RETRY_MS = 1000;
/** Events kept in memory while the store cannot be used; past this the oldest are dropped (and counted in the log). */
export const AUDIT_MAX_BACKLOG = 10_000;

/**
 * The audit trail: logins, lease and rule changes, and every connection
 * decision. Events are queued and written in batches, off the connection
 * path; `list` writes what is queued first, and the gateway's close()
 * flushes, so nothing is lost. While the store cannot be used (see
 * store-watch.ts) events are kept, up to AUDIT_MAX_BACKLOG, and written with
 * the next batch once it can; that is logged once each way.
 */
export class AuditLog {
  private queue: Array<Omit<AuditEvent, 'id'>> = [];
  /** Events the store refused, oldest first, written before the queue. */
  private backlog: Array<Omit<AuditEvent, 'id'>> = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** While the store refuses writes: events dropped past the backlog so far. */
  private held: { dropped: number } | null = null;
  private readonly observers = new Set<(type: string, detail: Readonly<Record<string, unknown>>) => void>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  record(type: string, fields: { actor?: string; address?: string; detail?: Record<string, unknown> } = {}): void {
    const { actor, address, detail = {} } = fields;
    this.queue.push({ at: this.clock.now(), type, ...(actor ? { actor } : {}), ...(address ? { address } : {}), detail });
    for (const observer of this.observers) observer(type, detail);
    // While events are held, the retry timer writes them: not every record.
    if (this.queue.length >= AUDIT_MAX_QUEUE && !this.held) void this.flush();
    else this.flushIn(AUDIT_FLUSH_INTERVAL_MS);
  }

  /** Calls `observer` with each event as it is recorded (metrics count logins this way); returns what stops it. */
  observe(observer: (type: string, detail: Readonly<Record<string, unknown>>) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  async list(query: AuditQuery = {}): Promise<AuditEvent[]> {
    await this.flush();
    return this.store.audit.list(query);
  }

  /** Writes what is queued; resolves when it is in the store. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length === 0 && this.backlog.length === 0) return this.writing;
    // What is queued is taken when its turn comes, behind the writes before it: events stay in order.
    this.writing = this.writing.then(() => this.writeQueued());
    return this.writing;
  }

  private async writeQueued(): Promise<void> {
    const batch = this.backlog.length > 0 ? [...this.backlog, ...this.queue] : this.queue;
    this.backlog = [];
    this.queue = [];
    if (batch.length === 0) return;
    try {
      await this.store.audit.appendMany(batch);
      this.wroteHeld(batch.length);
    } catch (error) {
      if (isStoreUnavailable(error)) this.hold(batch, error);
      else this.logger.error({ event: 'audit-write-failed', events: batch.length, err: error }, 'could not write audit events');
    }
  }

  private flushIn(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), ms);
    this.timer.unref();
  }

  /** Keeps a batch the store refused, the newest AUDIT_MAX_BACKLOG of it, to be written first next time. */
  private hold(batch: Array<Omit<AuditEvent, 'id'>>, error: unknown): void {
    const dropped = Math.max(0, batch.length - AUDIT_MAX_BACKLOG);
    this.backlog = batch.slice(dropped);
    this.flushIn(AUDIT_HELD_RETRY_MS);
    if (this.held) {
      this.held.dropped += dropped;
      return;
    }
    this.held = { dropped };
    this.logger.error(
      { event: 'audit-held', events: this.backlog.length, err: error },
      `the store cannot take audit events now: keeping them in memory (at most ${AUDIT_MAX_BACKLOG}) until it can`,
    );
  }

  private wroteHeld(written: number): void {
    if (!this.held) return;
    const { dropped } = this.held;
    this.held = null;
    this.logger.info(
      { event: 'audit-held-written', events: written, dropped },
      'wrote the audit events kept while the store could not be used',
    );
  }
}
