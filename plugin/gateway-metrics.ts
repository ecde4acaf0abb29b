import { type RequestHandler, Router } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ConnectionRecord } from '../adapters/gateway-context';
import { isRoamgateError } from '../errors';
import type { LiveRelays } from '../adapters/live-relays';
import type { HealthState } from '../sources/health-monitor';
import { CounterTally, TalliedHistogram } from './metric-tallies';
import { requireAdmin } from './request-auth';

/** Buckets of `roamgate_connection_duration_seconds`: from a refused connect to a mail client left open for hours. */
export const CONNECTION_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400];

/** Buckets of `roamgate_connect_duration_seconds`: a server on the LAN answers in a millisecond, a dead one at the connect timeout. */
export const CONNECT_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Buckets of `roamgate_login_duration_seconds`: a cached check, scrypt (about 50 ms), a host's login, a home gateway asked. */
export const LOGIN_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * How often the event-loop lag behind `nodejs_eventloop_lag_*` is sampled (ms). prom-client's
 * default of 10 ms wakes an idle gateway a hundred times a second; at 100 ms a 15 s scrape still
 * sees 150 samples, and an idle gateway used 1.5 ms of CPU a second against 4.0 (one measurement each, 40 s after start).
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** A peer request: one this gateway sent to a home (`outbound`), or one a peer sent us (`inbound`). */
export type PeerDirection = 'inbound' | 'outbound';

/** Error codes that mean the directory could not check a login (not that the password was wrong). */
const DIRECTORY_TROUBLE = new Set(['ROAMGATE_SOURCE_FAILED', 'ROAMGATE_UPSTREAM_REFUSED', 'ROAMGATE_UPSTREAM_TIMEOUT']);

/** The audit events counted in `roamgate_logins_total`, and their `result` label. */
const LOGIN_RESULTS: Readonly<Record<string, 'success' | 'failure' | 'throttled'>> = {
  'login.success': 'success',
  'login.failure': 'failure',
  'login.throttled': 'throttled',
};

export interface GatewayMetricsDeps {
  relays: LiveRelays;
  leases: { list(): readonly unknown[] };
  /** How many servers of the table are in each health state, by service. */
  health: { counts(): Promise<Array<{ service: string; state: HealthState; count: number }>> };
}

/**
 * The gateway's Prometheus metrics, in a registry of its own (never
 * prom-client's global one, so that several gateways in one process keep
 * their numbers apart). Counters move with each connection record and each
 * login audited; gauges are read from the live state when scraped.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  // The metrics every connection and every login move are tallied as plain numbers (see metric-tallies.ts).
  private readonly connections = new CounterTally<'service' | 'outcome'>(['service', 'outcome']);
  private readonly bytes = new CounterTally<'service' | 'direction'>(['service', 'direction']);
  private readonly duration: TalliedHistogram<'service'>;
  private readonly logins = new CounterTally<'via' | 'result'>(['via', 'result']);
  private readonly connects: TalliedHistogram<'service' | 'outcome'>;
  private readonly loginChecks: TalliedHistogram<'via' | 'result'>;
  private readonly peerRequests: Counter<'realm' | 'direction' | 'outcome'>;
  private readonly eventStreams: Gauge<'caller'>;

  constructor(deps: GatewayMetricsDeps) {
    const registers = [this.registry];
    const { connections, bytes } = this;
    new Counter({
      name: 'roamgate_connections_total',
      help: 'Connections (and guarded web requests) by service and outcome',
      labelNames: ['service', 'outcome'],
      registers,
      collect() {
        connections.collectInto(this);
      },
    });
    new Counter({
      name: 'roamgate_relay_bytes_total',
      help: 'Bytes relayed, by service and direction',
      labelNames: ['service', 'direction'],
      registers,
      collect() {
        bytes.collectInto(this);
      },
    });
    this.duration = new TalliedHistogram(
      'roamgate_connection_duration_seconds',
      'How long connections lasted, from accept to close',
      ['service'],
      CONNECTION_DURATION_BUCKETS,
      this.registry,
    );
    const { logins } = this;
    new Counter({
      name: 'roamgate_logins_total',
      help: 'Logins by where they were made and their result',
      labelNames: ['via', 'result'],
      registers,
      collect() {
        logins.collectInto(this);
      },
    });
    this.connects = new TalliedHistogram(
      'roamgate_connect_duration_seconds',
      'Time to reach a server (connect, TLS and the server login an in-protocol login does), by service and outcome',
      ['service', 'outcome'],
      CONNECT_DURATION_BUCKETS,
      this.registry,
    );
    this.loginChecks = new TalliedHistogram(
      'roamgate_login_duration_seconds',
      "Time the directory took to check a login's password, by where the login was made and its result",
      ['via', 'result'],
      LOGIN_DURATION_BUCKETS,
      this.registry,
    );
    this.peerRequests = new Counter({
      name: 'roamgate_peer_requests_total',
      help: 'Requests between this gateway and its peers, by peer realm (unknown: not a configured peer), direction and outcome',
      labelNames: ['realm', 'direction', 'outcome'],
      registers,
    });
    this.eventStreams = new Gauge({
      name: 'roamgate_event_streams',
      help: 'Event streams (/events) open now, by who holds them: a user (a local proxy) or the admin',
      labelNames: ['caller'],
      registers,
    });
    this.gauges(deps);
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  /** Times one attempt to reach a service's servers (failover included): `connected`, or the outcome of its failure. */
  readonly connected = (service: string, outcome: string, durationMs: number): void => {
    this.connects.observe(service, outcome, durationMs / 1000);
  };

  /**
   * Runs one directory check of a login and times it: `success` (a user), `failure` (false, or a refusal with its
   * reason), or `error` (the directory could not check it). The check's result or error is passed on unchanged.
   */
  async timeLogin<T>(via: string, check: () => Promise<T | false>): Promise<T | false> {
    const started = performance.now();
    const observe = (result: string) => this.loginChecks.observe(via, result, (performance.now() - started) / 1000);
    try {
      const user = await check();
      observe(user ? 'success' : 'failure');
      return user;
    } catch (error) {
      observe(isRoamgateError(error) && !DIRECTORY_TROUBLE.has(error.code) ? 'failure' : 'error');
      throw error;
    }
  }

  /** Counts one request to or from a peer; `outcome` is `ok` (2xx), `rejected` (4xx), or `error` (5xx, no answer, a bad one). */
  readonly peerRequest = (realm: string, direction: PeerDirection, outcome: 'ok' | 'rejected' | 'error'): void => {
    this.peerRequests.inc({ realm, direction, outcome });
  };

  /** An event stream opened (+1) or closed (-1). */
  readonly eventStream = (caller: 'user' | 'admin', change: 1 | -1): void => {
    this.eventStreams.inc({ caller }, change);
  };

  /** Counts one connection record (see ConnectionPolicy.record). */
  readonly connection = (entry: ConnectionRecord): void => {
    const { service } = entry;
    this.connections.add(service, entry.outcome);
    if (entry.bytesFromClient > 0) this.bytes.add(service, 'from_client', entry.bytesFromClient);
    if (entry.bytesFromServer > 0) this.bytes.add(service, 'from_server', entry.bytesFromServer);
    this.duration.observe(service, '', entry.durationMs / 1000);
  };

  /** Counts an audited event when it is a login (see AuditLog.observe). */
  readonly audited = (type: string, detail: Readonly<Record<string, unknown>>): void => {
    const result = LOGIN_RESULTS[type];
    if (!result) return;
    const via = typeof detail.via === 'string' ? detail.via : 'web';
    this.logins.add(via, result);
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
      help: 'Servers in the table, by service and health (unknown: not checked yet)',
      labelNames: ['service', 'health'],
      registers,
      async collect() {
        // Only the servers the table lists now: one removed from it leaves the metric.
        const counts = await deps.health.counts();
        this.reset();
        for (const { service, state, count } of counts) this.set({ service, health: state }, count);
      },
    });
  }
}
