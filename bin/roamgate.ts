#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoamgateError } from '../errors';
import { readConfigFile, startStandalone } from '../plugin/standalone';
import { CHECK_HELP, CHECK_USAGE, checkCommand } from './check-command';
import { LOCAL_HELP, LOCAL_USAGE, localCommand } from './local-command';
import { raiseHeapTrimThreshold } from './heap-tuning';
import { asWorker, serveWorkersIfAsked, workerSlot } from './serve-workers';
import { RELOAD_HELP, RELOAD_USAGE, reloadCommand, writePidFile } from './reload-command';
import { STORE_HELP, STORE_USAGE, storeCommand } from './store-command';
import { PASSWORD_HELP, USERS_HELP, USERS_USAGE, usersCommand } from './users-command';

const SERVE_USAGE = 'usage: roamgate serve --config FILE [--pid-file FILE] [--workers N|auto]';

const SERVE_HELP = `  serve --config FILE   run a gateway from a YAML or JSON file (sections http, mount, log,
                        metrics, web, and the plugin's options: adapters, servers,
                        serversFile, access, health, registration, users, store, ...).
                        Log lines (JSON, or pino-pretty's with log.pretty) go to stdout,
                        messages for people to stderr. SIGINT/SIGTERM stop it, letting open
                        relays finish for shutdownGraceMs; SIGHUP reads the file again
                        (see reload)
    --workers N|auto    N worker processes (auto: one per core) sharing the ports and
                        the store (a SQLite file or PostgreSQL); a worker that dies is
                        started again; signals are passed to every worker`;

const USAGE = `${SERVE_USAGE}
${CHECK_USAGE}
${USERS_USAGE}
${LOCAL_USAGE}
${RELOAD_USAGE}
${STORE_USAGE}
       roamgate --version

${SERVE_HELP}
${CHECK_HELP}
${USERS_HELP}
${LOCAL_HELP}
${RELOAD_HELP}
${STORE_HELP}
  <command> --help      the help of one command
  --version             print the version

${PASSWORD_HELP}`;

/**
 * One command: what it runs (resolving to the exit status), its help for `roamgate <command> --help`, and whether the
 * process exits at once when it ends (a server with handles open) or when nothing is left to do.
 */
interface Command {
  run(args: string[]): Promise<number>;
  help: string;
  exitAtOnce: boolean;
}

const COMMANDS: Record<string, Command> = {
  serve: { run: serve, help: `${SERVE_USAGE}\n\n${SERVE_HELP}`, exitAtOnce: true },
  check: { run: checkCommand, help: `usage: ${CHECK_USAGE.trimStart()}\n\n${CHECK_HELP}`, exitAtOnce: false },
  users: { run: usersCommand, help: `usage: ${USERS_USAGE.trimStart()}\n\n${USERS_HELP}\n\n${PASSWORD_HELP}`, exitAtOnce: false },
  local: { run: localCommand, help: `usage: ${LOCAL_USAGE.trimStart()}\n\n${LOCAL_HELP}`, exitAtOnce: true },
  reload: { run: (args) => reloadCommand(args, say), help: `usage: ${RELOAD_USAGE.trimStart()}\n\n${RELOAD_HELP}`, exitAtOnce: false },
  store: { run: (args) => storeCommand(args), help: `usage: ${STORE_USAGE.trimStart()}\n\n${STORE_HELP}`, exitAtOnce: false },
};

/** Messages for people go to stderr: stdout carries only the log's lines. */
function say(line: string): void {
  process.stderr.write(`roamgate: ${line}\n`);
}

function fail(message: string, code = 2): never {
  say(message);
  process.exit(code);
}

/** The version in the package.json next to dist/. */
function version(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** `roamgate serve`: runs until SIGINT or SIGTERM, then exits. */
async function serve(args: string[]): Promise<number> {
  const at = args.indexOf('--config');
  const file = at === -1 ? undefined : args[at + 1];
  if (!file) fail(`serve needs --config FILE\n${USAGE}`);
  const pidFile = args.includes('--pid-file') ? args[args.indexOf('--pid-file') + 1] : undefined;
  if (args.includes('--pid-file') && !pidFile) fail(`serve --pid-file needs a FILE\n${USAGE}`);
  raiseHeapTrimThreshold();
  let reload: (() => void) | undefined;
  // Before anything else: SIGHUP's default is to end the process, and it may come while the gateway starts.
  process.on('SIGHUP', () => reload?.());
  let standalone: Awaited<ReturnType<typeof startStandalone>>;
  try {
    const primary = serveWorkersIfAsked(args, file);
    if (primary) {
      const removeWorkersPidFile = pidFile === undefined ? undefined : writePidFile(pidFile);
      const status = await primary;
      removeWorkersPidFile?.();
      return status;
    }
    standalone = await startStandalone(asWorker(readConfigFile(file)));
  } catch (error) {
    fail(`${file}: ${isRoamgateError(error) ? error.message : String(error)}`);
  }
  const { httpAddress, adapters, mount, metricsAddress } = standalone;
  say(`management API on http://${httpAddress.address}:${httpAddress.port}${mount}`);
  for (const [service, address] of Object.entries(adapters)) say(`${service} adapter on ${address.address}:${address.port}`);
  if (metricsAddress) say(`metrics on http://${metricsAddress.address}:${metricsAddress.port}/metrics`);
  reload = () => void standalone.reload(file);
  // The primary of --workers holds the pid file: a reload sent to it reaches every worker.
  const removePidFile = pidFile === undefined || workerSlot() !== undefined ? undefined : writePidFile(pidFile);
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      say(`${signal}, closing (open relays get the grace period; ${signal} again to quit now)`);
      void standalone.close().then(() => {
        removePidFile?.();
        resolve(0);
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

const [command, ...rest] = process.argv.slice(2);
const known = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
if (command === '--version' || command === '-V') process.stdout.write(`${version()}\n`);
else if (command === '--help' || command === '-h' || command === 'help') process.stdout.write(`${USAGE}\n`);
else if (known && (rest.includes('--help') || rest.includes('-h'))) process.stdout.write(`${known.help}\n`);
else if (known) void known.run(rest).then((status) => (known.exitAtOnce ? process.exit(status) : (process.exitCode = status)));
else fail(command ? `unknown command ${command}\n${USAGE}` : USAGE);
