import { connect } from 'node:net';
import { hasGreeting, isReadyGreeting, quitCommand } from '../protocols/greeting';
import { LineReader } from '../protocols/line-reader';
import type { ServerEntry, ServerInfoSource } from './server-info-source';
import { serverKey } from './server-info-source';

/** Default time between health probes of every server (ms). */
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;
/** Default time a probe may take: connect plus greeting (ms). */
export const DEFAULT_HEALTH_TIMEOUT_MS = 3_000;
/** How long a probe waits for the server to hang up after QUIT (ms). */
export const PROBE_QUIT_LINGER_MS = 1_000;
/** Longest greeting line a probe reads. */
export const HEALTH_GREETING_MAX_LENGTH = 1024;
/**
 * A server found healthy again within this long of the last time keeps that
 * record (ms): every connection reports the server it reached, and a busy
 * server need not have its state rewritten thousands of times a second.
 */
export const HEALTHY_REPORT_RESOLUTION_MS = 1_000;

export type HealthState = 'healthy' | 'unhealthy' | 'unknown';

export interface HealthStatus {
  state: HealthState;
  /** When the state was last set (ms since the epoch). */
  checkedAt?: number;
  /** Why it is unhealthy. */
  reason?: string;
}

/**
 * Probes a server once: TCP connect, and for the line protocols a valid
 * greeting (then QUIT). Resolves to null when healthy, else the reason.
 */
export function probeServer(service: string, host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (reason: string | null) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.on('error', () => undefined);
      if (reason === null && hasGreeting(service)) {
        socket.end(quitCommand(service));
        // A server that ignores QUIT is not left holding the probe's socket.
        setTimeout(() => socket.destroy(), PROBE_QUIT_LINGER_MS).unref();
      } else socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => finish(`no ${hasGreeting(service) ? 'greeting' : 'connection'} within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    socket.once('error', (error: NodeJS.ErrnoException) => finish(`connect failed: ${error.code ?? error.message}`));
    socket.once('connect', () => {
      if (!hasGreeting(service)) return finish(null);
      const reader = new LineReader(HEALTH_GREETING_MAX_LENGTH);
      socket.on('data', (chunk: Buffer) => {
        const [first] = reader.push(chunk);
        if (!first) return;
        if (first.kind === 'too-long') return finish('greeting line too long');
        finish(isReadyGreeting(service, first.line) ? null : `unexpected greeting: ${first.line.slice(0, 80)}`);
      });
      socket.once('end', () => finish('closed before greeting'));
    });
  });
}

export interface HealthMonitorOptions {
  intervalMs: number;
  timeoutMs: number;
  onChange?: (entry: { service: string; host: string; port: number }, status: HealthStatus) => void;
}

/**
 * Keeps a health state for every server a source lists: probes them all
 * periodically, and takes passive reports from relays (a failed connect
 * marks a server unhealthy at once; a successful one marks it healthy).
 */
export class HealthMonitor {
  private readonly states = new Map<string, HealthStatus>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly source: ServerInfoSource,
    private readonly options: HealthMonitorOptions,
  ) {}

  /** Starts periodic probing (the first round right away). */
  start(): void {
    if (this.timer) return;
    void this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic probing. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  statusOf(service: string, server: { host: string; port: number }): HealthStatus {
    return this.states.get(serverKey(service, server)) ?? { state: 'unknown' };
  }

  /**
   * How many servers are in each state, by service: the servers the source lists now (one not checked yet is
   * `unknown`; one gone from the table is not counted), or, for a source that cannot list, every server checked so far.
   */
  async counts(): Promise<Array<{ service: string; state: HealthState; count: number }>> {
    let listed: ServerEntry[] | undefined;
    try {
      listed = this.source.list ? await this.source.list() : undefined;
    } catch {
      listed = undefined;
    }
    const keys = listed ? new Set(listed.map((entry) => serverKey(entry.service, entry))) : new Set(this.states.keys());
    const counted = new Map<string, { service: string; state: HealthState; count: number }>();
    for (const key of keys) {
      const service = key.slice(0, key.indexOf('|'));
      const status = this.states.get(key) ?? { state: 'unknown' as const };
      const entry = counted.get(`${service}|${status.state}`) ?? { service, state: status.state, count: 0 };
      entry.count++;
      counted.set(`${service}|${status.state}`, entry);
    }
    return [...counted.values()];
  }

  report(service: string, server: { host: string; port: number }, reason: string | null): void {
    const key = serverKey(service, server);
    const previous = this.states.get(key);
    const now = Date.now();
    if (reason === null && previous?.state === 'healthy' && now - (previous.checkedAt ?? 0) < HEALTHY_REPORT_RESOLUTION_MS) return;
    const status: HealthStatus = reason === null ? { state: 'healthy', checkedAt: now } : { state: 'unhealthy', checkedAt: now, reason };
    this.states.set(key, status);
    if (previous?.state !== status.state) this.options.onChange?.({ service, host: server.host, port: server.port }, status);
  }

  /** Probes every listed server once, concurrently; resolves when all are done. */
  checkAll(): Promise<void> {
    this.running ??= this.probeEverything().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async probeEverything(): Promise<void> {
    let entries: ServerEntry[];
    try {
      entries = this.source.list ? await this.source.list() : [];
    } catch {
      return;
    }
    const unique = new Map(entries.map((entry) => [serverKey(entry.service, entry), entry]));
    await Promise.all(
      [...unique.values()].map(async (entry) => {
        this.report(entry.service, entry, await probeServer(entry.service, entry.host, entry.port, this.options.timeoutMs));
      }),
    );
  }
}
