import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { isRoamgateError } from '../errors';
import { maskSecrets, resolveTableSecrets } from '../plugin/config-secrets';
import { readTableFile } from '../sources/file-source';
import { normalizeOptions, optionsSchema } from '../plugin/options';
import { parseConfigFile, type StandaloneConfig } from '../plugin/standalone';
import { describeZodIssues, serverTableSchema } from '../sources/table-schema';

export const CHECK_USAGE = '       roamgate check --config FILE';

export const CHECK_HELP = `  check --config FILE   validate a gateway's config file as serve would, then print the
                        effective config (every default filled in, secrets shown as ***)
                        as YAML; on errors, list every one with its path on stderr and
                        exit 2. Secrets written { env: NAME } or { file: PATH } are read.`;

/** Exit statuses: the file is valid; it is not (or the command line is wrong). */
export const EXIT_OK = 0;
export const EXIT_INVALID = 2;

/** The effective config of a valid file, as the file would say it: the standalone sections, then the plugin's options. */
function effectiveConfig(config: StandaloneConfig, options: Record<string, unknown>): Record<string, unknown> {
  const { web, mountPath, logger: _logger, clock: _clock, directory: _directory, ...rest } = options;
  const given = config.options as { mountPath?: unknown };
  return {
    http: config.http,
    mount: config.mount,
    log: { level: config.logLevel, ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) },
    ...(config.metrics ? { metrics: config.metrics } : {}),
    ...(given.mountPath === undefined ? {} : { mountPath }),
    ...rest,
    web: { ...(web as object), ...config.web },
  };
}

/**
 * Zod's verdict on the plugin's options: the data with every default filled in, or every problem found (each with its
 * path), the servers table's included. normalizeOptions, which stops at the first, has the last word.
 */
function parseOptions(input: unknown): { data?: Record<string, unknown>; problems: string[] } {
  const parsed = optionsSchema.safeParse(input);
  const servers = (input as { servers?: unknown }).servers;
  const table = typeof (servers as { resolve?: unknown })?.resolve === 'function' ? undefined : serverTableSchema.safeParse(servers ?? {});
  const problems = [
    ...(parsed.error ? describeZodIssues(parsed.error) : []),
    ...(table?.error ? describeZodIssues(table.error, 'servers') : []),
  ];
  if (!parsed.success || problems.length > 0) return { problems };
  return { data: { ...parsed.data, servers: table ? table.data : servers }, problems };
}

/** The dotted path a problem starts with (`adapters.smtp.port: ...`). */
const pathOf = (problem: string) => problem.slice(0, problem.indexOf(': '));

/**
 * The problems not at (or above) a path already named: a secret whose variable is unset is not also "expected string",
 * nor its section "Invalid input".
 */
function elsewhere(problems: string[], named: string[]): string[] {
  const paths = named.map(pathOf);
  const covered = (path: string) => paths.some((each) => each === path || each.startsWith(`${path}.`));
  return problems.filter((problem) => !covered(pathOf(problem)));
}

/** Every problem in a config file, or its effective config; never throws. */
export function checkConfigFile(file: string): { problems: string[]; effective?: Record<string, unknown> } {
  const { config, options, problems } = parseConfigFile(file);
  // The plugin's options are checked even when the file's own sections are not right, so that every problem is listed.
  const parsed = options ? parseOptions(options) : { problems: [] };
  if (!config || !parsed.data) return { problems: [...problems, ...elsewhere(parsed.problems, problems)] };
  try {
    // The checks across options (ports that clash, realm and peers, ...) come after zod's; the first one is reported.
    const { serversFile } = normalizeOptions(config.options);
    // serve reads the servers file at start, its secrets too.
    if (serversFile) readTableFile(serversFile, resolveTableSecrets);
  } catch (error) {
    return {
      problems: [`${isRoamgateError(error) && error.code === 'ROAMGATE_SOURCE_FAILED' ? 'serversFile: ' : ''}${(error as Error).message}`],
    };
  }
  return { problems: [], effective: maskSecrets(JSON.parse(JSON.stringify(effectiveConfig(config, parsed.data)))) };
}

/** `roamgate check --config FILE`: resolves to the exit status. */
export async function checkCommand(args: string[]): Promise<number> {
  let file: string | undefined;
  try {
    file = parseArgs({ args, strict: true, allowPositionals: false, options: { config: { type: 'string' } } }).values.config;
  } catch (error) {
    process.stderr.write(`roamgate: check: ${(error as Error).message}\nusage: ${CHECK_USAGE.trimStart()}\n`);
    return EXIT_INVALID;
  }
  if (!file) {
    process.stderr.write(`roamgate: check needs --config FILE\nusage: ${CHECK_USAGE.trimStart()}\n`);
    return EXIT_INVALID;
  }
  const { problems, effective } = checkConfigFile(file);
  if (!effective) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    process.stderr.write(`roamgate: ${file}: ${count}\n${problems.map((problem) => `  ${problem}\n`).join('')}`);
    return EXIT_INVALID;
  }
  process.stdout.write(`# ${file}: valid; the effective config (secrets shown as ***):\n${stringify(effective)}`);
  return EXIT_OK;
}
