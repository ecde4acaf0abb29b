import { existsSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { isRoamgateError } from '../errors';
import type { ConfiguredUser } from '../plugin/directory';
import { normalizeOptions } from '../plugin/options';
import { DUMMY_HASH, hashPassword } from '../plugin/password';
import { readConfigFile } from '../plugin/standalone';
import { maskPostgresUrl } from '../store/postgres-connection';
import { PostgresStore } from '../store/postgres-store';
import { openSqliteStore } from '../store/sqlite-store';
import type { Store, UserRecord } from '../store/store';
import { readPassword } from './read-password';

import { PASSWORD_HELP, USERS_HELP, USERS_USAGE } from './users-help';

export { PASSWORD_HELP, USERS_HELP, USERS_USAGE };

/** Exit statuses: success, an operation that failed (no such user, store error), a usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Recorded in the audit trail as who made a change. */
const AUDIT_ACTOR = 'cli';

/** A failure with the exit status it ends the command with; only this module throws or catches it. */
class CommandFailure extends Error {
  constructor(
    readonly exitStatus: number,
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
  }
}

/** Bad input: exit status 2; `showUsage` for a malformed command line. */
function usageError(message: string, showUsage = false): never {
  throw new CommandFailure(EXIT_USAGE, message, showUsage);
}

function failed(message: string): never {
  throw new CommandFailure(EXIT_FAILED, message);
}

type Verb = 'add' | 'passwd' | 'remove' | 'disable' | 'enable' | 'list' | 'hash';

interface Invocation {
  id?: string;
  config?: string;
  passwordFile?: string;
  attributes: Record<string, string>;
  out: (line: string) => void;
}

interface VerbSpec {
  /** Whether the verb takes a user id. */
  takesId: boolean;
  /** Whether --config is required (hash takes it but does not need it). */
  needsConfig: boolean;
  options: ReadonlyArray<'attr' | 'password-file'>;
  run(invocation: Invocation): Promise<void>;
}

/** The configured users and the store path of a config file, after the same validation `serve` does. */
interface LoadedConfig {
  file: string;
  users: readonly ConfiguredUser[];
  /** The SQLite file (`path`) or the PostgreSQL database (`url`), and how to name it in messages (no password). */
  store: { path: string; name: string } | { url: string; name: string };
}

function loadConfig(file: string): LoadedConfig {
  let options: ReturnType<typeof normalizeOptions>;
  try {
    options = normalizeOptions(readConfigFile(file).options);
  } catch (error) {
    usageError(`${file}: ${isRoamgateError(error) ? error.message : String(error)}`);
  }
  if ('url' in options.store)
    return { file, users: options.users, store: { url: options.store.url, name: maskPostgresUrl(options.store.url) } };
  if (!('path' in options.store) || options.store.path === ':memory:') {
    usageError(
      `${file}: the store is in memory (store.path :memory:, the default), so users changed here would be lost when this command ends; set store: { path: FILE } to an SQLite file`,
    );
  }
  // readConfigFile resolves a relative store.path against the file's directory; resolving again is a no-op then.
  const path = resolvePath(dirname(file), options.store.path);
  return { file, users: options.users, store: { path, name: path } };
}

/**
 * Runs `fn` with the store. `create: false` does not make a new, empty store
 * file when there is none yet (a mistyped path should not leave one behind):
 * `fn` gets undefined instead.
 */
async function withStore<T>(config: LoadedConfig, create: boolean, fn: (store: Store | undefined) => Promise<T>): Promise<T> {
  if ('path' in config.store && !create && !existsSync(config.store.path)) return fn(undefined);
  let store: Store;
  try {
    // A one-off command hears nobody's changes: its own are heard by the gateways.
    store = 'url' in config.store ? new PostgresStore(config.store.url, { changeFeed: false }) : openSqliteStore(config.store.path);
  } catch (error) {
    failed(isRoamgateError(error) ? error.message : String(error));
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Appends an audit event; the change is made already, so a failure here only warns. */
async function audit(store: Store, type: string, detail: Record<string, unknown>): Promise<void> {
  try {
    await store.audit.append({ at: Date.now(), type, actor: AUDIT_ACTOR, detail });
  } catch (error) {
    process.stderr.write(
      `roamgate: warning: the change was made but could not be recorded in the audit trail: ${(error as Error).message}\n`,
    );
  }
}

function isConfigured(config: LoadedConfig, id: string): boolean {
  return config.users.some((user) => user.id === id);
}

/** Users from the config file are edited in the file: the store would never be consulted for them. */
function refuseConfigured(config: LoadedConfig, id: string, hint: string): void {
  if (isConfigured(config, id)) failed(`user ${id} is defined in the users: section of ${config.file}; ${hint}`);
}

/**
 * Checks an id and attributes with the rules the config file's users: section
 * has, by validating a one-user options object (the rules live in one place).
 */
function checkUser(id: string, attributes: Record<string, string>): void {
  const check = (user: { id: string; attributes?: Record<string, string> }, prefix: string, what: string) => {
    try {
      normalizeOptions({ users: [{ ...user, passwordHash: DUMMY_HASH }] });
    } catch (error) {
      if (!isRoamgateError(error)) throw error;
      const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      usageError(`${what}: ${message}`);
    }
  };
  check({ id }, 'users.0.id: ', `user id ${JSON.stringify(id)}`);
  for (const [name, value] of Object.entries(attributes)) {
    const prefix = `users.0.attributes.${name}: `;
    check({ id, attributes: { [name]: '' } }, prefix, `attribute name ${JSON.stringify(name)}`);
    check({ id, attributes: { [name]: value } }, prefix, `attribute ${name} value`);
  }
}

/** `NAME=VALUE` arguments as an object; the value may contain `=` or be empty. */
function parseAttributeArguments(pairs: readonly string[]): Record<string, string> {
  const attributes: Record<string, string> = Object.create(null);
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) usageError(`--attr ${JSON.stringify(pair)}: must be NAME=VALUE`);
    const name = pair.slice(0, at);
    if (Object.hasOwn(attributes, name)) usageError(`--attr ${name} is given twice`);
    attributes[name] = pair.slice(at + 1);
  }
  return { ...attributes };
}

/** One line of `users list`; values with spaces, quotes or nothing in them are quoted as JSON strings. */
function formatUserLine(
  user: { id: string; source: string; disabled: boolean; attributes: Readonly<Record<string, string>> },
  widths: { id: number; source: number },
): string {
  const attributes = Object.keys(user.attributes)
    .sort()
    .map((name) => {
      const value = user.attributes[name];
      return `${name}=${/^[^\s"'\\]+$/.test(value) ? value : JSON.stringify(value)}`;
    });
  return [user.id.padEnd(widths.id), user.source.padEnd(widths.source), user.disabled ? 'disabled' : 'enabled ', ...attributes]
    .join('  ')
    .trimEnd();
}

function passwordPrompts(id?: string): readonly [string, string] {
  return [id ? `New password for ${id}: ` : 'Password: ', 'Type it again: '];
}

/** `disable` / `enable`: flips a store user's `disabled`; the running gateway sees it at the next login and its next lease-holder check. */
function switchUser(disabled: boolean): VerbSpec {
  const word = disabled ? 'disabled' : 'enabled';
  return {
    takesId: true,
    needsConfig: true,
    options: [],
    async run({ id, config: file, out }) {
      const userId = id!;
      const config = loadConfig(file!);
      refuseConfigured(config, userId, `set disabled: ${disabled} there`);
      await withStore(config, false, async (store) => {
        const current = store && (await store.users.get(userId));
        if (!store || !current) failed(`no user ${userId} in the store ${config.store.name}`);
        if (current.disabled === disabled) return out(`roamgate: user ${userId} is already ${word}`);
        await store.users.put({ ...current, disabled, updatedAt: Date.now() });
        await audit(store, disabled ? 'user.disabled' : 'user.enabled', { user: userId });
        out(`roamgate: ${word} user ${userId}`);
      });
    },
  };
}

const verbs: Record<Verb, VerbSpec> = {
  add: {
    takesId: true,
    needsConfig: true,
    options: ['attr', 'password-file'],
    async run({ id, config: file, passwordFile, attributes, out }) {
      const userId = id!;
      checkUser(userId, attributes);
      const config = loadConfig(file!);
      refuseConfigured(config, userId, 'users there are edited in the file');
      await withStore(config, true, async (store) => {
        if (await store!.users.get(userId))
          failed(`user ${userId} already exists in the store (roamgate users passwd ${userId} sets its password)`);
        const password = await readPassword({ passwordFile, env: process.env, prompts: passwordPrompts(userId) });
        const now = Date.now();
        const user: UserRecord = {
          id: userId,
          passwordHash: await hashPassword(password),
          attributes,
          disabled: false,
          createdAt: now,
          updatedAt: now,
        };
        // Checked again after the prompt, which may have taken a while: put() would replace a user added meanwhile.
        if (await store!.users.get(userId)) failed(`user ${userId} already exists in the store (added while the password was typed)`);
        await store!.users.put(user);
        await audit(store!, 'user.added', { user: userId, attributes });
        out(`roamgate: added user ${userId} to ${config.store.name}`);
      });
    },
  },
  passwd: {
    takesId: true,
    needsConfig: true,
    options: ['password-file'],
    async run({ id, config: file, passwordFile, out }) {
      const userId = id!;
      const config = loadConfig(file!);
      refuseConfigured(config, userId, 'set its passwordHash there (roamgate users hash makes one)');
      await withStore(config, false, async (store) => {
        if (!store || !(await store.users.get(userId))) failed(`no user ${userId} in the store ${config.store.name}`);
        const password = await readPassword({ passwordFile, env: process.env, prompts: passwordPrompts(userId) });
        const passwordHash = await hashPassword(password);
        const current = await store.users.get(userId);
        if (!current) failed(`user ${userId} was removed while the password was typed`);
        await store.users.put({ ...current, passwordHash, updatedAt: Date.now() });
        await audit(store, 'user.password-changed', { user: userId });
        out(`roamgate: changed the password of ${userId}`);
      });
    },
  },
  remove: {
    takesId: true,
    needsConfig: true,
    options: [],
    async run({ id, config: file, out }) {
      const userId = id!;
      const config = loadConfig(file!);
      refuseConfigured(config, userId, 'remove it there');
      await withStore(config, false, async (store) => {
        if (!store || !(await store.users.remove(userId))) failed(`no user ${userId} in the store ${config.store.name}`);
        await audit(store, 'user.removed', { user: userId });
        out(`roamgate: removed user ${userId}`);
      });
    },
  },
  disable: switchUser(true),
  enable: switchUser(false),
  list: {
    takesId: false,
    needsConfig: true,
    options: [],
    async run({ config: file, out }) {
      const config = loadConfig(file!);
      const stored = await withStore(config, false, async (store) => (store ? store.users.list() : []));
      const rows = [
        ...config.users.map((user) => ({
          id: user.id,
          source: 'config',
          disabled: user.disabled ?? false,
          attributes: user.attributes ?? {},
        })),
        // A store user with the id of a config user cannot log in: the config one is checked first.
        ...stored.map((user) => ({
          id: user.id,
          source: isConfigured(config, user.id) ? 'store(shadowed)' : 'store',
          disabled: user.disabled,
          attributes: user.attributes,
        })),
      ].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.source < b.source ? -1 : 1));
      const widths = { id: Math.max(0, ...rows.map((row) => row.id.length)), source: Math.max(0, ...rows.map((row) => row.source.length)) };
      for (const row of rows) out(formatUserLine(row, widths));
    },
  },
  hash: {
    takesId: false,
    needsConfig: false,
    options: ['password-file'],
    async run({ passwordFile, out }) {
      const password = await readPassword({ passwordFile, env: process.env, prompts: passwordPrompts() });
      out(await hashPassword(password));
    },
  },
};

function isVerb(value: string | undefined): value is Verb {
  return value !== undefined && Object.hasOwn(verbs, value);
}

/**
 * `roamgate users VERB ...`: writes its messages (each starting `roamgate: `)
 * and resolves with the exit status. Never prints a password.
 */
export async function usersCommand(args: readonly string[]): Promise<number> {
  const [verb, ...rest] = args;
  try {
    if (verb === '--help' || verb === '-h') {
      process.stdout.write(`usage: ${USERS_USAGE.trimStart()}\n\n${USERS_HELP}\n\n${PASSWORD_HELP}\n`);
      return EXIT_OK;
    }
    if (!isVerb(verb))
      usageError(
        verb === undefined || verb.startsWith('-')
          ? 'users needs a command: add, passwd, remove, disable, enable, list or hash'
          : `unknown users command ${verb}`,
        true,
      );
    const spec = verbs[verb];
    let parsed: { values: Record<string, unknown>; positionals: string[] };
    try {
      parsed = parseArgs({
        args: [...rest],
        allowPositionals: true,
        strict: true,
        options: {
          config: { type: 'string' },
          ...(spec.options.includes('attr') ? { attr: { type: 'string', multiple: true } } : {}),
          ...(spec.options.includes('password-file') ? { 'password-file': { type: 'string' } } : {}),
        },
      });
    } catch (error) {
      usageError(`users ${verb}: ${(error as Error).message}`, true);
    }
    const values = parsed.values as { config?: string; attr?: string[]; 'password-file'?: string };
    const expected = spec.takesId ? 1 : 0;
    if (parsed.positionals.length !== expected) {
      usageError(
        spec.takesId
          ? `users ${verb} needs exactly one user ID${parsed.positionals.length ? ` (got ${parsed.positionals.length})` : ''}`
          : `users ${verb} takes no arguments (got ${parsed.positionals.join(' ')})`,
        true,
      );
    }
    if (spec.needsConfig && !values.config) usageError(`users ${verb} needs --config FILE`, true);
    await spec.run({
      id: parsed.positionals[0],
      config: values.config,
      passwordFile: values['password-file'],
      attributes: parseAttributeArguments(values.attr ?? []),
      out: (line) => process.stdout.write(`${line}\n`),
    });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommandFailure) {
      process.stderr.write(`roamgate: ${error.message}\n${error.showUsage ? `usage: ${USERS_USAGE.trimStart()}\n` : ''}`);
      return error.exitStatus;
    }
    if (isRoamgateError(error)) {
      process.stderr.write(`roamgate: ${error.message}\n`);
      return error.code === 'ROAMGATE_INVALID_OPTIONS' ? EXIT_USAGE : EXIT_FAILED;
    }
    process.stderr.write(`roamgate: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILED;
  }
}
