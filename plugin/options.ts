import { z } from 'zod';
import { RoamgateError } from '../errors';
import { parseAllowRule, type AllowRule } from '../protocols/http/allowlist';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_HEALTH_TIMEOUT_MS } from '../sources/health-monitor';
import { MAX_REGISTRATION_TTL_SECONDS } from '../sources/registry-source';
import type { ServerInfoSource, ServerTable } from '../sources/server-info-source';
import { describeZodError, serverTableSchema } from '../sources/table-schema';
import { isValidHost } from '../protocols/http/target';
import * as D from './defaults';

/** Something with pino's logging methods. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const port = z.int().min(0, 'must be an integer 0-65535 (0 picks a free port)').max(65535, 'must be an integer 0-65535 (0 picks a free port)');
const positiveMs = z.int().min(1).max(86_400_000);

const adapterBase = {
  host: z.string().refine(isValidHost, 'must be an IP address or hostname').default(D.DEFAULT_ADAPTER_HOST),
  port,
  connectTimeoutMs: positiveMs.default(D.DEFAULT_CONNECT_TIMEOUT_MS),
  idleTimeoutMs: positiveMs.default(D.DEFAULT_IDLE_TIMEOUT_MS),
  maxClients: z.int().min(1).max(1_000_000).default(D.DEFAULT_MAX_CLIENTS),
};
const lineAdapterSchema = z.strictObject(adapterBase);
const httpProxyAdapterSchema = z.strictObject({
  ...adapterBase,
  maxHeaderBytes: z.int().min(1024).max(1024 * 1024).default(D.DEFAULT_MAX_HEADER_BYTES),
  /** `host:port` patterns the web proxy may reach; empty means nowhere. */
  allow: z.array(z.string()).default([]),
});

const subject = z.string().regex(/^(anonymous|authenticated|user:[^\s=]+|[A-Za-z0-9_.-]+=[^\s]*)$/, 'must be anonymous, authenticated, user:<id> or <attribute>=<value>');
const accessRuleSchema = z.strictObject({
  subject,
  service: z.string().regex(/^(\*|[a-z0-9][a-z0-9-]{0,31})$/, 'must be a service name or *'),
  allow: z.boolean(),
  reason: z.string().max(200).optional(),
});

const optionsSchema = z.strictObject({
  /** `gateway`: clients are told to use the gateway's adapters; `direct`: they are told the servers. */
  mode: z.enum(['gateway', 'direct']).default('gateway'),
  /** Host name given to clients in gateway-mode discovery; default: the host the request was sent to. */
  publicHost: z.string().refine(isValidHost, 'must be a hostname or IP address').optional(),
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  registration: z.strictObject({
    secret: z.string().min(16, 'must be at least 16 characters').optional(),
    defaultTtlSeconds: z.int().min(1).max(MAX_REGISTRATION_TTL_SECONDS).default(D.DEFAULT_REGISTRATION_TTL_SECONDS),
  }).default({ defaultTtlSeconds: D.DEFAULT_REGISTRATION_TTL_SECONDS }),
  servers: z.unknown().optional(),
  serversFile: z.string().min(1).optional(),
  adapters: z.strictObject({
    smtp: lineAdapterSchema.optional(),
    pop3: lineAdapterSchema.optional(),
    nntp: lineAdapterSchema.optional(),
    'http-proxy': httpProxyAdapterSchema.optional(),
  }).default({}),
  access: z.array(accessRuleSchema).default([]),
  health: z.strictObject({
    enabled: z.boolean().default(true),
    intervalMs: positiveMs.default(DEFAULT_HEALTH_INTERVAL_MS),
    timeoutMs: positiveMs.default(DEFAULT_HEALTH_TIMEOUT_MS),
  }).default({ enabled: true, intervalMs: DEFAULT_HEALTH_INTERVAL_MS, timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS }),
  shutdownGraceMs: z.int().min(0).max(3_600_000).default(D.DEFAULT_SHUTDOWN_GRACE_MS),
  logger: z.unknown().optional(),
});

/** The options `roamgate()` takes, as written by a user. */
export type RoamgateOptions = Omit<z.input<typeof optionsSchema>, 'servers' | 'logger'> & {
  /** A plain table (`{ smtp: [{ host, port, priority }] }`) or a ServerInfoSource. */
  servers?: ServerTable | ServerInfoSource | Record<string, Array<{ host: string; port: number; priority?: number }>>;
  /** A pino logger (or anything with info/warn/error); default: pino to stdout. */
  logger?: Logger;
};

type Parsed = z.output<typeof optionsSchema>;
export type LineAdapterOptions = z.output<typeof lineAdapterSchema>;
export type HttpProxyAdapterOptions = Omit<z.output<typeof httpProxyAdapterSchema>, 'allow'> & { allow: readonly AllowRule[] };
export type AccessRule = z.output<typeof accessRuleSchema>;

/** Options after validation: complete, defaulted and frozen. */
export interface NormalizedOptions extends Readonly<Omit<Parsed, 'servers' | 'logger' | 'adapters'>> {
  servers: { table: ServerTable } | { source: ServerInfoSource };
  adapters: Readonly<{ smtp?: LineAdapterOptions; pop3?: LineAdapterOptions; nntp?: LineAdapterOptions; 'http-proxy'?: HttpProxyAdapterOptions }>;
  logger?: Logger;
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
  const { servers, logger, adapters, ...rest } = parsed.data;

  let normalizedServers: NormalizedOptions['servers'];
  if (isSource(servers)) normalizedServers = Object.freeze({ source: servers });
  else {
    const table = serverTableSchema.safeParse(servers ?? {});
    if (!table.success) invalid(describeZodError(table.error, 'servers'));
    normalizedServers = deepFreeze({ table: table.data });
  }
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || ['info', 'warn', 'error'].some((level) => typeof (logger as Record<string, unknown>)[level] !== 'function'))) invalid('logger: must be a pino logger (an object with info, warn and error)');

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
  const ports = Object.entries(adapters).filter(([, adapter]) => adapter && adapter.port !== 0);
  for (const [name, adapter] of ports) {
    const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
    const clash = ports.find(([other, candidate]) => other !== name && candidate!.port === adapter!.port && (candidate!.host === adapter!.host || wildcard(candidate!.host) || wildcard(adapter!.host)));
    if (clash) invalid(`adapters.${name}.port: ${adapter!.port} is also adapters.${clash[0]}.port`);
  }
  const normalizedAdapters: NormalizedOptions['adapters'] = { smtp: adapters.smtp, pop3: adapters.pop3, nntp: adapters.nntp, 'http-proxy': httpProxy };
  for (const key of Object.keys(normalizedAdapters) as (keyof typeof normalizedAdapters)[]) if (!normalizedAdapters[key]) delete (normalizedAdapters as Record<string, unknown>)[key];
  const settings = deepFreeze({ ...rest, adapters: normalizedAdapters });
  // A custom source and the logger are the user's live objects: referenced, never frozen.
  return Object.freeze({ ...settings, servers: normalizedServers, logger: logger as Logger | undefined });
}
