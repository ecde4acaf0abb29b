import type { Socket } from 'node:net';
import type { ConnectionRecord, GatewayContext, LoginResult } from '../adapters/gateway-context';
import type { SharedPlaces } from '../adapters/client-limits';
import type { LiveRelay, LiveRelays } from '../adapters/live-relays';
import type { AccessDecision } from '../access-decision';
import { isRoamgateError } from '../errors';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import type { HealthMonitor } from '../sources/health-monitor';
import type { AccessTable } from './access-table';
import type { AuditLog } from './audit-log';
import type { FleetPlaces } from './fleet-places';
import type { GatewayMetrics } from './gateway-metrics';
import type { GatewayPorts } from './gateway-ports';
import { LOGIN_UNCHECKED_REASON, type Directory, type User } from './directory';
import { identityOfLease, normalizeAddress, type LeaseManager } from './lease-manager';
import type { LoginGuard } from './login-guard';
import type { Logger } from './options';
import { reconfirmVisitor } from './roaming-directory';
import type { ServerResolver } from './server-resolver';
import type { VisitorLeases } from './visitor-leases';

export interface ConnectionPolicyDeps {
  /** Per-address places across a fleet on one store (undefined: this process is the only one). */
  places?: FleetPlaces;
  leases: LeaseManager;
  access: AccessTable;
  servers: ServerResolver;
  health: HealthMonitor;
  relays: LiveRelays;
  visitors: VisitorLeases;
  directory: Directory;
  guard: LoginGuard;
  audit: AuditLog;
  logger: Logger;
  /** The configured peer gateways, by realm. */
  peers: ReadonlyMap<string, unknown>;
  ports: GatewayPorts;
  /** Counts each connection record, times each connect and each login's password check (see gateway-metrics). */
  metrics: Pick<GatewayMetrics, 'connection' | 'connected' | 'timeLogin'>;
}

/**
 * The connection path's policy, as the adapters and the tunnel endpoint use
 * it: who a connection is (a lease, by token or by the address it came
 * from), whether it may use a service (the access table), where it goes
 * (here or the visitor's home), what is recorded of it, which relays stay
 * tracked, and logins made in a client's own protocol, throttled and audited
 * like any other.
 */
export class ConnectionPolicy implements GatewayContext {
  constructor(private readonly deps: ConnectionPolicyDeps) {}

  /** In a fleet: what the other processes hold per address on a listener (its `maxClientsPerAddress` holds for all). */
  readonly sharedPlaces = (listener: string, limit: number): SharedPlaces | undefined => this.deps.places?.of(listener, limit);

  readonly identify = (socket: Socket): Identity => {
    const address = normalizeAddress(socket.remoteAddress);
    const lease = this.deps.leases.findByAddress(address);
    return lease ? identityOfLease(lease, address) : { kind: 'anonymous', address };
  };

  /** The identity a tunnel's lease token gives. A peer's lease works only from the peer's own address, and only while that peer is still configured. */
  readonly identifyToken = (token: string, address: string): Identity | undefined => {
    const lease = this.deps.leases.findByToken(token);
    if (!lease || (lease.peer !== undefined && (lease.address !== normalizeAddress(address) || !this.deps.peers.has(lease.peer))))
      return undefined;
    return identityOfLease(lease, normalizeAddress(address));
  };

  readonly authorize = (identity: Identity, service: string): AccessDecision => this.deps.access.decide(identity, service);

  readonly resolve = (service: string, identity: Identity): readonly ServerInfo[] | Promise<readonly ServerInfo[]> =>
    this.deps.servers.candidates(service, identity);

  // A hop to a visitor's home is not one of our servers: its failures are the home's, not a health verdict.
  readonly reportHealth = (service: string, server: ServerInfo, failure: string | null): void => {
    if (!server.tunnel) this.deps.health.report(service, server, failure);
  };

  readonly record = (entry: ConnectionRecord): void => {
    const { logger } = this.deps;
    if (logger.isLevelEnabled?.('info') !== false) logger.info({ event: 'relay', ...entry }, `${entry.service} ${entry.outcome}`);
    this.deps.metrics.connection(entry);
    this.deps.audit.record('connection', {
      actor: entry.identity,
      address: entry.client,
      detail: {
        service: entry.service,
        outcome: entry.outcome,
        rule: entry.rule,
        reason: entry.reason,
        server: entry.server,
        bytesFromClient: entry.bytesFromClient,
        bytesFromServer: entry.bytesFromServer,
        durationMs: entry.durationMs,
        ...(entry.status === undefined ? {} : { status: entry.status }),
      },
    });
  };

  /** Ports this gateway listens on; never a proxy destination on a local address. */
  readonly ownPorts = (): ReadonlySet<number> => this.deps.ports.own();

  readonly connected = (service: string, outcome: string, durationMs: number): void => {
    this.deps.metrics.connected(service, outcome, durationMs);
  };

  readonly track = (relay: LiveRelay): (() => void) => {
    const untrack = this.deps.relays.add(relay);
    const home = relay.identity.kind === 'user' ? relay.identity.user.home : undefined;
    if (!home) return untrack;
    // A visitor logged in in their client's protocol holds no lease here: their relay is what stands on the home lease.
    let ended = false;
    return () => {
      untrack();
      if (ended) return;
      ended = true;
      this.deps.visitors.release(home.realm, home.token, 'relay-closed');
    };
  };

  readonly verifyLogin = async (username: string, password: string, address: string, service: string): Promise<LoginResult> => {
    const { guard, directory, audit, logger } = this.deps;
    // A place is taken before the password is checked, so connections sent at once cannot overrun the limit; a right password gives it back.
    const admission = await guard.attempt(username, { address });
    if (!admission.admitted) {
      const wait = admission.waitSeconds;
      if (guard.firstRefusal(username, address, wait))
        audit.record('login.throttled', { actor: username, address, detail: { via: service, retryAfterSeconds: wait } });
      return { ok: false, reason: `too many failed logins, try again in ${wait} s` };
    }
    const { ticket } = admission;
    let user: User | false;
    try {
      user = await this.deps.metrics.timeLogin(service, () => directory.verify(username, password));
    } catch (error) {
      // Never thrown at an adapter: a broken directory is logged here and the client told the login cannot be checked now.
      if (isRoamgateError(error) && error.code === 'ROAMGATE_LOGIN_FAILED') ticket.failed();
      else ticket.undo();
      if (!isRoamgateError(error) || error.code === 'ROAMGATE_SOURCE_FAILED') {
        logger.error({ event: 'directory-failed', via: service, err: error }, 'could not check a login');
        return { ok: false, reason: LOGIN_UNCHECKED_REASON, temporary: true };
      }
      // A refusal with its reason (unknown realm, a home that said no) stays counted; a home out of reach was given back above.
      audit.record('login.failure', { actor: username, address, detail: { via: service, reason: error.message } });
      return { ok: false, reason: error.message, temporary: error.code !== 'ROAMGATE_LOGIN_FAILED' };
    }
    if (!user) {
      ticket.failed();
      audit.record('login.failure', { actor: username, address, detail: { via: service } });
      return { ok: false, reason: 'wrong user name or password' };
    }
    ticket.succeeded();
    // From the return on, the adapter tracks the connection, which keeps a visitor's home lease.
    const confirmed = await reconfirmVisitor(directory, user, username, password).catch(() => false as const);
    if (!confirmed) return { ok: false, reason: LOGIN_UNCHECKED_REASON, temporary: true };
    user = confirmed;
    audit.record('login.success', { actor: user.id, address, detail: { via: service } });
    return { ok: true, identity: { kind: 'user', address, user } };
  };
}
