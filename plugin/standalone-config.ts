import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RoamgateError } from '../errors';
import { isValidHost } from '../protocols/http/target';
import { describeZodIssues } from '../sources/table-schema';
import { resolveSecrets } from './config-secrets';
import { port } from './option-schemas';
import type { RoamgateOptions } from './options';
import { normalizeWebRouteOptions, type WebRouteOptions } from './web/web-route-options';

/** Where the management HTTP server listens when the file says nothing. */
export const DEFAULT_HTTP = { host: '127.0.0.1', port: 8080 } as const;
/** Where the plugin is mounted when the file says nothing. */
export const DEFAULT_MOUNT = '/roamgate';

const standaloneSchema = z.looseObject({
  http: z
    .strictObject({
      host: z.string().default(DEFAULT_HTTP.host),
      port: z.int().min(0).max(65535),
      /**
       * Express's `trust proxy`: which front proxies' X-Forwarded-For to believe for the client address (leases,
       * throttling). `false` (default): none, the connection's address is the client. Trusting more than the proxies
       * you run lets any client pick the address its lease is bound to.
       */
      trustProxy: z.union([z.boolean(), z.int().min(0).max(32), z.string().min(1), z.array(z.string().min(1))]).default(false),
    })
    .default({ ...DEFAULT_HTTP, trustProxy: false }),
  mount: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/, 'must be a path starting with /')
    .default(DEFAULT_MOUNT),
  /** `assertionSecret` (the plugin's `web.assertionSecret`), and `{ <service>: { path, changeOrigin?, timeoutMs? } }`: gw.web routes. */
  web: z.record(z.string(), z.unknown()).default({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** Human-readable lines (pino-pretty) instead of JSON; default: when stdout is a terminal. */
      pretty: z.boolean().optional(),
    })
    .default({ level: 'info' }),
  /** `/metrics` without a login on a listener of its own, for Prometheus; loopback unless `host` says otherwise. */
  metrics: z
    .strictObject({ port, host: z.string().refine(isValidHost, 'must be an IP address or hostname').default('127.0.0.1') })
    .optional(),
});

/** A config file read and checked: what `serve` starts. */
export interface StandaloneConfig {
  http: { host: string; port: number; trustProxy?: boolean | number | string | string[] };
  mount: string;
  logLevel: string;
  /** pino-pretty instead of JSON lines; undefined: when stdout is a terminal. */
  logPretty?: boolean;
  /** A listener of its own for `/metrics`, without login. */
  metrics?: { port: number; host: string };
  options: RoamgateOptions;
  /** The gw.web routes to mount: service -> options (with `path`). */
  web?: Record<string, WebRouteOptions & { path: string }>;
}

/** Reads a YAML/JSON config file into roamgate options; throws ROAMGATE_INVALID_OPTIONS naming the field. */
export function readConfigFile(path: string): StandaloneConfig {
  const { config, problems } = parseConfigFile(path);
  if (!config) throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', problems[0]);
  return config;
}

/**
 * Reads a config file: its secrets (`{ env }`, `{ file }`) resolved, its own sections checked. Returns the config, or
 * every problem found in those (`roamgate check` lists them all; `serve` stops at the first), and in both cases the
 * plugin's options as the file gives them: roamgate() checks those.
 */
export function parseConfigFile(path: string): { config?: StandaloneConfig; options?: RoamgateOptions; problems: string[] } {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    return { problems: [`cannot read ${path}: ${(cause as Error).message.split('\n')[0]}`] };
  }
  const secrets = resolveSecrets(data ?? {}, dirname(path));
  const parsed = standaloneSchema.safeParse(secrets.data);
  const problems = [...secrets.problems, ...(parsed.error ? describeZodIssues(parsed.error) : [])];
  const raw = typeof secrets.data === 'object' && secrets.data !== null ? (secrets.data as Record<string, unknown>) : {};
  const { options, routes } = pluginOptions(path, parsed.data ?? raw);
  if (!parsed.success || problems.length > 0) return { options, problems };
  const checkedRoutes = webRoutes(routes);
  if (checkedRoutes.problems.length > 0) return { options, problems: checkedRoutes.problems };
  const { http, mount, log, metrics } = parsed.data;
  return {
    config: { http, mount, logLevel: log.level, logPretty: log.pretty, metrics, options, web: checkedRoutes.routes },
    options,
    problems: [],
  };
}

/** The plugin's options in a file (everything but the standalone sections), paths made relative to the file; and its web routes. */
function pluginOptions(path: string, sections: Record<string, unknown>): { options: RoamgateOptions; routes: Record<string, unknown> } {
  const { http: _http, mount: _mount, log: _log, metrics: _metrics, web, ...rest } = sections;
  const { assertionSecret, ...routes } = typeof web === 'object' && web !== null ? (web as Record<string, unknown>) : {};
  const options = (assertionSecret === undefined ? rest : { ...rest, web: { assertionSecret } }) as RoamgateOptions;
  // Paths in the file are relative to the file, not to wherever the gateway was started.
  if (typeof options.serversFile === 'string') options.serversFile = resolvePath(dirname(path), options.serversFile);
  const store = options.store as { path?: unknown } | undefined;
  if (store && typeof store.path === 'string' && store.path !== ':memory:')
    options.store = { ...store, path: resolvePath(dirname(path), store.path) } as RoamgateOptions['store'];
  return { options, routes };
}

/** The file's `web:` routes, each checked as gw.web would check it; every one needs a `path`. */
function webRoutes(routes: Record<string, unknown>): { routes: Record<string, WebRouteOptions & { path: string }>; problems: string[] } {
  const checked: Record<string, WebRouteOptions & { path: string }> = {};
  const problems: string[] = [];
  for (const [service, route] of Object.entries(routes)) {
    try {
      const options = normalizeWebRouteOptions(service, route);
      if (options.path === undefined) problems.push(`web.${service}.path: required (where the route is mounted)`);
      else checked[service] = { ...options, path: options.path };
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return { routes: checked, problems };
}
