import { z } from 'zod';
import { isValidHost } from '../protocols/http/target';
import * as D from './defaults';
import { SUBJECT_PATTERN } from '../sources/subject';
import { MIN_PEER_SECRET_LENGTH } from '../protocols/peer-signature';
import { parsePasswordHash } from './password';
import { isBuiltInAdapterName, SERVICE_NAME } from '../protocols/services';
import { isRefusalTemplate, MAX_REFUSAL_TEMPLATE_LENGTH } from '../protocols/refusal-line';

/* The building blocks of the options schema (plugin/options.ts): adapters, logins, access rules, users, throttles, peers. */

export const port = z
  .int()
  .min(0, 'must be an integer 0-65535 (0 picks a free port)')
  .max(65535, 'must be an integer 0-65535 (0 picks a free port)');
export const positiveMs = z.int().min(1).max(86_400_000);

export const adapterBase = {
  host: z.string().refine(isValidHost, 'must be an IP address or hostname').default(D.DEFAULT_ADAPTER_HOST),
  port,
  connectTimeoutMs: positiveMs.default(D.DEFAULT_CONNECT_TIMEOUT_MS),
  idleTimeoutMs: positiveMs.default(D.DEFAULT_IDLE_TIMEOUT_MS),
  maxClients: z.int().min(1).max(1_000_000).default(D.DEFAULT_MAX_CLIENTS),
  /** Simultaneous clients from one address (an IPv6 /64 counts as one); past it, the same refusal as past maxClients. */
  maxClientsPerAddress: z.int().min(1).max(1_000_000).default(D.DEFAULT_MAX_CLIENTS_PER_ADDRESS),
  /** Loopback clients (a local proxy, a front proxy on this host) are not held to maxClientsPerAddress. */
  loopbackExempt: z.boolean().default(true),
};
export const loginSchema = z.strictObject({
  /** Accept logins before TLS (STARTTLS or the implicit-TLS port). Off by default: passwords stay off the wire. */
  allowCleartext: z.boolean().default(false),
  maxLoginAttempts: z.int().min(1).max(100).default(D.DEFAULT_MAX_LOGIN_ATTEMPTS),
  maxUnauthenticatedCommands: z.int().min(1).max(10_000).default(D.DEFAULT_MAX_UNAUTHENTICATED_COMMANDS),
  maxLineLength: z.int().min(512).max(65_536).default(D.DEFAULT_MAX_LINE_LENGTH),
  preLoginIdleMs: positiveMs.default(D.DEFAULT_PRE_LOGIN_IDLE_MS),
  /** The whole dialogue up to an accepted login must end within this, however the client trickles its bytes. */
  preLoginDeadlineMs: positiveMs.default(D.DEFAULT_PRE_LOGIN_DEADLINE_MS),
  /** Advertise PIPELINING (SMTP, POP3): only when every server behind the adapter supports it. */
  pipelining: z.boolean().default(false),
  /** Name the adapter greets with; default: this machine's host name. */
  hostname: z.string().refine(isValidHost, 'must be a hostname').optional(),
});
export const lineAdapterSchema = z
  .strictObject({
    ...adapterBase,
    /** Speak the protocol up to the client's own login (SMTP AUTH, POP3 USER/PASS, NNTP AUTHINFO). */
    login: loginSchema.optional(),
    /** Certificate and key (PEM files): STARTTLS/STLS is offered, and `tlsPort` can listen with implicit TLS. */
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** A second port on which clients speak TLS from the first byte (465/995/563 style). */
    tlsPort: port.optional(),
  })
  .refine((adapter) => adapter.tlsPort === undefined || adapter.tls !== undefined, {
    message: 'tlsPort needs tls: { cert, key }',
    path: ['tlsPort'],
  });
/** `adapters.smtp`: a line adapter that may be a mail submission port (RFC 6409, usually 587). */
export const smtpAdapterSchema = lineAdapterSchema
  .extend({
    /** Every client logs in with AUTH before MAIL (`530 5.7.0` otherwise), lease holders and allowed anonymous clients too; implies `login`. */
    submission: z.boolean().default(false),
  })
  .refine((adapter) => !adapter.submission || adapter.tls !== undefined || adapter.login?.allowCleartext === true, {
    message: 'needs tls: { cert, key } (for STARTTLS), or login: { allowCleartext: true }',
    path: ['submission'],
  })
  .transform((adapter) => (adapter.submission && !adapter.login ? { ...adapter, login: loginSchema.parse({}) } : adapter));
/** A generic TCP adapter (`adapters.tcp.<name>`): the service `<name>` by the port clients arrive on, relayed byte for byte. */
export const tcpAdapterSchema = z.strictObject({
  ...adapterBase,
  /** One line written to a refused client before it is closed, `{reason}` standing for the reason; default none (closed without a word). */
  refusal: z
    .string()
    .refine(isRefusalTemplate, `must be one line of 1-${MAX_REFUSAL_TEMPLATE_LENGTH} characters without control characters`)
    .optional(),
});
/** The names of `adapters.tcp`: service names, none of them a built-in adapter's. */
export const tcpAdaptersSchema = z.record(z.string(), tcpAdapterSchema).superRefine((adapters, context) => {
  for (const name of Object.keys(adapters)) {
    if (!SERVICE_NAME.test(name))
      context.addIssue({ code: 'custom', path: [name], message: 'must be a service name (lowercase letters, digits, dashes)' });
    else if (isBuiltInAdapterName(name))
      context.addIssue({ code: 'custom', path: [name], message: `is taken by the built-in adapters.${name.replace(/-tls$/, '')}` });
  }
});
export const httpProxyAdapterSchema = z.strictObject({
  ...adapterBase,
  maxHeaderBytes: z
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(D.DEFAULT_MAX_HEADER_BYTES),
  /** A request head must arrive whole within this (ms); else `408` and the connection is closed. */
  headersTimeoutMs: positiveMs.default(D.DEFAULT_HEADERS_TIMEOUT_MS),
  /** `host:port` patterns the web proxy may reach; empty means nowhere. */
  allow: z.array(z.string()).default([]),
  /** `Proxy-Authorization: Basic` logins; over this cleartext port only when `allowCleartext`. */
  login: z.strictObject({ allowCleartext: z.boolean().default(false) }).optional(),
});

export const subject = z.string().regex(SUBJECT_PATTERN, 'must be anonymous, authenticated, user:<id> or <attribute>=<value>');
export const accessRuleSchema = z.strictObject({
  subject,
  service: z.string().regex(/^(\*|[a-z0-9][a-z0-9-]{0,31})$/, 'must be a service name or *'),
  allow: z.boolean(),
  reason: z.string().max(200).optional(),
});

export const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export const userSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be 1-64 letters, digits, dots, dashes, underscores or @'),
  passwordHash: z
    .string()
    .refine(
      (hash) => parsePasswordHash(hash) !== null,
      'must be a scrypt hash made by `roamgate users hash` (plain passwords are never accepted)',
    ),
  attributes: z
    .record(z.string(), z.string().max(256))
    .superRefine((attributes, context) => {
      for (const name of Object.keys(attributes)) {
        if (!ATTRIBUTE_NAME.test(name))
          context.addIssue({
            code: 'custom',
            path: [name],
            message: 'attribute names are 1-64 letters, digits, dots, dashes or underscores',
          });
      }
    })
    .default({}),
  disabled: z.boolean().default(false),
});

export const throttleSchema = z.strictObject({
  /** Failed logins allowed per window (which starts at the first failure) before further tries are refused (or, per user, slowed). */
  failures: z.int().min(1).max(10_000),
  windowSeconds: z.int().min(1).max(86_400),
});

export { SERVICE_NAME };

/** Checks a record's keys, so a bad one is reported at its own path with a message that says what is wanted. */
export function keysMatch(pattern: RegExp, message: string) {
  return (record: Record<string, unknown>, context: z.RefinementCtx) => {
    for (const key of Object.keys(record)) if (!pattern.test(key)) context.addIssue({ code: 'custom', path: [key], message });
  };
}

export const peerSchema = z.strictObject({
  /** The secret this pair of gateways shares (at least 32 characters); both sign every request and answer with it. */
  secret: z.string().min(MIN_PEER_SECRET_LENGTH, `must be at least ${MIN_PEER_SECRET_LENGTH} characters`),
  /**
   * The peer's management URL. Set it to ask the peer about its users (this
   * gateway is visited, the peer is their home). Without it the peer may
   * only ask us (we are its users' home).
   */
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** Home role: tell this peer the real addresses of its visitors' servers rather than routing through this gateway. */
  revealAddresses: z.boolean().default(false),
  /**
   * Visited role: connect straight to server addresses this home reveals.
   * Off: its addresses are ignored and its services reached through its
   * tunnel endpoint, so no home can point this gateway at a host of this network.
   */
  acceptAddresses: z.boolean().default(false),
  /** Home role: also vouch for users of other realms this gateway can reach (act as a link in a chain for this peer). */
  chain: z.boolean().default(false),
  /** Visited role: which of the home's attributes to keep, and attributes to set on its visitors. `realm` is always set. */
  attributes: z
    .strictObject({
      keep: z
        .array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be an attribute name'))
        .refine((names) => !names.includes('role'), 'must not keep role: a home must not make admins here')
        .default([]),
      set: z
        .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.string().max(256))
        .refine((set) => !('role' in set) && !('realm' in set), 'must not set role or realm')
        .default({}),
    })
    .default({ keep: [], set: {} }),
  /** Visited role: per service, serve visitors from their `home` or from this network (`local`); default: their own home servers go home, the rest stay local. */
  routes: z
    .record(z.string(), z.enum(['home', 'local']))
    .superRefine(keysMatch(SERVICE_NAME, 'must be a service name'))
    .default({}),
  /** How long one request to the peer may take (ms). */
  timeoutMs: positiveMs.default(D.DEFAULT_PEER_TIMEOUT_MS),
  /** How long a home's yes is remembered (seconds); 0 asks at every login. */
  cacheSeconds: z.int().min(0).max(86_400).default(D.DEFAULT_PEER_CACHE_SECONDS),
  /** How long a home's no, or its silence, is remembered (seconds). */
  failureCacheSeconds: z.int().min(0).max(3600).default(D.DEFAULT_PEER_FAILURE_CACHE_SECONDS),
  /** How often visitors' leases are checked with their home, so a user disabled there loses them (seconds). */
  refreshSeconds: z.int().min(1).max(86_400).default(D.DEFAULT_PEER_REFRESH_SECONDS),
});

/** Caps on the tunnel endpoint (`CONNECT <service>.roamgate:1`); past one, `503`. */
export const tunnelSchema = z.strictObject({
  maxTunnels: z.int().min(1).max(1_000_000).default(D.DEFAULT_MAX_TUNNELS),
  maxTunnelsPerLease: z.int().min(1).max(1_000_000).default(D.DEFAULT_MAX_TUNNELS_PER_LEASE),
  maxTunnelsPerAddress: z.int().min(1).max(1_000_000).default(D.DEFAULT_MAX_CLIENTS_PER_ADDRESS),
  loopbackExempt: z.boolean().default(true),
});
