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
  /**
   * Reached through another gateway's tunnel endpoint rather than directly:
   * `host:port` is that gateway's HTTP(S) server, and the hop opens
   * `CONNECT <service>.roamgate:1` there with the lease token. Set by the
   * gateway for users whose home serves the service; never read from a table.
   */
  tunnel?: TunnelHop;
  /**
   * The realm of the visitor's home this server belongs to (a hop to it, or a
   * server it revealed): the visitor logs in there by their home name. Set by
   * the gateway; never read from a table.
   */
  home?: string;
}

/** One hop to another gateway's tunnel endpoint. */
export interface TunnelHop {
  /** The other gateway's management URL (its scheme says TLS or not). */
  url: string;
  service: string;
  token: string;
  /** Who is behind the hop, for messages: `home gateway home.example`. */
  label: string;
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

/**
 * What a visitor's home gateway vouched for: the user's name there, the home
 * lease that opens tunnels at the home gateway, and the services home offers
 * them. Server addresses appear only when the home reveals them to this peer.
 */
export interface HomeGrant {
  /** The home's realm: the `peers` key it is configured under. */
  realm: string;
  /** The user's name at home, without the realm. */
  username: string;
  /** The home lease's token (a bearer credential for the home's tunnel endpoint). */
  token: string;
  /** When the home lease ends (ms since the epoch). */
  expiresAt: number;
  services: HomeService[];
}

/** One service a home offers a user. */
export interface HomeService {
  service: string;
  /** Served by the user's own servers (a `for:` entry at home), not the home's general ones. */
  own: boolean;
  /** `none`: the home's servers for it take no login (the gateway in front must not send one); default `user`. */
  login?: 'none';
  /** The real servers, only when the home reveals addresses to this peer. */
  servers?: Array<{ host: string; port: number; priority: number; tls?: ServerTls }>;
}

/** A logged-in user as a connection sees them; `home` for a visitor vouched for by their home gateway. */
export interface IdentifiedUser {
  id: string;
  attributes: Readonly<Record<string, string>>;
  home?: HomeGrant;
}

/** Who is connecting: anonymous, or a user (with the lease that identified them). */
export type Identity = { kind: 'anonymous'; address: string } | { kind: 'user'; address: string; user: IdentifiedUser; leaseId?: string };

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
