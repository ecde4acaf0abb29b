import { type RequestHandler, Router } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnectionRecord } from '../adapters/gateway-context';
import type { LiveRelays } from '../adapters/live-relays';
import type { HealthState } from '../sources/health-monitor';
import { requireAdmin } from './request-auth';

/** Buckets of `roamgate_connection_duration_seconds`: from a refused connect to a mail client left open for hours. */
export const CONNECTION_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400];

/** The audit events counted in `roamgate_logins_total`, and their `result` label. */
const LOGIN_RESULTS: Readonly<Record<string, 'success' | 'failure' | 'throttled'>> = {
  'login.success': 'success',
  'login.failure': 'failure',
  'login.throttled': 'throttled',
};

export interface GatewayMetricsDeps {
  relays: LiveRelays;
  leases: { list(): readonly unknown[] };
  /** How many servers are in each health state, by service. */
  health: { counts(): Array<{ service: string; state: HealthState; count: number }> };
}

/**
 * The gateway's Prometheus metrics, in a registry of its own (never
 * prom-client's global one, so that several gateways in one process keep
 * their numbers apart). Counters move with each connection record and each
 * login audited; gauges are read from the live state when scraped.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly connections: Counter<'service' | 'outcome'>;
  private readonly bytes: Counter<'service' | 'direction'>;
  private readonly duration: Histogram<'service'>;
  private readonly logins: Counter<'via' | 'result'>;

  constructor(deps: GatewayMetricsDeps) {
    const registers = [this.registry];
    this.connections = new Counter({
      name: 'roamgate_connections_total',
      help: 'Connections (and guarded web requests) by service and outcome',
      labelNames: ['service', 'outcome'],
      registers,
    });
    this.bytes = new Counter({
      name: 'roamgate_relay_bytes_total',
      help: 'Bytes relayed, by service and direction',
      labelNames: ['service', 'direction'],
      registers,
    });
    this.duration = new Histogram({
      name: 'roamgate_connection_duration_seconds',
      help: 'How long connections lasted, from accept to close',
      labelNames: ['service'],
      buckets: CONNECTION_DURATION_BUCKETS,
      registers,
    });
    this.logins = new Counter({
      name: 'roamgate_logins_total',
      help: 'Logins by where they were made and their result',
      labelNames: ['via', 'result'],
      registers,
    });
    this.gauges(deps);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one connection record (see ConnectionPolicy.record). */
  readonly connection = (entry: ConnectionRecord): void => {
    const { service } = entry;
    this.connections.inc({ service, outcome: entry.outcome });
    if (entry.bytesFromClient > 0) this.bytes.inc({ service, direction: 'from_client' }, entry.bytesFromClient);
    if (entry.bytesFromServer > 0) this.bytes.inc({ service, direction: 'from_server' }, entry.bytesFromServer);
    this.duration.observe({ service }, entry.durationMs / 1000);
  };

  /** Counts an audited event when it is a login (see AuditLog.observe). */
  readonly audited = (type: string, detail: Readonly<Record<string, unknown>>): void => {
    const result = LOGIN_RESULTS[type];
    if (!result) return;
    const via = typeof detail.via === 'string' ? detail.via : 'web';
    this.logins.inc({ via, result });
  };

  /** GET /metrics (admin): the exposition in Prometheus' text format. */
  route(): Router {
    const router = Router();
    const scrape: RequestHandler = async (_req, res) => {
      const body = await this.registry.metrics();
      res.set('Cache-Control', 'no-store').type(this.registry.contentType).send(body);
    };
    router.get('/metrics', requireAdmin, scrape);
    return router;
  }

  /** The gauges, read from the live state at each scrape. */
  private gauges(deps: GatewayMetricsDeps): void {
    const registers = [this.registry];
    new Gauge({
      name: 'roamgate_relays_active',
      help: 'Relays open now, by service',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        const open = new Map<string, number>();
        for (const service of deps.relays.services()) open.set(service, (open.get(service) ?? 0) + 1);
        for (const [service, count] of open) this.set({ service }, count);
      },
    });
    new Gauge({
      name: 'roamgate_leases_live',
      help: 'Leases live now',
      registers,
      collect() {
        this.set(deps.leases.list().length);
      },
    });
    new Gauge({
      name: 'roamgate_servers',
      help: 'Servers known to the health checks, by service and health',
      labelNames: ['service', 'health'],
      registers,
      collect() {
        this.reset();
        for (const { service, state, count } of deps.health.counts()) this.set({ service, health: state }, count);
      },
    });
  }
}
