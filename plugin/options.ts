import type { HttpProxyAdapterOptions } from '../adapters/http-proxy-adapter';
import type { LineAdapterOptions } from '../adapters/line-adapter';
import type { SmtpAdapterOptions } from '../adapters/smtp-adapter';
import type { TcpAdapterOptions } from '../adapters/tcp-adapter';
import { z } from 'zod';
import { isClock, type Clock } from '../clock';
import { RoamgateError } from '../errors';
import { parseAllowRule } from '../protocols/http/allowlist';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_HEALTH_TIMEOUT_MS } from '../sources/health-monitor';
import { MAX_REGISTRATION_TTL_SECONDS } from '../sources/registry-source';
import type { ServerInfoSource, ServerTable } from '../sources/server-info-source';
import type { ServerInfo } from '../server-info';
import { describeZodError, serverTableSchema } from '../sources/table-schema';
import { isValidHost } from '../protocols/http/target';
import * as D from './defaults';
import { DEFAULT_DISCOVERY_PORT, NETWORK_NAME } from '../protocols/discovery-message';
import { DEFAULT_MDNS_PORT } from '../protocols/mdns-announcement';
import { PEER_NAME_PATTERN } from '../protocols/peer-signature';
import { isPostgresUrl } from '../store/postgres-connection';
import type { Store } from '../store/store';
import type { DirectoryOption } from './host-directory';
import { sharedAddressProblem } from './shared-addresses';
import {
  accessRuleSchema,
  port,
  positiveMs,
  lineAdapterSchema,
  smtpAdapterSchema,
  tcpAdaptersSchema,
  httpProxyAdapterSchema,
  userSchema,
  throttleSchema,
  SERVICE_NAME,
  keysMatch,
  peerSchema,
  tunnelSchema,
} from './option-schemas';

/** The parts every Store has; a custom store without one would fail later, at the first use of it. */
const STORE_PARTS = ['users', 'leases', 'rules', 'registrations', 'audit', 'nonces', 'sessions'] as const;

function isStore(value: unknown): value is Store {
  if (typeof value !== 'object' || value === null || typeof (value as Store).close !== 'function') return false;
  return STORE_PARTS.every((part) => typeof (value as Store)[part] === 'object' && (value as Store)[part] !== null);
}

function isDirectoryOption(value: unknown): value is DirectoryOption {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  if (typeof candidate.verify === 'function') return candidate.get === undefined || typeof candidate.get === 'function';
  return typeof candidate.authenticate === 'function';
}

/** Something with pino's logging methods. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** pino's: whether `level` is logged at all, so that a line below the level is not even built. */
  isLevelEnabled?(level: string): boolean;
}

export const optionsSchema = z.strictObject({
  /** This gateway's realm: its users may log in as `alice` or `alice@<realm>`, and it names itself so to its peers. */
  realm: z
    .string()
    .regex(PEER_NAME_PATTERN, 'must be a domain-like name (letters, digits, dashes, dots)')
    .transform((realm) => realm.toLowerCase())
    .optional(),
  /** Trusted peer gateways by realm: homes this gateway asks about visitors, and visited gateways it answers. */
  peers: z
    .record(z.string(), peerSchema)
    .superRefine(keysMatch(PEER_NAME_PATTERN, 'peer names are domain-like realms (letters, digits, dashes, dots)'))
    .default({}),
  /** `gateway`: clients are told to use the gateway's adapters; `direct`: they are told the servers. */
  mode: z.enum(['gateway', 'direct']).default('gateway'),
  /** Host name given to clients in gateway-mode discovery; default: the host the request was sent to. */
  publicHost: z.string().refine(isValidHost, 'must be a hostname or IP address').optional(),
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  registration: z
    .strictObject({
      secret: z.string().min(16, 'must be at least 16 characters').optional(),
      defaultTtlSeconds: z.int().min(1).max(MAX_REGISTRATION_TTL_SECONDS).default(D.DEFAULT_REGISTRATION_TTL_SECONDS),
      /** The services a server may register itself for. Not http-proxy unless listed: an upstream web proxy sees all web traffic. */
      services: z.array(z.string().regex(SERVICE_NAME, 'must be a service name')).default([...D.DEFAULT_REGISTRATION_SERVICES]),
      /** Most registered entries at once; past it new ones are refused (429) until some lapse or leave. Renewals always work. */
      maxEntries: z.int().min(1).max(1_000_000).default(D.DEFAULT_REGISTRATION_MAX_ENTRIES),
      /** The services whose registered servers an in-protocol login may send the user's own credentials to; default none. */
      forwardCredentials: z.array(z.string().regex(SERVICE_NAME, 'must be a service name')).default([]),
      /** Wrong secrets allowed per address in the window before further tries get 429. */
      perAddress: throttleSchema.default(D.DEFAULT_REGISTRATION_THROTTLE_PER_ADDRESS),
    })
    .default({
      defaultTtlSeconds: D.DEFAULT_REGISTRATION_TTL_SECONDS,
      services: [...D.DEFAULT_REGISTRATION_SERVICES],
      maxEntries: D.DEFAULT_REGISTRATION_MAX_ENTRIES,
      forwardCredentials: [],
      perAddress: D.DEFAULT_REGISTRATION_THROTTLE_PER_ADDRESS,
    }),
  servers: z.unknown().optional(),
  serversFile: z.string().min(1).optional(),
  adapters: z
    .strictObject({
      smtp: smtpAdapterSchema.optional(),
      pop3: lineAdapterSchema.optional(),
      imap: lineAdapterSchema.optional(),
      nntp: lineAdapterSchema.optional(),
      'http-proxy': httpProxyAdapterSchema.optional(),
      /** Generic TCP adapters by service name: `tcp: { telnet: { port: 2323 } }`. */
      tcp: tcpAdaptersSchema.optional(),
    })
    .default({}),
  /** Caps on the tunnel endpoint that local proxies in gateway mode and visited gateways use. */
  tunnel: tunnelSchema.default(() => tunnelSchema.parse({})),
  access: z.array(accessRuleSchema).default([]),
  health: z
    .strictObject({
      enabled: z.boolean().default(true),
      intervalMs: positiveMs.default(DEFAULT_HEALTH_INTERVAL_MS),
      timeoutMs: positiveMs.default(DEFAULT_HEALTH_TIMEOUT_MS),
    })
    .default({ enabled: true, intervalMs: DEFAULT_HEALTH_INTERVAL_MS, timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS }),
  shutdownGraceMs: z.int().min(0).max(3_600_000).default(D.DEFAULT_SHUTDOWN_GRACE_MS),
  users: z
    .array(userSchema)
    .default([])
    .refine((users) => new Set(users.map((u) => u.id)).size === users.length, 'user ids must be unique'),
  /** Where users, rules, leases, registrations and the audit trail are kept: an SQLite file, ':memory:', a PostgreSQL URL, or a Store. */
  store: z
    .union([
      z.strictObject({
        path: z.string().min(1),
        /** How often the store's files are checked while it is open (ms); a failed write checks them at once. */
        checkIntervalMs: positiveMs.default(D.DEFAULT_STORE_CHECK_INTERVAL_MS),
      }),
      z.strictObject({
        /** A PostgreSQL database, for a fleet of gateways sharing one store: postgres://USER:PASSWORD@HOST:PORT/DATABASE. */
        url: z.string().refine(isPostgresUrl, 'must be a URL postgres://USER:PASSWORD@HOST:PORT/DATABASE'),
        /** Connections kept to the server at most. */
        poolSize: z.int().min(1).max(1_000).default(D.DEFAULT_POSTGRES_POOL_SIZE),
        /** How long connecting to the server may take before a call is refused as the store being unavailable (ms). */
        connectTimeoutMs: positiveMs.default(D.DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS),
      }),
      z.custom<Store>(isStore, `must be { path }, { url } or a Store (with close() and ${STORE_PARTS.join(', ')})`),
    ])
    .default({ path: ':memory:', checkIntervalMs: D.DEFAULT_STORE_CHECK_INTERVAL_MS }),
  /** How long the audit trail keeps events, and how many at most: housekeeping deletes the rest, oldest first. */
  audit: z
    .strictObject({
      retentionDays: z.int().min(1).max(36_500).default(D.DEFAULT_AUDIT_RETENTION_DAYS),
      maxRows: z.int().min(1_000).max(1_000_000_000).default(D.DEFAULT_AUDIT_MAX_ROWS),
    })
    .default({ retentionDays: D.DEFAULT_AUDIT_RETENTION_DAYS, maxRows: D.DEFAULT_AUDIT_MAX_ROWS }),
  leases: z
    .strictObject({
      ttlSeconds: z
        .int()
        .min(60)
        .max(30 * 86_400)
        .default(D.DEFAULT_LEASE_TTL_SECONDS),
      /** How often the holders of live leases are checked against the directory: a user disabled or removed loses their leases (seconds). */
      userCheckSeconds: z.int().min(1).max(86_400).default(D.DEFAULT_LEASE_USER_CHECK_SECONDS),
      /**
       * Addresses or ranges shared by many people (a NAT, a terminal server): there a lease identifies nobody by
       * address, and logins from one address by different users do not conflict.
       */
      sharedAddresses: z
        .array(
          z.string().superRefine((entry, ctx) => {
            const problem = sharedAddressProblem(entry);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .default([]),
    })
    .default({ ttlSeconds: D.DEFAULT_LEASE_TTL_SECONDS, userCheckSeconds: D.DEFAULT_LEASE_USER_CHECK_SECONDS, sharedAddresses: [] }),
  session: z
    .strictObject({
      /** Signs session cookies; at least 32 characters. Default: random per process (sessions, kept in the store, then end at restart; leases do not). */
      secret: z.string().min(32, 'must be at least 32 characters').optional(),
      /** `auto`: Secure cookies when the request came over HTTPS (set Express's trust proxy behind a TLS proxy). */
      secureCookie: z.union([z.boolean(), z.literal('auto')]).default('auto'),
      maxAgeSeconds: z
        .int()
        .min(60)
        .max(30 * 86_400)
        .default(D.DEFAULT_SESSION_MAX_AGE_SECONDS),
    })
    .default({ secureCookie: 'auto', maxAgeSeconds: D.DEFAULT_SESSION_MAX_AGE_SECONDS }),
  login: z
    .strictObject({
      /** Failures for one user name from anywhere before its logins are slowed (never refused, so nobody can lock another out). */
      perUser: throttleSchema.default(D.DEFAULT_LOGIN_THROTTLE_PER_USER),
      /** Failures for one user name from one address before that pair is refused for the rest of the window. */
      perUserAddress: throttleSchema.default(D.DEFAULT_LOGIN_THROTTLE_PER_USER_ADDRESS),
      /** Failures from one address, whatever the user name, before the address is refused for the rest of the window. */
      perAddress: throttleSchema.default(D.DEFAULT_LOGIN_THROTTLE_PER_ADDRESS),
      /** The pause per failure past perUser.failures (ms), up to perUserMaxDelayMs. */
      perUserDelayMs: z.int().min(0).max(60_000).default(D.DEFAULT_LOGIN_PER_USER_DELAY_MS),
      perUserMaxDelayMs: z.int().min(0).max(60_000).default(D.DEFAULT_LOGIN_PER_USER_MAX_DELAY_MS),
      /** How long a successful password check is remembered (seconds); 0 checks every time. */
      cacheSeconds: z.int().min(0).max(86_400).default(D.DEFAULT_LOGIN_CACHE_SECONDS),
      /** A login whose user may use no service here gets no lease (403 with the reason); false issues one anyway. */
      requireRights: z.boolean().default(true),
    })
    .default({
      perUser: D.DEFAULT_LOGIN_THROTTLE_PER_USER,
      perUserAddress: D.DEFAULT_LOGIN_THROTTLE_PER_USER_ADDRESS,
      perAddress: D.DEFAULT_LOGIN_THROTTLE_PER_ADDRESS,
      perUserDelayMs: D.DEFAULT_LOGIN_PER_USER_DELAY_MS,
      perUserMaxDelayMs: D.DEFAULT_LOGIN_PER_USER_MAX_DELAY_MS,
      cacheSeconds: D.DEFAULT_LOGIN_CACHE_SECONDS,
      requireRights: true,
    }),
  /** Answer signed discovery queries on the LAN (UDP); local proxies find the gateway by them. */
  discovery: z
    .strictObject({
      /** The network's name: local proxies pin this gateway's key under it. */
      name: z.string().regex(NETWORK_NAME, 'must be 1-63 characters without dots, control or format characters'),
      /** The management API's URL as seen from the LAN, e.g. http://10.0.0.1:8080/roamgate. */
      url: z.url({ protocol: /^https?$/ }),
      /** The gateway's Ed25519 key (PEM); made on first start when missing. */
      keyFile: z.string().min(1),
      port: port.default(DEFAULT_DISCOVERY_PORT),
      host: z.string().refine(isValidHost, 'must be an IP address').default('0.0.0.0'),
      /** Answer DNS-SD (`_roamgate._tcp`) queries over mDNS as well: `true` for port 5353 on every interface, or `{ port, interface }`. */
      mdns: z
        .union([
          z.boolean(),
          z.strictObject({
            port: port.min(1, 'must be an integer 1-65535').default(DEFAULT_MDNS_PORT),
            /** IPv4 address of the one interface to answer on; default every interface. */
            interface: z.ipv4('must be the IPv4 address of an interface').optional(),
          }),
        ])
        .default(false),
      /** `false`: keep the key and what /discover pins, but let another process of this gateway answer on the LAN (`serve --workers`). */
      answer: z.boolean().default(true),
    })
    .optional(),
  /**
   * The host app's login as the directory (instead of `users` and the store's): `{ verify(username, password), get?(id) }`
   * or a passport-local Strategy instance. Used by every login: the login page, JSON, in-protocol, peers.
   */
  directory: z
    .custom<DirectoryOption>(isDirectoryOption, 'must be { verify(username, password), get?(id) } or a passport Strategy')
    .optional(),
  /** Where `gw.router` is mounted: `gw.protect` and `gw.web` send browsers to `<mountPath>/login`. */
  mountPath: z
    .string()
    .regex(/^\/[A-Za-z0-9/_.-]*$/, 'must be a path starting with /')
    .transform((path) => (path.length > 1 ? path.replace(/\/+$/, '') : path))
    .default('/roamgate'),
  /** The web adapter (`gw.web`): `assertionSecret` (32+ characters) signs an X-Roamgate-Assertion header for the upstream. */
  web: z.strictObject({ assertionSecret: z.string().min(32, 'must be at least 32 characters').optional() }).default({}),
  /** When a rule change denies an open relay: `close` it now, or let it `finish`. */
  onAccessChange: z.enum(['close', 'finish']).default('close'),
  logger: z.unknown().optional(),
  clock: z.unknown().optional(),
});

/** The options `roamgate()` takes, as written by a user. */
export type RoamgateOptions = Omit<z.input<typeof optionsSchema>, 'servers' | 'logger' | 'clock' | 'directory'> & {
  /** The host app's login: `{ verify(username, password), get?(id) }` (async allowed) or a passport-local Strategy. */
  directory?: DirectoryOption;
  /** A plain table (`{ smtp: [{ host, port, priority }] }`) or a ServerInfoSource. */
  servers?: ServerTable | ServerInfoSource | Record<string, Array<Omit<ServerInfo, 'priority'> & { priority?: number }>>;
  /** A pino logger (or anything with info/warn/error); default: pino to stdout. */
  logger?: Logger;
  /**
   * @internal A seam for tests, not a setting: what time it is for every expiry the gateway
   * decides (leases, registrations, login sessions, cached logins, peer timestamps). Default the system clock.
   */
  clock?: Clock;
};

type Parsed = z.output<typeof optionsSchema>;
export type AccessRule = z.output<typeof accessRuleSchema>;
export type ConfiguredUserOptions = z.output<typeof userSchema>;
export type PeerOptions = z.output<typeof peerSchema>;

/** Options after validation: complete, defaulted and frozen. */
export interface NormalizedOptions extends Readonly<Omit<Parsed, 'servers' | 'logger' | 'adapters' | 'clock' | 'directory'>> {
  directory?: DirectoryOption;
  servers: { table: ServerTable } | { source: ServerInfoSource };
  adapters: Readonly<{
    smtp?: SmtpAdapterOptions;
    pop3?: LineAdapterOptions;
    imap?: LineAdapterOptions;
    nntp?: LineAdapterOptions;
    'http-proxy'?: HttpProxyAdapterOptions;
    tcp?: Readonly<Record<string, TcpAdapterOptions>>;
  }>;
  logger?: Logger;
  clock?: Clock;
}

function invalid(message: string): never {
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message);
}

function isSource(value: unknown): value is ServerInfoSource {
  return typeof value === 'object' && value !== null && typeof (value as ServerInfoSource).resolve === 'function';
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Validates user options once, at the door, into a new frozen object with
 * every default filled in. Throws ROAMGATE_INVALID_OPTIONS naming the path of
 * the first bad option (`adapters.smtp.port: ...`).
 */
export function normalizeOptions(input: unknown): NormalizedOptions {
  if (typeof input !== 'object' || input === null) invalid('options must be an object');
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) invalid(describeZodError(parsed.error));
  const { servers, logger, clock, adapters, store, directory, ...rest } = parsed.data;
  if (directory !== undefined && rest.users.length > 0) invalid('users: not used when a directory is given (the host checks logins)');
  if (Object.keys(rest.peers).length > 0 && rest.realm === undefined)
    invalid('realm: required when peers are configured (peers know this gateway by it)');
  const ownPeer =
    rest.realm === undefined ? undefined : Object.keys(rest.peers).find((name) => name.toLowerCase() === rest.realm!.toLowerCase());
  if (ownPeer !== undefined) invalid(`peers.${ownPeer}: a gateway cannot be its own peer (it is this gateway's realm)`);

  let normalizedServers: NormalizedOptions['servers'];
  if (isSource(servers)) normalizedServers = Object.freeze({ source: servers });
  else {
    const table = serverTableSchema.safeParse(servers ?? {});
    if (!table.success) invalid(describeZodError(table.error, 'servers'));
    normalizedServers = deepFreeze({ table: table.data });
  }
  if (
    logger !== undefined &&
    (typeof logger !== 'object' ||
      logger === null ||
      ['info', 'warn', 'error'].some((level) => typeof (logger as Record<string, unknown>)[level] !== 'function'))
  )
    invalid('logger: must be a pino logger (an object with info, warn and error)');
  if (clock !== undefined && !isClock(clock)) invalid('clock: must be a Clock (an object with now() and monotonic())');

  let httpProxy: HttpProxyAdapterOptions | undefined;
  if (adapters['http-proxy']) {
    const allow = adapters['http-proxy'].allow.map((entry, index) => {
      try {
        return parseAllowRule(entry);
      } catch (error) {
        return invalid(`adapters.http-proxy.allow.${index}: ${(error as Error).message}`);
      }
    });
    httpProxy = { ...adapters['http-proxy'], allow };
  }
  const ports: Array<[string, string, number]> = [];
  const { tcp, ...builtIn } = adapters;
  const sections = [...Object.entries(builtIn), ...Object.entries(tcp ?? {}).map(([name, adapter]) => [`tcp.${name}`, adapter] as const)];
  for (const [name, adapter] of sections) {
    if (!adapter) continue;
    if (adapter.port !== 0) ports.push([`adapters.${name}.port`, adapter.host, adapter.port]);
    const tlsPort = (adapter as { tlsPort?: number }).tlsPort;
    if (tlsPort) ports.push([`adapters.${name}.tlsPort`, adapter.host, tlsPort]);
  }
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  for (const [path, host, port] of ports) {
    const clash = ports.find(
      ([other, otherHost, otherPort]) =>
        other !== path && otherPort === port && (otherHost === host || wildcard(otherHost) || wildcard(host)),
    );
    if (clash) invalid(`${path}: ${port} is also ${clash[0]}`);
  }
  const normalizedAdapters: NormalizedOptions['adapters'] = {
    smtp: adapters.smtp,
    pop3: adapters.pop3,
    imap: adapters.imap,
    nntp: adapters.nntp,
    'http-proxy': httpProxy,
    tcp,
  };
  for (const key of Object.keys(normalizedAdapters) as (keyof typeof normalizedAdapters)[])
    if (!normalizedAdapters[key]) delete (normalizedAdapters as Record<string, unknown>)[key];
  const settings = deepFreeze({ ...rest, adapters: normalizedAdapters });
  // A custom source, the logger and the clock are the caller's live objects: referenced, never frozen.
  const live = { logger: logger as Logger | undefined, clock: clock as Clock | undefined, directory };
  return Object.freeze({ ...settings, servers: normalizedServers, store: isStore(store) ? store : Object.freeze({ ...store }), ...live });
}
