#!/usr/bin/env node
import { isRoamgateError } from '../errors';
import { readConfigFile, startStandalone } from '../plugin/standalone';
import { LOCAL_HELP, LOCAL_USAGE, localCommand } from './local-command';
import { PASSWORD_HELP, USERS_HELP, USERS_USAGE, usersCommand } from './users-command';

const USAGE = `usage: roamgate serve --config FILE
${USERS_USAGE}
${LOCAL_USAGE}

  serve --config FILE   run a gateway from a YAML or JSON file (sections http, mount,
                        adapters, servers, serversFile, access, health, registration,
                        users, store)
${USERS_HELP}
${LOCAL_HELP}
  --help                show this text

${PASSWORD_HELP}`;

function fail(message: string, code = 2): never {
  process.stderr.write(`roamgate: ${message}\n`);
  process.exit(code);
}

async function serve(args: string[]): Promise<void> {
  const at = args.indexOf('--config');
  const file = at === -1 ? undefined : args[at + 1];
  if (!file) fail(`serve needs --config FILE\n${USAGE}`);
  let standalone: Awaited<ReturnType<typeof startStandalone>>;
  try {
    standalone = await startStandalone(readConfigFile(file));
  } catch (error) {
    fail(`${file}: ${isRoamgateError(error) ? error.message : String(error)}`);
  }
  const { httpAddress, adapters, mount } = standalone;
  process.stdout.write(`roamgate: management API on http://${httpAddress.address}:${httpAddress.port}${mount}\n`);
  for (const [service, address] of Object.entries(adapters))
    process.stdout.write(`roamgate: ${service} adapter on ${address.address}:${address.port}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`roamgate: ${signal}, closing (open relays get the grace period; ${signal} again to quit now)\n`);
    void standalone.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'serve') void serve(rest);
else if (command === 'users') void usersCommand(rest).then((status) => (process.exitCode = status));
else if (command === 'local') void localCommand(rest).then((status) => process.exit(status));
else if (command === '--help' || command === '-h' || command === 'help') process.stdout.write(`${USAGE}\n`);
else fail(command ? `unknown command ${command}\n${USAGE}` : USAGE);
