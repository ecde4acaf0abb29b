import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RoamgateError } from '../errors';

/** The files a local proxy keeps in its state directory. */
export const STATE_FILES = Object.freeze({
  /** listener -> port chosen automatically, so clients keep working across restarts and networks. */
  ports: 'ports.json',
  /** network name -> pinned gateway key (trust on first use). */
  networks: 'networks.json',
  /** gateway URL -> the lease token last issued there (mode 0600). */
  leases: 'leases.json',
  /** What the running local proxy is doing, for `roamgate local status` (no secrets). */
  status: 'status.json',
});

/** Pinned gateway key of one network. */
export interface PinnedNetwork {
  publicKey: string;
  /** When it was pinned (ISO 8601). */
  pinnedAt: string;
  /** The management URL its answer named, for the record. */
  url: string;
}

/** A lease kept for reuse across restarts. */
export interface SavedLease {
  user: string;
  token: string;
  id: string;
  expiresAt: string;
  /** The name given at login; older files lack it. */
  login?: string;
}

/**
 * The state directory: small JSON files written whole (temporary file, then
 * rename), the directory 0700 and every file 0600, since one holds lease
 * tokens. A file that is missing or unreadable as JSON counts as empty.
 */
export class StateDir {
  constructor(readonly path: string) {}

  file(name: string): string {
    return join(this.path, name);
  }

  read<T extends object>(name: string): T {
    let text: string;
    try {
      text = readFileSync(this.file(name), 'utf8');
    } catch {
      return {} as T;
    }
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as T) : ({} as T);
    } catch {
      return {} as T;
    }
  }

  write(name: string, value: object): void {
    try {
      mkdirSync(this.path, { recursive: true, mode: 0o700 });
      const target = this.file(name);
      const temporary = `${target}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
      // The mode of an existing file is kept by writeFileSync; the rename replaces it, but be explicit.
      chmodSync(temporary, 0o600);
      renameSync(temporary, target);
    } catch (error) {
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `stateDir: cannot write ${this.file(name)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        { cause: error },
      );
    }
  }

  update<T extends object>(name: string, change: (current: T) => T): T {
    const next = change(this.read<T>(name));
    this.write(name, next);
    return next;
  }
}

/** Forgets the pinned key of a network, so that its next answer is pinned anew. Returns whether one was pinned. */
export function forgetNetwork(stateDir: string, name: string): boolean {
  const state = new StateDir(stateDir);
  const pins = state.read<Record<string, PinnedNetwork>>(STATE_FILES.networks);
  if (!Object.hasOwn(pins, name)) return false;
  delete pins[name];
  state.write(STATE_FILES.networks, pins);
  return true;
}
