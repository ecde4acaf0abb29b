import { watch, watchFile, unwatchFile, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RoamgateError } from '../errors';
import { entriesByService, NO_SERVERS, type ServerEntry, type ServerInfoSource } from './server-info-source';
import type { ServerInfo } from '../server-info';
import { tableEntries } from './static-source';
import { describeZodError, serverTableSchema } from './table-schema';

/** How often the file is also polled, for file systems where change events get lost (ms). */
export const DEFAULT_FILE_POLL_INTERVAL_MS = 2000;
/** Quiet time after a change event before the file is read, so a write in progress settles (ms). */
export const FILE_SETTLE_MS = 30;

export interface FileSourceOptions {
  path: string;
  /** Called when an edit is rejected; the last good table stays in force. */
  onError?: (error: RoamgateError) => void;
  onReload?: (entries: number) => void;
  pollIntervalMs?: number;
  /** Resolves secrets written as references (`password: { env: NAME }`) in the table read, relative to the file's directory. */
  secrets?: TableSecrets;
}

/** Turns the secret references in a table (as read) into the secrets; returns every problem (an unset variable, ...). */
export type TableSecrets = (table: unknown, baseDir: string) => { data: unknown; problems: string[] };

/** Reads and validates a YAML or JSON server table file. Throws a RoamgateError saying what is wrong. */
export function readTableFile(path: string, secrets?: TableSecrets): ServerEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `cannot read server file ${path}: ${(cause as Error).message}`, { cause });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (cause) {
    throw new RoamgateError(
      'ROAMGATE_SOURCE_FAILED',
      `server file ${path} is not valid YAML/JSON: ${(cause as Error).message.split('\n')[0]}`,
      { cause },
    );
  }
  const resolved = secrets?.(data ?? {}, dirname(path));
  if (resolved?.problems.length) throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `server file ${path}: ${resolved.problems[0]}`);
  const parsed = serverTableSchema.safeParse(resolved ? resolved.data : (data ?? {}));
  if (!parsed.success) {
    throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `server file ${path}: ${describeZodError(parsed.error)}`);
  }
  return tableEntries(parsed.data, 'file');
}

/**
 * A server table kept in a YAML or JSON file (`service: [{ host, port, priority }]`)
 * and watched: an edit applies to the next connection, a broken edit keeps the
 * last good table and is reported through `onError`.
 */
export class FileSource implements ServerInfoSource {
  private entries: ServerEntry[];
  /** The entries by service, made when first asked after each reload. */
  private byService: ReadonlyMap<string, ServerInfo[]> | null = null;
  private lastText: string;
  private readonly listeners = new Set<() => void>();
  private readonly watcher: FSWatcher | null;
  private settleTimer: NodeJS.Timeout | null = null;
  private readonly poll = () => this.scheduleReload();

  constructor(private readonly options: FileSourceOptions) {
    this.entries = readTableFile(options.path, options.secrets);
    this.lastText = this.readText();
    const name = basename(options.path);
    // Watch the directory, not the file: editors replace files by rename, which ends a file watch.
    try {
      this.watcher = watch(dirname(options.path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) this.scheduleReload();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      this.watcher = null;
    }
    watchFile(options.path, { interval: options.pollIntervalMs ?? DEFAULT_FILE_POLL_INTERVAL_MS, persistent: false }, this.poll);
  }

  /** The service's servers (the same frozen array until the file changes: see entriesByService). */
  resolve(service: string): ServerInfo[] {
    this.byService ??= entriesByService(this.entries);
    return this.byService.get(service) ?? NO_SERVERS;
  }

  list(): ServerEntry[] {
    return this.entries.slice();
  }

  watch(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  close(): void {
    this.watcher?.close();
    unwatchFile(this.options.path, this.poll);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.listeners.clear();
  }

  /** Reads the file now; normally the watcher does this. Returns whether the table changed. */
  reload(): boolean {
    let text: string;
    try {
      text = this.readText();
    } catch (cause) {
      this.options.onError?.(
        new RoamgateError(
          'ROAMGATE_SOURCE_FAILED',
          `cannot read server file ${this.options.path}: ${(cause as Error).message}; keeping the last good table`,
          { cause },
        ),
      );
      return false;
    }
    if (text === this.lastText) return false;
    try {
      this.entries = readTableFile(this.options.path, this.options.secrets);
      this.byService = null;
    } catch (error) {
      this.lastText = text;
      const reason = (error as Error).message;
      this.options.onError?.(new RoamgateError('ROAMGATE_SOURCE_FAILED', `${reason}; keeping the last good table`, { cause: error }));
      return false;
    }
    this.lastText = text;
    this.options.onReload?.(this.entries.length);
    for (const listener of this.listeners) listener();
    return true;
  }

  private readText(): string {
    return readFileSync(this.options.path, 'utf8');
  }

  private scheduleReload(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.reload();
    }, FILE_SETTLE_MS);
    this.settleTimer.unref();
  }
}
