import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { RoamgateError } from '../errors';
import { DEFAULT_DISCOVERY_PORT } from '../protocols/discovery-message';
import { DEFAULT_MDNS_PORT } from '../protocols/mdns-announcement';
import { isKnownService, KNOWN_SERVICES, SERVICE_NAME, type KnownService } from '../protocols/services';

/** The services a local proxy listens for by default: one loopback port each. */
export const LOCAL_SERVICES = KNOWN_SERVICES;
/** A service the local proxy listens for: one it speaks, or any other service name (on the port `listen` gives it), relayed byte for byte. */
export type LocalService = KnownService | (string & {});
/** A loopback listener: a service, or `pac` (the browsers' proxy auto-config file). */
export type ListenerName = LocalService | 'pac';
/** The listeners with a standard port. */
export type StandardListener = KnownService | 'pac';
export const LISTENER_NAMES: readonly StandardListener[] = [...LOCAL_SERVICES, 'pac'];

/**
 * The ports clients expect (RFC 5321, 1939, 9051, 3977; 3128 is the web-proxy
 * convention). Tried first when the process may bind them.
 */
export const STANDARD_PORTS: Readonly<Record<StandardListener, number>> = Object.freeze({
  smtp: 25,
  pop3: 110,
  imap: 143,
  nntp: 119,
  'http-proxy': 3128,
  pac: 3129,
});
/** Used when a standard port cannot be bound (below 1024 without privileges, or taken). */
export const DEFAULT_PORTS: Readonly<Record<StandardListener, number>> = Object.freeze({
  smtp: 2525,
  pop3: 1110,
  imap: 1143,
  nntp: 1119,
  'http-proxy': 3128,
  pac: 3129,
});
/** Where listeners bind: loopback only, so no one else on the network can use the lease. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';
/** The query goes to these addresses unless others are given. */
export const DEFAULT_DISCOVERY_ADDRESSES: readonly string[] = Object.freeze(['255.255.255.255']);
/** mDNS/DNS-SD discovery: on, asking on port 5353 on every non-loopback IPv4 interface. */
export const DEFAULT_DISCOVERY_MDNS: Readonly<{ enabled: boolean; port: number; interfaces: readonly string[] }> = Object.freeze({
  enabled: true,
  port: DEFAULT_MDNS_PORT,
  interfaces: Object.freeze([]) as readonly string[],
});
/** How long discovery collects answers (ms); an answer from a known network ends it early. */
export const DEFAULT_DISCOVERY_WINDOW_MS = 1_500;
/** Connect time allowed to one server or to the gateway (ms). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Time allowed to one management API request (ms). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** A relay with no traffic either way for this long is closed (ms); the gateway's own default. */
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/**
 * The gateway's event stream carries a ping every half second; this long without a byte means the gateway, or the way
 * to it, is gone (ms). Never less than two of the pings the gateway announces; 45 s for a gateway that announces none.
 */
export const DEFAULT_EVENTS_SILENCE_MS = 2_000;
/** How often the local proxy looks at this machine's own addresses and default route (ms): a move is noticed within it. 0: never. */
export const DEFAULT_NETWORK_POLL_MS = 1_000;
/** Without a lease there is no event stream: /discover is fetched this often instead (ms). */
export const DEFAULT_DISCOVER_POLL_MS = 30_000;
/** First and longest wait between attempts to find the gateway again (ms); doubles in between. */
export const DEFAULT_RECONNECT_MIN_MS = 500;
export const DEFAULT_RECONNECT_MAX_MS = 15_000;

/** The state directory: `$XDG_CONFIG_HOME/roamgate`, else `~/.config/roamgate`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_CONFIG_HOME ? join(env.XDG_CONFIG_HOME, 'roamgate') : join(homedir(), '.config', 'roamgate');
}

/** A password, or a function asked for it when a login is needed (it may prompt). */
export type PasswordProvider = string | (() => Promise<string>);

const port = z
  .int('must be an integer 0-65535 (0 picks a free port)')
  .min(0, 'must be an integer 0-65535 (0 picks a free port)')
  .max(65535, 'must be an integer 0-65535 (0 picks a free port)');
const ms = (max: number) =>
  z.int('must be a whole number of milliseconds').min(1, 'must be at least 1 ms').max(max, `must be at most ${max} ms`);

const gatewayUrl = z.string().transform((text, context) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    context.addIssue({
      code: 'custom',
      message: `must be the gateway's management URL, e.g. http://gateway.example:8080/roamgate (got ${JSON.stringify(text)})`,
    });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    context.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    return z.NEVER;
  }
  if (url.username || url.password || url.search || url.hash) {
    context.addIssue({ code: 'custom', message: 'must be a plain URL without credentials, query or fragment' });
    return z.NEVER;
  }
  return url.href.replace(/\/+$/, '');
});

/** True for a base64 SPKI Ed25519 public key, as discovery answers carry. */
export function isGatewayKey(text: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return false;
  try {
    return createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' }).asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

const isLoopback = (host: string) => (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';

const ipv4 = z.string().refine((host) => isIP(host) === 4, 'must be an IPv4 address');

/** `true`/`false` are short for `{ enabled }`; an object turns mDNS on unless it says `enabled: false`. */
const mdnsSchema = z.union([
  z.boolean().transform((enabled) => ({ ...DEFAULT_DISCOVERY_MDNS, enabled, interfaces: [] as string[] })),
  z.strictObject({
    enabled: z.boolean().default(true),
    port: port.refine((value) => value > 0, 'must be an integer 1-65535').default(DEFAULT_MDNS_PORT),
    /** IPv4 addresses of the interfaces to ask on; empty: every non-loopback IPv4 interface. */
    interfaces: z.array(ipv4).default([]),
  }),
]);

/** Ports by listener: the known ones, `pac`, or another service's name (which adds a listener for it). */
const listenSchema = z.record(z.string(), port.optional()).superRefine((listen, context) => {
  for (const name of Object.keys(listen))
    if (name !== 'pac' && !SERVICE_NAME.test(name))
      context.addIssue({ code: 'custom', path: [name], message: 'is not a service name (lowercase letters, digits, dashes)' });
});

const localOptionsSchema = z.strictObject({
  /** The gateway's management URL; without it the gateway is found by discovery on the LAN. */
  gateway: gatewayUrl.optional(),
  /** The user to log in as; gateway mode needs one (or a saved lease). */
  user: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be a user name of 1-64 letters, digits, dots, dashes, underscores or @')
    .optional(),
  password: z
    .custom<PasswordProvider>(
      (value) => (typeof value === 'string' && value.length > 0) || typeof value === 'function',
      'must be a non-empty string or a function returning the password',
    )
    .optional(),
  /** Fixed ports per listener (0: any free port). Others are chosen once and remembered in the state dir. */
  listen: listenSchema.default({}),
  /** The services to listen for (default: the ones roamgate speaks); another service needs its port in `listen`. */
  services: z
    .array(z.string().regex(SERVICE_NAME, 'must be a service name (lowercase letters, digits, dashes)'))
    .min(1, 'must name at least one service')
    .default([...LOCAL_SERVICES]),
  /** Serve the proxy auto-config file for browsers (needs the http-proxy service). */
  pac: z.boolean().default(true),
  /** Forces the mode; default: the one the gateway's /discover names. */
  mode: z.enum(['direct', 'gateway']).optional(),
  stateDir: z
    .string()
    .min(1)
    .default(() => defaultStateDir()),
  host: z
    .string()
    .refine(isLoopback, 'must be a loopback address (127.x.x.x or ::1): a local proxy never listens for other machines')
    .default(DEFAULT_LISTEN_HOST),
  /** Try the standard ports (25, 110, 119) before the defaults (2525, 1110, 1119). */
  tryStandardPorts: z.boolean().default(true),
  discovery: z
    .strictObject({
      port: port.refine((value) => value > 0, 'must be an integer 1-65535').default(DEFAULT_DISCOVERY_PORT),
      addresses: z
        .array(ipv4)
        .min(1, 'must name at least one address')
        .default([...DEFAULT_DISCOVERY_ADDRESSES]),
      /** DNS-SD over mDNS, asked at the same time as UDP: `false` to ask by UDP only, or `{ port, interfaces }`. */
      mdns: mdnsSchema.default({ ...DEFAULT_DISCOVERY_MDNS, interfaces: [] }),
      windowMs: ms(60_000).default(DEFAULT_DISCOVERY_WINDOW_MS),
      /** Accept only answers signed by this key (base64 SPKI), instead of pinning on first use. */
      gatewayKey: z
        .string()
        .refine(isGatewayKey, "must be the gateway's Ed25519 public key in base64 (as its discovery answers carry)")
        .optional(),
    })
    .default({
      port: DEFAULT_DISCOVERY_PORT,
      addresses: [...DEFAULT_DISCOVERY_ADDRESSES],
      mdns: { ...DEFAULT_DISCOVERY_MDNS, interfaces: [] },
      windowMs: DEFAULT_DISCOVERY_WINDOW_MS,
    }),
  limits: z
    .strictObject({
      connectTimeoutMs: ms(600_000).default(DEFAULT_CONNECT_TIMEOUT_MS),
      requestTimeoutMs: ms(600_000).default(DEFAULT_REQUEST_TIMEOUT_MS),
      /** 0: no idle limit. */
      idleTimeoutMs: z.int().min(0).max(86_400_000).default(DEFAULT_IDLE_TIMEOUT_MS),
      eventsSilenceMs: ms(3_600_000).default(DEFAULT_EVENTS_SILENCE_MS),
      discoverPollMs: ms(3_600_000).default(DEFAULT_DISCOVER_POLL_MS),
      /** 0: the local network is not watched (a move is then noticed by the event stream's silence alone). */
      networkPollMs: z.int().min(0).max(60_000).default(DEFAULT_NETWORK_POLL_MS),
      reconnectMinMs: ms(600_000).default(DEFAULT_RECONNECT_MIN_MS),
      reconnectMaxMs: ms(3_600_000).default(DEFAULT_RECONNECT_MAX_MS),
    })
    .refine((limits) => limits.reconnectMaxMs >= limits.reconnectMinMs, {
      message: 'must be at least reconnectMinMs',
      path: ['reconnectMaxMs'],
    })
    .default({
      connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
      eventsSilenceMs: DEFAULT_EVENTS_SILENCE_MS,
      discoverPollMs: DEFAULT_DISCOVER_POLL_MS,
      networkPollMs: DEFAULT_NETWORK_POLL_MS,
      reconnectMinMs: DEFAULT_RECONNECT_MIN_MS,
      reconnectMaxMs: DEFAULT_RECONNECT_MAX_MS,
    }),
});

/**
 * Options of {@link startLocalProxy}, as a caller writes them.
 * @example
 * { gateway: 'http://10.0.0.1:8080/roamgate', user: 'alice', password: () => ask(), listen: { smtp: 2525 } }
 */
export type LocalProxyOptions = z.input<typeof localOptionsSchema>;
/** Options after validation: complete, defaulted and frozen. */
export type NormalizedLocalOptions = Readonly<z.output<typeof localOptionsSchema>>;

function invalid(message: string): never {
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message);
}

/** The dotted path and message of a zod error's first issue (`listen.smtp: must be ...`). */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
  const message = issue.code === 'unrecognized_keys' ? 'is not an option' : issue.message;
  return `${path.join('.') || '(options)'}: ${message}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) if (typeof child !== 'function') deepFreeze(child);
  }
  return value;
}

/**
 * Validates local proxy options once into a new frozen object with every
 * default filled in; throws ROAMGATE_INVALID_OPTIONS naming the first bad one.
 */
export function normalizeLocalOptions(input: unknown): NormalizedLocalOptions {
  if (typeof input !== 'object' || input === null) invalid('options must be an object');
  const parsed = localOptionsSchema.safeParse(input);
  if (!parsed.success) invalid(describeIssue(parsed.error));
  const options = parsed.data;
  // A port for a service roamgate does not speak asks for a listener; such a service has no standard port to take.
  const others = Object.keys(options.listen).filter((name) => name !== 'pac' && !isKnownService(name));
  const services = [...new Set([...options.services, ...others])];
  const portless = services.find((name) => !isKnownService(name) && options.listen[name] === undefined);
  if (portless) invalid(`services: ${portless} has no standard port; give it one in listen.${portless}`);
  // The PAC file names the local web proxy: without one there is nothing to point browsers at.
  if (!options.services.includes('http-proxy')) options.pac = false;
  const fixed = Object.entries(options.listen).filter(([, value]) => value !== undefined && value !== 0) as [string, number][];
  fixed.forEach(([name, value], index) => {
    const clash = fixed.slice(0, index).find(([, earlier]) => earlier === value);
    if (clash) invalid(`listen.${name}: port ${value} is also listen.${clash[0]}`);
  });
  return deepFreeze({ ...options, services });
}

/**
 * Parses one `--listen` value, `SERVICE=PORT` (`smtp=2525`).
 * @example parseListenSpec('pop3=1110') // ['pop3', 1110]
 */
export function parseListenSpec(spec: string): [ListenerName, number] {
  const match = /^([a-z0-9-]+)=(\d{1,5})$/.exec(spec.trim());
  if (!match) invalid(`--listen ${spec}: expected SERVICE=PORT, e.g. smtp=2525`);
  const [, name, digits] = match;
  if (name !== 'pac' && !SERVICE_NAME.test(name))
    invalid(`--listen ${spec}: ${name} is not a service name (${LISTENER_NAMES.join(', ')}, or another service's)`);
  const value = Number(digits);
  if (value > 65535) invalid(`--listen ${spec}: port must be an integer 0-65535`);
  return [name as ListenerName, value];
}
