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
  /**
   * The server put itself in the table with the registration secret (set by
   * the gateway; never read from a table). It is tried after the operator's
   * servers, and an in-protocol login sends it the user's own credentials
   * only when `registration.forwardCredentials` lists the service.
   */
  registered?: { forwardCredentials: boolean };
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
