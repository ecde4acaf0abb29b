import { parseArgs } from 'node:util';
import { isRoamgateError, RoamgateError } from '../errors';
import { readLocalConfigFile } from '../local/config-file';
import { startLocalProxy, type LocalProxy } from '../local/local-proxy';
import { normalizeLocalOptions, parseListenSpec, type LocalProxyOptions } from '../local/options';
import type { LocalProxyNotice } from '../local/proxy-notices';
import { forgetNetwork, STATE_FILES } from '../local/state-dir';
import { describeStatus, processAlive, readStatus } from '../local/status-file';
import { PASSWORD_ENV, readPassword } from './read-password';

export const LOCAL_USAGE = `       roamgate local [--gateway URL] [--user NAME] [--password-file FILE] [--listen SERVICE=PORT ...]
                      [--mode direct|gateway] [--state-dir DIR] [--config FILE] [--discovery-port N]
                      [--discovery-address ADDR ...] [--mdns-port N] [--mdns-interface ADDR ...]
                      [--no-mdns] [--gateway-key KEY]
       roamgate local --forget-network NAME [--state-dir DIR]
       roamgate local status [--state-dir DIR] [--json]`;

export const LOCAL_HELP = `  local                 the local proxy: listens on 127.0.0.1 for smtp, pop3, imap, nntp and
                        a web proxy (with a PAC file for browsers) and forwards each
                        connection straight to the server the gateway names, or through
                        the gateway
    --gateway URL       the gateway's management URL; without it, found on the LAN (UDP
                        and mDNS/DNS-SD at once)
    --user NAME         log in as NAME; the password comes from --password-file FILE, else
                        ${PASSWORD_ENV}, else a prompt; a live saved lease needs none
    --listen SERVICE=PORT  a fixed port (smtp, pop3, imap, nntp, http-proxy, pac; 0: any
                        free port); otherwise 25/110/143/119 when allowed, else
                        2525/1110/1143/1119, and 3128 (web proxy), 3129 (PAC), remembered
                        in the state directory.
                        Any other service name (telnet=2323) adds a listener for that
                        service, relayed byte for byte
    --mode direct|gateway  override the mode the gateway asks for
    --state-dir DIR     pinned gateway keys, saved lease, chosen ports (default
                        ~/.config/roamgate)
    --config FILE       the same options in YAML or JSON (flags win)
    --discovery-port N, --discovery-address ADDR (repeatable; default 255.255.255.255)
    --mdns-port N, --mdns-interface ADDR (repeatable; default every interface's IPv4
                        address): where the DNS-SD query for _roamgate._tcp goes (port 5353)
    --no-mdns           ask by UDP only
    --gateway-key KEY   accept only the gateway with this key (base64), instead of pinning
                        the first key a network answers with
    --forget-network NAME  forget the key pinned for a network (after its key changed)
  local status          what the local proxy running with this state directory is doing:
                        its gateway, mode, lease and expiry, and where each service goes
                        (exit 0 while it runs, 1 when it does not)
    --json              the status as JSON`;

/** Exit statuses: stopped by a signal, a failure while starting, a usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** What the command line asks for. */
export type LocalInvocation =
  | { kind: 'help' }
  | { kind: 'forget'; network: string; stateDir?: string }
  | { kind: 'status'; stateDir?: string; json: boolean }
  | { kind: 'run'; options: Omit<LocalProxyOptions, 'password'>; passwordFile?: string; configFile?: string };

/** Option paths and the flags that set them, for error messages about a flag. */
const FLAG_OF_PATH: ReadonlyArray<[RegExp, string]> = [
  [/^gateway\b/, '--gateway'],
  [/^user\b/, '--user'],
  [/^mode\b/, '--mode'],
  [/^stateDir\b/, '--state-dir'],
  [/^listen\.([a-z0-9-]+)/, '--listen $1=PORT'],
  [/^discovery\.port\b/, '--discovery-port'],
  [/^discovery\.addresses(\.\d+)?/, '--discovery-address'],
  [/^discovery\.gatewayKey\b/, '--gateway-key'],
  [/^discovery\.mdns\.port\b/, '--mdns-port'],
  [/^discovery\.mdns\.interfaces(\.\d+)?/, '--mdns-interface'],
];

function usage(message: string): never {
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message);
}

/** Turns an option error (`listen.smtp: ...`) into one about the flag that set it (`--listen smtp=PORT: ...`). */
export function flagError(message: string): string {
  for (const [pattern, flag] of FLAG_OF_PATH) {
    const match = pattern.exec(message);
    if (match) return message.replace(pattern, flag.replace('$1', match[1] ?? ''));
  }
  return message;
}

/** The flags of `roamgate local`. */
const LOCAL_FLAGS = {
  gateway: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  listen: { type: 'string', multiple: true },
  mode: { type: 'string' },
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  'discovery-port': { type: 'string' },
  'discovery-address': { type: 'string', multiple: true },
  'gateway-key': { type: 'string' },
  'mdns-port': { type: 'string' },
  'mdns-interface': { type: 'string', multiple: true },
  'no-mdns': { type: 'boolean' },
  'forget-network': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The flags given, by name; an unknown flag or a missing value is a usage error. */
function readFlags(args: string[]) {
  try {
    return parseArgs({ args, strict: true, allowPositionals: false, options: LOCAL_FLAGS }).values;
  } catch (error) {
    usage((error as Error).message);
  }
}

/**
 * Parses `roamgate local` arguments into what to do; pure (reads no files).
 * Throws ROAMGATE_INVALID_OPTIONS naming the flag for bad input.
 */
export function parseLocalArgs(args: string[]): LocalInvocation {
  if (args[0] === 'status') return parseStatusArgs(args.slice(1));
  const values = readFlags(args);
  if (values.help) return { kind: 'help' };
  if (values['forget-network'] !== undefined) {
    const others = Object.keys(values).filter((key) => key !== 'forget-network' && key !== 'state-dir');
    if (others.length) usage(`--forget-network takes only --state-dir (not --${others[0]})`);
    if (!values['forget-network']) usage('--forget-network needs the network name');
    return { kind: 'forget', network: values['forget-network'], ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}) };
  }
  const options: Record<string, unknown> = {};
  if (values.gateway !== undefined) options.gateway = values.gateway;
  if (values.user !== undefined) options.user = values.user;
  if (values.mode !== undefined) options.mode = values.mode;
  if (values['state-dir'] !== undefined) options.stateDir = values['state-dir'];
  if (values.listen) {
    const listen: Record<string, number> = {};
    for (const spec of values.listen) {
      const [name, port] = parseListenSpec(spec);
      if (name in listen) usage(`--listen ${spec}: ${name} is given twice`);
      listen[name] = port;
    }
    options.listen = listen;
  }
  const discovery = discoveryOptions(values);
  if (Object.keys(discovery).length) options.discovery = discovery;
  try {
    normalizeLocalOptions(options);
  } catch (error) {
    usage(flagError((error as Error).message));
  }
  return {
    kind: 'run',
    options: options as Omit<LocalProxyOptions, 'password'>,
    ...(values['password-file'] !== undefined ? { passwordFile: values['password-file'] } : {}),
    ...(values.config !== undefined ? { configFile: values.config } : {}),
  };
}

/** `roamgate local status [--state-dir DIR] [--json]`. */
function parseStatusArgs(args: string[]): LocalInvocation {
  let values: { 'state-dir'?: string; json?: boolean; help?: boolean };
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { 'state-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (error) {
    usage(`status: ${(error as Error).message}`);
  }
  if (values.help) return { kind: 'help' };
  return { kind: 'status', json: values.json === true, ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}) };
}

/** `roamgate local status`: prints what the running local proxy wrote in its state directory; 0 while it runs. */
function printStatus(invocation: { stateDir?: string; json: boolean }): number {
  const stateDir = normalizeLocalOptions(invocation.stateDir ? { stateDir: invocation.stateDir } : {}).stateDir;
  const status = readStatus(stateDir);
  if (!status) {
    process.stderr.write(`roamgate: no local proxy has run with the state directory ${stateDir} (no ${STATE_FILES.status} there)\n`);
    return EXIT_FAILED;
  }
  const running = status.state === 'running' && processAlive(status.pid);
  if (invocation.json) process.stdout.write(`${JSON.stringify({ ...status, running }, null, 2)}\n`);
  else
    process.stdout.write(
      describeStatus(status, running, stateDir)
        .map((line) => `${line}\n`)
        .join(''),
    );
  return running ? EXIT_OK : EXIT_FAILED;
}

/** The discovery flags of `roamgate local`, as they arrive from parseArgs. */
interface DiscoveryFlags {
  'discovery-port'?: string;
  'discovery-address'?: string[];
  'gateway-key'?: string;
  'mdns-port'?: string;
  'mdns-interface'?: string[];
  'no-mdns'?: boolean;
}

/** The `discovery` options the flags set (empty when none is given). */
function discoveryOptions(values: DiscoveryFlags): Record<string, unknown> {
  const discovery: Record<string, unknown> = {};
  if (values['discovery-port'] !== undefined) {
    if (!/^\d{1,5}$/.test(values['discovery-port'])) usage(`--discovery-port ${values['discovery-port']}: must be an integer 1-65535`);
    discovery.port = Number(values['discovery-port']);
  }
  if (values['discovery-address']) discovery.addresses = values['discovery-address'];
  if (values['gateway-key'] !== undefined) discovery.gatewayKey = values['gateway-key'];
  if (values['no-mdns']) {
    const also = values['mdns-port'] !== undefined ? '--mdns-port' : values['mdns-interface'] ? '--mdns-interface' : undefined;
    if (also) usage(`--no-mdns: cannot be given with ${also}`);
    discovery.mdns = false;
  } else {
    const mdns: Record<string, unknown> = {};
    if (values['mdns-port'] !== undefined) {
      if (!/^\d{1,5}$/.test(values['mdns-port'])) usage(`--mdns-port ${values['mdns-port']}: must be an integer 1-65535`);
      mdns.port = Number(values['mdns-port']);
    }
    if (values['mdns-interface']) mdns.interfaces = values['mdns-interface'];
    if (Object.keys(mdns).length) discovery.mdns = mdns;
  }
  return discovery;
}

/** Options from the file, overridden by the flags (listen, discovery and discovery.mdns merged key by key). */
export function mergeOptions(
  file: Omit<LocalProxyOptions, 'password'>,
  flags: Omit<LocalProxyOptions, 'password'>,
): Omit<LocalProxyOptions, 'password'> {
  const fileMdns = file.discovery?.mdns;
  const flagMdns = flags.discovery?.mdns;
  // `--mdns-port` on top of a file's `mdns: { interfaces }` keeps the interfaces (and turns mDNS on, as a flag about it means to).
  const mdns = typeof flagMdns === 'object' && typeof fileMdns === 'object' ? { mdns: { ...fileMdns, ...flagMdns, enabled: true } } : {};
  return {
    ...file,
    ...flags,
    ...(file.listen || flags.listen ? { listen: { ...file.listen, ...flags.listen } } : {}),
    ...(file.discovery || flags.discovery ? { discovery: { ...file.discovery, ...flags.discovery, ...mdns } } : {}),
  };
}

/** Prints a notice: `roamgate: ` before each line; warnings and errors on stderr. */
function print(notice: LocalProxyNotice): void {
  const stream = notice.level === 'info' ? process.stdout : process.stderr;
  stream.write(
    notice.text
      .split('\n')
      .map((line) => `roamgate: ${line}\n`)
      .join(''),
  );
}

/**
 * `roamgate local ...`: runs until SIGINT or SIGTERM. Resolves to the exit
 * status (after a clean stop, or at once for a failure to start).
 */
export async function localCommand(args: string[]): Promise<number> {
  let invocation: LocalInvocation;
  try {
    invocation = parseLocalArgs(args);
  } catch (error) {
    process.stderr.write(`roamgate: ${(error as Error).message}\nusage: ${LOCAL_USAGE.trimStart()}\n`);
    return EXIT_USAGE;
  }
  if (invocation.kind === 'help') {
    process.stdout.write(`usage: ${LOCAL_USAGE.trimStart()}\n\n${LOCAL_HELP}\n`);
    return EXIT_OK;
  }
  if (invocation.kind === 'status') return printStatus(invocation);
  if (invocation.kind === 'forget') {
    const stateDir = normalizeLocalOptions(invocation.stateDir ? { stateDir: invocation.stateDir } : {}).stateDir;
    const forgotten = forgetNetwork(stateDir, invocation.network);
    process.stdout.write(
      forgotten
        ? `roamgate: forgot the key of network "${invocation.network}"; the key it answers with next is pinned\n`
        : `roamgate: no key is pinned for network "${invocation.network}" (in ${stateDir})\n`,
    );
    return EXIT_OK;
  }

  let options = invocation.options;
  let passwordFile = invocation.passwordFile;
  try {
    if (invocation.configFile) {
      const file = readLocalConfigFile(invocation.configFile);
      options = mergeOptions(file.options, options);
      passwordFile ??= file.passwordFile;
    }
  } catch (error) {
    process.stderr.write(`roamgate: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }

  let cached: string | undefined;
  const password = async () => {
    // A login takes the password as it is: the length rules are for setting one.
    cached ??= await readPassword(
      { passwordFile, env: process.env, prompts: [`roamgate: password for ${options.user ?? 'the saved user'}: `] },
      1,
    );
    return cached;
  };
  let proxy: LocalProxy;
  try {
    proxy = await startLocalProxy({ ...options, password, onEvent: print });
  } catch (error) {
    process.stderr.write(`roamgate: ${isRoamgateError(error) ? error.message : String(error)}\n`);
    // A port in use is fixed like a bad option: by passing another (--listen).
    return isRoamgateError(error) && (error.code === 'ROAMGATE_INVALID_OPTIONS' || error.code === 'ROAMGATE_PORT_IN_USE')
      ? EXIT_USAGE
      : EXIT_FAILED;
  }
  process.stdout.write('roamgate: ready: point mail, news and web clients at the addresses above, once (Ctrl-C stops)\n');

  return new Promise((resolve) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) return resolve(EXIT_FAILED);
      closing = true;
      process.stdout.write(`roamgate: ${signal}, stopping (${signal} again to quit at once)\n`);
      void proxy.close().then(() => resolve(EXIT_OK));
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
