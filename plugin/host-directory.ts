import { RoamgateError } from '../errors';
import type { Directory, User } from './directory';

/** A user as the host app hands it over: `id` (or `username`) and, optionally, string `attributes`. */
export type HostUser = { id?: unknown; username?: unknown; attributes?: unknown } & Record<string, unknown>;

/** The host's own login, as an object: `verify` says who a name and password are; `get`, when given, finds a user again by id. */
export interface HostLogin {
  verify(username: string, password: string): Promise<HostUser | false | null | undefined> | HostUser | false | null | undefined;
  get?(id: string): Promise<HostUser | false | null | undefined> | HostUser | false | null | undefined;
}

/** A passport strategy (passport-local's `Strategy`, or any that reads the name and password from the request body). */
export interface Strategy {
  authenticate(req: unknown, options?: object): void;
  name?: string;
}

/** The `directory` option: the host's login as an object, or a passport-local `Strategy` the host already uses. */
export type DirectoryOption = HostLogin | Strategy;

/**
 * How long the host's login may take to answer one check (ms). Past it the check fails as the directory failing
 * (the client hears "try again later"), so a strategy that never calls back cannot hold logins open forever.
 */
export const HOST_DIRECTORY_TIMEOUT_MS = 10_000;

const isStrategy = (option: DirectoryOption): option is Strategy =>
  typeof (option as Strategy).authenticate === 'function' && typeof (option as HostLogin).verify !== 'function';

/** A host user as roamgate sees it: `id` (else `username`) as a string, and only the attributes whose values are strings. */
export function userOfHost(found: HostUser): User {
  const id = found.id ?? found.username;
  if ((typeof id !== 'string' && typeof id !== 'number') || String(id) === '')
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', 'directory: the host returned a user without an id or username');
  const attributes: Record<string, string> = {};
  if (found.attributes && typeof found.attributes === 'object')
    for (const [key, value] of Object.entries(found.attributes)) if (typeof value === 'string') attributes[key] = value;
  return { id: String(id), attributes };
}

/**
 * Runs a passport strategy for a name and password outside any HTTP request
 * (an in-protocol login, a peer asking): the way passport runs it, with
 * `success`, `fail` and `error` bound to this one attempt. The request it is
 * given is a minimal one: `{ body, query: {}, headers: {} }`, the fields
 * under the strategy's own names.
 */
export function runStrategy(strategy: Strategy, username: string, password: string): Promise<HostUser | false> {
  const fields = strategy as unknown as { _usernameField?: string; _passwordField?: string };
  const body = { [fields._usernameField ?? 'username']: username, [fields._passwordField ?? 'password']: password };
  return new Promise((resolve, reject) => {
    const attempt = Object.create(strategy) as Record<string, unknown> & { authenticate(req: unknown, options: object): void };
    attempt.success = (user: HostUser) => resolve(user);
    attempt.fail = () => resolve(false);
    attempt.error = (error: unknown) => reject(error);
    attempt.pass = () => resolve(false);
    attempt.redirect = () => resolve(false);
    try {
      attempt.authenticate({ body, query: {}, headers: {} }, {});
    } catch (error) {
      reject(error);
    }
  });
}

/**
 * The host app's login as roamgate's directory: its `verify` (or its
 * passport-local strategy) checks every login made here, on the login page,
 * in JSON, in a client's own protocol and for peers. A thrown error is the
 * host's directory failing, which clients hear as "try again later", never a
 * wrong password.
 */
export class HostDirectory implements Directory {
  readonly canLookUp: boolean;

  constructor(
    private readonly option: DirectoryOption,
    private readonly timeoutMs: number = HOST_DIRECTORY_TIMEOUT_MS,
  ) {
    this.canLookUp = !isStrategy(option) && typeof option.get === 'function';
  }

  async verify(username: string, password: string): Promise<User | false> {
    let found: HostUser | false | null | undefined;
    try {
      const check = isStrategy(this.option) ? runStrategy(this.option, username, password) : this.option.verify(username, password);
      found = await this.inTime(check);
    } catch (cause) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `directory: the host's login failed (${describe(cause)})`, { cause });
    }
    return found ? userOfHost(found) : false;
  }

  async get(id: string): Promise<User | undefined> {
    if (isStrategy(this.option) || !this.option.get) return undefined;
    let found: HostUser | false | null | undefined;
    try {
      found = await this.inTime(this.option.get(id));
    } catch (cause) {
      throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `directory: the host's user look-up failed (${describe(cause)})`, { cause });
    }
    return found ? userOfHost(found) : undefined;
  }

  /** What the host's login answered, or a rejection once `timeoutMs` passed without an answer. */
  private inTime<T>(answer: T | Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
    });
    return Promise.race([Promise.resolve(answer), late]).finally(() => clearTimeout(timer));
  }
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));
