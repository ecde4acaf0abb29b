import type { Socket } from 'node:net';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import type { AccessDecision } from '../access-decision';
import type { SharedPlaces } from './client-limits';
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
  /** `allowed`: a guarded web route let the request through to the host's own handler (`gw.protect`). */
  outcome: 'relayed' | 'allowed' | 'refused' | 'unreachable' | 'error';
  reason?: string;
  rule?: string;
  /** The HTTP status answered, for web requests. */
  status?: number;
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
  /** In a fleet: the places other processes hold per address on the port named `listener` (`pop3`, `pop3-tls`, `tunnel`). */
  sharedPlaces?(listener: string, limit: number): SharedPlaces | undefined;
  identify(socket: Socket): Identity;
  authorize(identity: Identity, service: string): AccessDecision;
  /** Candidate servers in the order to try them: at once (an array) when known at once, else a promise; may throw. */
  resolve(service: string, identity: Identity): readonly ServerInfo[] | Promise<readonly ServerInfo[]>;
  reportHealth(service: string, server: ServerInfo, failure: string | null): void;
  record(entry: ConnectionRecord): void;
  /** Ports this gateway listens on; never a proxy destination on a local address. */
  ownPorts(): ReadonlySet<number>;
  /** Checks credentials a client gave in its own protocol: throttled and audited like any login. */
  verifyLogin(username: string, password: string, address: string, service: string): Promise<LoginResult>;
  /** Registers an open relay so a lease revocation or rule change can close it; returns its removal. */
  track(relay: LiveRelay): () => void;
  /** How long reaching a server took (failover included), and how it ended: `connected` or the failure's outcome; for the metrics. */
  connected?(service: string, outcome: string, durationMs: number): void;
}

/** Whether candidates came at once (a list) rather than as a promise: Array.isArray does not narrow a readonly list. */
export function isAnswer<T>(answer: readonly T[] | Promise<readonly T[]>): answer is readonly T[] {
  return Array.isArray(answer);
}
