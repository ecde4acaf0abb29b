import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import type { AccessDecision } from '../access-decision';
import { formatAddress } from '../net/address';
import type { LiveRelay } from './live-relays';

/** One line of the record: what happened to one relayed connection (or HTTP request). */
export interface ConnectionRecord {
  service: string;
  client: string;
  identity: string;
  /** host:port of the chosen server or destination, when there was one. */
  server?: string;
  bytesFromClient: number;
  bytesFromServer: number;
  durationMs: number;
  outcome: 'relayed' | 'refused' | 'unreachable' | 'error';
  reason?: string;
  rule?: string;
}

/** Connect and idle limits shared by every adapter. */
export interface RelayLimits {
  /** How long one connect attempt to a server may take before the next is tried (ms). */
  connectTimeoutMs: number;
  /** A relay with no traffic either way for this long is closed (ms). */
  idleTimeoutMs: number;
}

/** The outcome of checking credentials a client gave in its own protocol. */
export type LoginResult =
  | { ok: true; identity: Identity }
  /** `temporary`: the credentials could not be checked now (a home gateway unreachable); the client should retry later, not doubt its password. */
  | { ok: false; reason: string; temporary?: boolean };

/**
 * What an adapter needs from the management process: the connection path's
 * identify, authorize and resolve steps, health reports and the record.
 * Adapters know nothing else of the plugin.
 */
export interface GatewayContext {
  identify(socket: Socket): Identity;
  authorize(identity: Identity, service: string): AccessDecision;
  /** Candidate servers in the order to try them. */
  resolve(service: string, identity: Identity): Promise<ServerInfo[]>;
  reportHealth(service: string, server: ServerInfo, failure: string | null): void;
  record(entry: ConnectionRecord): void;
  /** Ports this gateway listens on; never a proxy destination on a local address. */
  ownPorts(): ReadonlySet<number>;
  /** Checks credentials a client gave in its own protocol: throttled and audited like any login. */
  verifyLogin(username: string, password: string, address: string, service: string): Promise<LoginResult>;
  /** Registers an open relay so a lease revocation or rule change can close it; returns its removal. */
  track(relay: LiveRelay): () => void;
}

/** The refusal for a denied decision: anonymous clients are told a login may help. */
export function denial(identity: Identity, decision: AccessDecision): RoamgateError {
  return new RoamgateError(identity.kind === 'anonymous' ? 'ROAMGATE_LOGIN_REQUIRED' : 'ROAMGATE_ACCESS_DENIED', decision.reason);
}

/** Describes an identity for the record. */
export function describeIdentity(identity: Identity): string {
  return identity.kind === 'user' ? identity.user.id : 'anonymous';
}

/** Any thrown value as a RoamgateError (unknown failures keep their cause). */
export function asRoamgateError(error: unknown): RoamgateError {
  if (error instanceof RoamgateError) return error;
  return new RoamgateError('ROAMGATE_SOURCE_FAILED', 'internal error while choosing a server', { cause: error });
}

/** A fresh record for a connection from `socket` to `service`, before anything is known of it. */
export function newConnectionRecord(service: string, socket: Socket, outcome: ConnectionRecord['outcome'] = 'error'): ConnectionRecord {
  return { service, client: formatAddress(socket.remoteAddress, socket.remotePort), identity: 'anonymous', bytesFromClient: 0, bytesFromServer: 0, durationMs: 0, outcome };
}

/** A connection registered with the gateway; see {@link trackConnection}. */
export interface TrackedConnection {
  /** Gives it its server socket, which a later cut destroys too (at once, if the client is already gone). */
  attach(upstream: Socket): void;
  /** Removes it; call once, when the connection ends, however it ends. */
  untrack(): void;
  /** Why the gateway cut it (a revocation, a rule change; also in the record), or undefined while it has not. */
  readonly cut: string | undefined;
  /**
   * What to report for a failure: when the gateway cut the connection (a
   * revocation, a rule change), that reason as an access refusal, since
   * whatever failed next only followed from it; otherwise `thrown` itself.
   */
  explain(thrown: unknown): unknown;
}

/**
 * Registers a connection with the gateway from the moment it is authorized,
 * before its server is reached, so that a lease revocation or a rule change
 * cuts it even while it connects (the client, and the server socket once
 * attached; the reason kept in the record), and a visitor's home lease is
 * not released while one of their connections is still on its way.
 */
export function trackConnection(context: GatewayContext, service: string, identity: Identity, entry: ConnectionRecord, client: Socket): TrackedConnection {
  let upstream: Socket | undefined;
  let cutFor: string | undefined;
  const untrack = context.track({
    service,
    identity,
    close: (reason) => {
      cutFor = reason;
      entry.reason = reason;
      client.destroy();
      upstream?.destroy();
    },
  });
  return {
    attach: (socket) => {
      upstream = socket;
      if (client.destroyed) socket.destroy();
    },
    untrack,
    get cut() {
      return cutFor;
    },
    explain: (thrown) => (cutFor === undefined ? thrown : new RoamgateError('ROAMGATE_ACCESS_DENIED', cutFor)),
  };
}
