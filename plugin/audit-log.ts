import { systemClock, type Clock } from '../clock';
import type { AuditEvent, AuditQuery, Store } from '../store/store';
import type { Logger } from './options';

/** How often queued audit events are written to the store, in one batch (ms). */
export const AUDIT_FLUSH_INTERVAL_MS = 200;
/** Queued events beyond this are written at once rather than waiting for the timer. */
export const AUDIT_MAX_QUEUE = 500;

/**
 * The audit trail: logins, lease and rule changes, and every connection
 * decision. Events are queued and written in batches, off the connection
 * path; `list` writes what is queued first, and the gateway's close()
 * flushes, so nothing is lost.
 */
export class AuditLog {
  private queue: Array<Omit<AuditEvent, 'id'>> = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  record(type: string, fields: { actor?: string; address?: string; detail?: Record<string, unknown> } = {}): void {
    const { actor, address, detail } = fields;
    this.queue.push({ at: this.clock.now(), type, ...(actor ? { actor } : {}), ...(address ? { address } : {}), detail: detail ?? {} });
    if (this.queue.length >= AUDIT_MAX_QUEUE) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), AUDIT_FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  async list(query: AuditQuery = {}): Promise<AuditEvent[]> {
    await this.flush();
    return this.store.audit.list(query);
  }

  /** Writes what is queued; resolves when it is in the store. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(async () => {
      try {
        await this.store.audit.appendMany(batch);
      } catch (error) {
        this.logger.error({ event: 'audit-write-failed', events: batch.length, err: error }, 'could not write audit events');
      }
    });
    return this.writing;
  }
}
