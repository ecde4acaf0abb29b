import type { NormalizedOptions } from './options';

/**
 * The options a reload applies for the next connection. Every other option
 * (store, mountPath, realm, discovery, adminToken, registration, session, ...)
 * needs a restart: a reload keeps its running value and names it in a warning.
 */
export const LIVE_OPTIONS: ReadonlySet<string> = new Set([
  'servers',
  'serversFile',
  'users',
  'access',
  'peers',
  'adapters',
  'onAccessChange',
]);

/** The parts of `login` a reload applies (the throttle); `cacheSeconds` and `requireRights` need a restart. */
export const LIVE_LOGIN_OPTIONS: ReadonlySet<string> = new Set([
  'perUser',
  'perUserAddress',
  'perAddress',
  'perUserDelayMs',
  'perUserMaxDelayMs',
]);

/** Options that are live objects of the caller, never compared: a reload keeps the running ones. */
const KEPT_OPTIONS: ReadonlySet<string> = new Set(['logger', 'clock']);

/** What a reload would change, worked out before anything is touched. */
export interface OptionsDiff {
  /** The live options that changed, by name (`servers`, `access`, `login.perAddress`); adapters are in `adapters`. */
  live: string[];
  /** Adapter sections (`pop3`, `tcp.telnet`) to build anew (changed or added) and to remove, each change described for the log. */
  adapters: { build: string[]; remove: string[]; described: string[] };
  /** Options that changed but need a restart: their running value is kept. */
  restart: string[];
  /** The options in force after the reload: the new ones, except the running value of every option in `restart`. */
  effective: NormalizedOptions;
}

/** Compares the running options with new ones (both normalized). Pure: reads nothing else. */
export function diffOptions(running: NormalizedOptions, next: NormalizedOptions): OptionsDiff {
  const live: string[] = [];
  const restart: string[] = [];
  const effective: Record<string, unknown> = { ...next };
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  for (const key of [...keys].sort()) {
    const before = (running as unknown as Record<string, unknown>)[key];
    const after = (next as unknown as Record<string, unknown>)[key];
    if (KEPT_OPTIONS.has(key)) {
      effective[key] = before;
    } else if (key === 'login') {
      effective.login = diffLogin(running.login, next.login, live, restart);
    } else if (key !== 'adapters' && !sameValue(before, after)) {
      if (LIVE_OPTIONS.has(key)) live.push(key);
      else {
        restart.push(key);
        effective[key] = before;
      }
    }
  }
  // Peers know this gateway by its realm: with the realm kept, so are they; and a host's directory keeps `users` out.
  keepWith(restart.includes('realm'), 'peers', running, effective, live, restart);
  keepWith(running.directory !== undefined, 'users', running, effective, live, restart);
  for (const name of keys) if (!(name in effective) || effective[name] === undefined) delete effective[name];
  return {
    live,
    adapters: diffAdapters(running.adapters, next.adapters),
    restart,
    effective: Object.freeze(effective) as unknown as NormalizedOptions,
  };
}

/** Moves `key` from live to restart (its running value kept) when `when` holds and it changed. */
function keepWith(
  when: boolean,
  key: 'peers' | 'users',
  running: NormalizedOptions,
  effective: Record<string, unknown>,
  live: string[],
  restart: string[],
): void {
  const at = live.indexOf(key);
  if (!when || at === -1) return;
  live.splice(at, 1);
  restart.push(key);
  effective[key] = running[key];
}

function diffLogin(
  running: NormalizedOptions['login'],
  next: NormalizedOptions['login'],
  live: string[],
  restart: string[],
): NormalizedOptions['login'] {
  const merged: Record<string, unknown> = { ...next };
  for (const key of Object.keys({ ...running, ...next }).sort()) {
    const before = (running as Record<string, unknown>)[key];
    if (sameValue(before, (next as Record<string, unknown>)[key])) continue;
    if (LIVE_LOGIN_OPTIONS.has(key)) live.push(`login.${key}`);
    else {
      restart.push(`login.${key}`);
      merged[key] = before;
    }
  }
  return Object.freeze(merged) as NormalizedOptions['login'];
}

/** The adapter sections by their path below `adapters`: `smtp`, `http-proxy`, `tcp.telnet`. */
export function adapterSections(adapters: NormalizedOptions['adapters']): Map<string, object> {
  const { tcp, ...builtIn } = adapters;
  const sections = new Map<string, object>();
  for (const [name, section] of Object.entries(builtIn)) if (section) sections.set(name, section);
  for (const [name, section] of Object.entries(tcp ?? {})) sections.set(`tcp.${name}`, section);
  return sections;
}

function diffAdapters(running: NormalizedOptions['adapters'], next: NormalizedOptions['adapters']): OptionsDiff['adapters'] {
  const before = adapterSections(running);
  const after = adapterSections(next);
  const build: string[] = [];
  const remove: string[] = [];
  const described: string[] = [];
  for (const [key, section] of after) {
    const old = before.get(key);
    if (old === undefined) {
      build.push(key);
      described.push(`adapters.${key} added`);
    } else if (!sameValue(old, section)) {
      build.push(key);
      described.push(describeAdapterChange(key, old, section));
    }
  }
  for (const key of before.keys())
    if (!after.has(key)) {
      remove.push(key);
      described.push(`adapters.${key} removed`);
    }
  return { build, remove, described };
}

/** `adapters.pop3 port 1110->1111`, naming where it listens when that changed, else just the section. */
function describeAdapterChange(key: string, before: object, after: object): string {
  const moves = ['host', 'port', 'tlsPort']
    .filter((field) => (before as Record<string, unknown>)[field] !== (after as Record<string, unknown>)[field])
    .map(
      (field) =>
        `${field} ${String((before as Record<string, unknown>)[field] ?? '-')}->${String((after as Record<string, unknown>)[field] ?? '-')}`,
    );
  return [`adapters.${key}`, ...moves].join(' ');
}

/**
 * Whether two option values are the same: plain objects and arrays by their contents (a key holding undefined counts
 * as absent), anything else (a custom source, a Store, a host's directory) by identity.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (!isPlain(a) || !isPlain(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const keysOf = (value: object) => Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined);
  const keysA = keysOf(a);
  const keysB = keysOf(b);
  return (
    keysA.length === keysB.length &&
    keysA.every((key) => Object.hasOwn(b, key) && sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
  );
}

function isPlain(value: unknown): value is object {
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
