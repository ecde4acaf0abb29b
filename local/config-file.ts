import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RoamgateError } from '../errors';
import { normalizeLocalOptions, type LocalProxyOptions } from './options';

/**
 * A local proxy config file (YAML or JSON): the options of startLocalProxy
 * except the password, plus `passwordFile`. Paths are relative to the file.
 * @example
 * gateway: http://10.0.0.1:8080/roamgate
 * user: alice
 * passwordFile: alice.password
 * listen: { smtp: 2525, pop3: 1110 }
 */
export interface LocalConfigFile {
  options: Omit<LocalProxyOptions, 'password'>;
  passwordFile?: string;
}

function invalid(message: string, cause?: unknown): never {
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message, { cause });
}

/** Reads and checks a config file; throws ROAMGATE_INVALID_OPTIONS naming the file and the bad field. */
export function readLocalConfigFile(path: string): LocalConfigFile {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    invalid(`${path}: cannot read it: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message.split('\n')[0]}`, cause);
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data))
    invalid(`${path}: must be a mapping of options (gateway, user, passwordFile, listen, ...)`);
  const { passwordFile, password, ...options } = data as Record<string, unknown>;
  if (password !== undefined)
    invalid(`${path}: password: not accepted in a file; use passwordFile (a file holding only the password, mode 0600)`);
  if (passwordFile !== undefined && (typeof passwordFile !== 'string' || passwordFile.length === 0))
    invalid(`${path}: passwordFile: must be a file name`);
  if (typeof options.stateDir === 'string') options.stateDir = resolvePath(dirname(path), options.stateDir);
  try {
    normalizeLocalOptions(options);
  } catch (error) {
    invalid(`${path}: ${(error as Error).message}`, error);
  }
  return {
    options: options as LocalConfigFile['options'],
    ...(passwordFile === undefined ? {} : { passwordFile: resolvePath(dirname(path), passwordFile as string) }),
  };
}
