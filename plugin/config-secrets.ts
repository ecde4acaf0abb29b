import { closeSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';

/**
 * Where secrets sit in the options (and in a standalone config file), `*` standing for any key or index.
 * Each may be written as the secret itself, `{ env: NAME }` or `{ file: PATH }`.
 */
export const SECRET_PATHS: ReadonlyArray<readonly string[]> = [
  ['adminToken'],
  ['registration', 'secret'],
  ['peers', '*', 'secret'],
  ['session', 'secret'],
  ['web', 'assertionSecret'],
  ['store', 'url'],
  ['servers', '*', '*', 'credentials', 'password'],
];

/** What `roamgate check` prints in place of a secret. */
export const MASK = '***';

/** A secret kept outside the config: in an environment variable, or in a file (relative to the config file). */
export type SecretReference = { env: string } | { file: string };

function isReference(value: unknown): value is SecretReference {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  const [key] = keys;
  return (key === 'env' || key === 'file') && typeof (value as Record<string, unknown>)[key] === 'string';
}

/** Calls `visit` for every value at a secret path, with its dotted path and a setter; skips what is not there. */
function eachSecret(data: unknown, visit: (path: string, value: unknown, set: (value: unknown) => void) => void): void {
  const walk = (node: unknown, pattern: readonly string[], at: string[]) => {
    if (typeof node !== 'object' || node === null) return;
    const container = node as Record<string, unknown>;
    const [head, ...tail] = pattern;
    const keys = head === '*' ? Object.keys(container) : Object.hasOwn(container, head) ? [head] : [];
    for (const key of keys) {
      if (tail.length > 0) walk(container[key], tail, [...at, key]);
      else visit([...at, key].join('.'), container[key], (value) => (container[key] = value));
    }
  };
  for (const pattern of SECRET_PATHS) walk(data, pattern, []);
}

/** A deep copy of plain data (what a parsed YAML or JSON file holds), so resolving never edits the caller's object. */
function copyData<T>(data: T): T {
  if (Array.isArray(data)) return data.map(copyData) as T;
  if (typeof data !== 'object' || data === null || Object.getPrototypeOf(data) !== Object.prototype) return data;
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, copyData(value)])) as T;
}

/** The largest secret file read (bytes): a path to something else (a log, a device) is refused, not read whole. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** The first `limit` bytes of a file (fewer when it is shorter), without reading past them. */
function readAtMost(file: string, limit: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    let length = 0;
    while (length < limit) {
      const read = readSync(fd, buffer, length, limit - length, null);
      if (read === 0) break;
      length += read;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** Reads one reference; the problem names the option and the variable or file, never a value. */
function readReference(path: string, reference: SecretReference, baseDir: string, env: NodeJS.ProcessEnv): string | { problem: string } {
  if ('env' in reference) {
    const value = env[reference.env];
    if (value === undefined || value === '') return { problem: `${path}: the environment variable ${reference.env} is not set` };
    return value;
  }
  const file = isAbsolute(reference.file) ? reference.file : resolvePath(baseDir, reference.file);
  try {
    const bytes = readAtMost(file, MAX_SECRET_FILE_BYTES + 1);
    if (bytes.length > MAX_SECRET_FILE_BYTES)
      return { problem: `${path}: the secret file ${file} is larger than ${MAX_SECRET_FILE_BYTES} bytes: not a secret (a wrong path?)` };
    return bytes.toString('utf8').replace(/[\r\n]+$/, '');
  } catch (error) {
    return { problem: `${path}: cannot read the secret file ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` };
  }
}

/**
 * Replaces every `{ env: NAME }` and `{ file: PATH }` at a secret path with the secret it names (a file relative to
 * `baseDir`, its trailing newline dropped). Returns a copy, and every problem found (an unset variable, an unreadable file).
 */
export function resolveSecrets<T>(data: T, baseDir: string, env: NodeJS.ProcessEnv = process.env): { data: T; problems: string[] } {
  const copy = copyData(data);
  const problems: string[] = [];
  eachSecret(copy, (path, value, set) => {
    if (!isReference(value)) return;
    const secret = readReference(path, value, baseDir, env);
    if (typeof secret === 'string') set(secret);
    else problems.push(secret.problem);
  });
  return { data: copy, problems };
}

/** resolveSecrets for a server table on its own (the watched `serversFile`): problems name paths in the table. */
export function resolveTableSecrets(
  table: unknown,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): { data: unknown; problems: string[] } {
  const { data, problems } = resolveSecrets({ servers: table }, baseDir, env);
  return { data: data.servers, problems: problems.map((problem) => problem.replace(/^servers\./, '')) };
}

/** A copy of plain data with every secret (and every user's password hash) shown as `***`. */
export function maskSecrets<T>(data: T): T {
  const copy = copyData(data);
  eachSecret(copy, (_path, value, set) => {
    if (value !== undefined) set(MASK);
  });
  const users = (copy as { users?: unknown }).users;
  if (Array.isArray(users))
    for (const user of users) if (user && typeof user === 'object' && 'passwordHash' in user) user.passwordHash = MASK;
  return copy;
}
