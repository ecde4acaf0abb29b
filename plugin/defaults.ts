/** Defaults of every option, in one place. Times are in milliseconds unless named otherwise. */

/** Address adapters bind to when an adapter names no host. */
export const DEFAULT_ADAPTER_HOST = '127.0.0.1';
/** Connect time allowed to one server before the next is tried. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** A relay with no traffic either way for this long is closed (10 minutes; SMTP servers wait 5). */
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/** Simultaneous clients per adapter; more are refused in their protocol. */
export const DEFAULT_MAX_CLIENTS = 1_000;
/** How long a gw.web route's server may stay silent once connected (waiting for its answer, or within it) before the request fails with 504. */
export const DEFAULT_WEB_TIMEOUT_MS = 60_000;
/** Largest HTTP request head the web proxy accepts (bytes). */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** How long close() lets open relays finish before cutting them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/** TTL a registration gets when it names none (seconds). */
export const DEFAULT_REGISTRATION_TTL_SECONDS = 60;
/** The services servers may register themselves for by default (not http-proxy: an upstream web proxy sees all web traffic). */
export const DEFAULT_REGISTRATION_SERVICES = ['smtp', 'pop3', 'nntp'] as const;
/** Most self-registered entries at once, by default. */
export const DEFAULT_REGISTRATION_MAX_ENTRIES = 1000;
/** Wrong registration secrets per source address before further tries get 429 for the rest of the window. */
export const DEFAULT_REGISTRATION_THROTTLE_PER_ADDRESS = { failures: 10, windowSeconds: 900 };
/**
 * How often the event stream (`GET /events`) sends a `ping` event, even when nothing changed (ms). A local proxy
 * takes a few missed pings (2 s by default: four pings) as a sign that the gateway or the path to it is gone, so a laptop that
 * left the network, or a gateway that went silent without closing, is noticed in seconds.
 */
export const EVENTS_HEARTBEAT_MS = 500;
/** Largest JSON body the management API reads. */
export const MAX_API_BODY = '16kb';
/** How long a lease lasts unless renewed (seconds): a working day. */
export const DEFAULT_LEASE_TTL_SECONDS = 8 * 3600;
/** How often the holders of live leases are checked against the directory (seconds): `roamgate users disable` takes effect within it. */
export const DEFAULT_LEASE_USER_CHECK_SECONDS = 30;
/** How long an expired or revoked lease stays in the store before housekeeping deletes it (ms); the audit trail keeps its events. */
export const ENDED_LEASE_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How often housekeeping deletes ended leases and expired login sessions from the store (ms). */
export const HOUSEKEEPING_INTERVAL_MS = 15 * 60 * 1000;
/** How long the audit trail keeps an event (days); housekeeping deletes older ones. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 30;
/** Most audit events kept; housekeeping deletes the oldest beyond it (about 320 bytes each on disk). */
export const DEFAULT_AUDIT_MAX_ROWS = 1_000_000;
/** Audit events deleted per store call by housekeeping, between which other work runs: no call holds the store for long. */
export const AUDIT_PRUNE_BATCH = 2_000;
export { DEFAULT_STORE_CHECK_INTERVAL_MS } from '../store/sqlite-store';
export { DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS, DEFAULT_POSTGRES_POOL_SIZE } from '../store/postgres-connection';
/** How long a login page session lasts (seconds). */
export const DEFAULT_SESSION_MAX_AGE_SECONDS = 8 * 3600;
/** Failed logins per user name, from all addresses, before each further try for it is slowed (never refused). */
export const DEFAULT_LOGIN_THROTTLE_PER_USER = { failures: 5, windowSeconds: 900 };
/** Failed logins per (user name, source address) before further tries of that pair get 429 for the rest of the window. */
export const DEFAULT_LOGIN_THROTTLE_PER_USER_ADDRESS = { failures: 5, windowSeconds: 900 };
/** Failed logins per source address, across user names, before further tries get 429 for the rest of the window. */
export const DEFAULT_LOGIN_THROTTLE_PER_ADDRESS = { failures: 20, windowSeconds: 900 };
/** The pause a login for a user pays per failure past `login.perUser.failures` (ms). */
export const DEFAULT_LOGIN_PER_USER_DELAY_MS = 500;
/** The longest that pause gets (ms): a right password always goes through within it. */
export const DEFAULT_LOGIN_PER_USER_MAX_DELAY_MS = 3000;
/** Failed in-protocol logins allowed on one connection before it is closed. */
export const DEFAULT_MAX_LOGIN_ATTEMPTS = 3;
/** Commands a client may send before it has logged in (in-protocol login). */
export const DEFAULT_MAX_UNAUTHENTICATED_COMMANDS = 20;
/** Longest command line before login (bytes); SMTP needs at least 512, SASL responses more. */
export const DEFAULT_MAX_LINE_LENGTH = 2048;
/** A client silent this long before logging in is closed. */
export const DEFAULT_PRE_LOGIN_IDLE_MS = 60_000;
/** How long a successful password check is remembered (seconds), as dovecot's auth cache does. */
export const DEFAULT_LOGIN_CACHE_SECONDS = 300;
/** How long one request to a peer gateway may take (ms). */
export const DEFAULT_PEER_TIMEOUT_MS = 5000;
/** How long a home gateway's yes to a visitor's login is remembered (seconds). */
export const DEFAULT_PEER_CACHE_SECONDS = 300;
/** How long a home's no (or its silence) is remembered (seconds): brief, so a corrected password or a recovered home works soon. */
export const DEFAULT_PEER_FAILURE_CACHE_SECONDS = 10;
/** How often visitors' leases are checked with their home gateway (seconds). */
export const DEFAULT_PEER_REFRESH_SECONDS = 60;
/** Most visitor lease tokens checked in one refresh request. */
export const MAX_PEER_REFRESH_BATCH = 500;
/** Largest peer request body (bytes): a refresh of MAX_PEER_REFRESH_BATCH tokens fits with room to spare. */
export const MAX_PEER_REQUEST_BODY = 128 * 1024;
export { DEFAULT_MAX_CLIENTS_PER_ADDRESS } from '../adapters/client-limits';
export { HTTP_HEADERS_TIMEOUT_MS as DEFAULT_HEADERS_TIMEOUT_MS } from '../adapters/http-proxy-adapter';
export { PRE_LOGIN_DEADLINE_MS as DEFAULT_PRE_LOGIN_DEADLINE_MS } from '../adapters/login-relay';
export { DEFAULT_MAX_TUNNELS, DEFAULT_MAX_TUNNELS_PER_LEASE } from '../adapters/tunnel-endpoint';
