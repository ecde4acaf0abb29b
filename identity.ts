import type { ServerTls } from './server-info';

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
