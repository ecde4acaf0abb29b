/**
 * One server that provides a service.
 * @example { host: '127.0.0.1', port: 25025, priority: 10 }
 */
export interface ServerInfo {
  host: string;
  port: number;
  /** Lower is preferred, as with DNS MX preferences. Default 10. */
  priority: number;
  /**
   * Only for this subject (`user:alice`, `department=sales`, `authenticated`);
   * absent: for everyone. Of the servers that match a client, only the most
   * specific kind is used: a user's own server before their department's,
   * before the general ones.
   */
  for?: string;
  /** How to reach the server: plain TCP (default), STARTTLS/STLS before login, or TLS from the first byte. */
  tls?: ServerTls;
  /**
   * In-protocol login: log in to the server with these rather than with the
   * user's own credentials; `none` for a server that takes no login (an
   * internal relay that trusts the gateway).
   */
  credentials?: { username: string; password: string } | 'none';
}

/** TLS towards a server. Certificates are always verified: against `ca` (a PEM file) when given, else Node's CAs. */
export interface ServerTls {
  mode: 'starttls' | 'implicit';
  /** PEM file with the CA certificate(s) to trust for this server. */
  ca?: string;
  /** Name to verify the certificate against; default: `host`. */
  servername?: string;
}

/** A server-info table entry as listed to an admin: where it came from and how to address it. */
export interface ServerEntry extends ServerInfo {
  /** Stable id; entries from the API can be removed by it. */
  id: string;
  service: string;
  /** `static` (options), `file` (watched file), `admin` (added through the API), `registered` (self-registration). */
  origin: 'static' | 'file' | 'admin' | 'registered';
  /** When a registration lapses unless renewed (ms since the epoch). */
  expiresAt?: number;
}

/** Who is connecting: anonymous, or a user (with the lease that identified them). */
export type Identity =
  | { kind: 'anonymous'; address: string }
  | { kind: 'user'; address: string; user: { id: string; attributes: Readonly<Record<string, string>> }; leaseId?: string };

/**
 * Where the gateway learns which servers provide a service. A plain table
 * (`{ smtp: [{ host, port }] }`) is accepted wherever a source is.
 * @example
 * const source: ServerInfoSource = {
 *   resolve: (service, who) => who.kind === 'user' && who.user.id === 'alice'
 *     ? [{ host: 'mail-a.internal', port: 110, priority: 10 }] : [],
 * };
 */
export interface ServerInfoSource {
  /** Candidate servers for a service and client, any order; the gateway orders by priority and health. */
  resolve(service: string, identity: Identity): ServerInfo[] | Promise<ServerInfo[]>;
  /** Every entry, for admin listings and health checks. */
  list?(): ServerEntry[] | Promise<ServerEntry[]>;
  /** Calls `onChange` whenever the table changes; returns an unsubscribe function. */
  watch?(onChange: () => void): () => void;
  /** Releases timers and watchers. */
  close?(): void | Promise<void>;
}

/** A plain table: service name -> servers. */
export type ServerTable = Readonly<Record<string, readonly Readonly<ServerInfo>[]>>;

/** Default priority of a server that names none. */
export const DEFAULT_PRIORITY = 10;

/** The key that identifies one server of one service. */
export function serverKey(service: string, server: { host: string; port: number }): string {
  return `${service}|${server.host.toLowerCase()}|${server.port}`;
}
