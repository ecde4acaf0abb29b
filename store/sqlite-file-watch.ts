import { accessSync, closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { RoamgateError } from '../errors';
import type { StoreProblem } from './store';

/*
 * Why an SQLite store can kill the process with SIGBUS, and what is done about it.
 *
 * In WAL mode SQLite maps the `-shm` file (the wal-index) into memory, shared, and reads
 * and writes it directly on every transaction, reads included (their read marks). The
 * kernel raises SIGBUS, which kills Node with no JavaScript handler and no log line, when
 * the process touches that mapping and
 *   - the file was truncated below the mapped size (`truncate`, `: > file`, `cp /dev/null file`), or
 *   - a page must be made writable and the inode is immutable (`chattr +i`: what root does,
 *     since chmod does not bind root) or its file system went read-only (`errors=remount-ro`).
 * A mode change (chmod 444) does not: permissions are checked at open and mmap, not later.
 *
 * So before SQLite touches a store on disk, each call checks the -shm through a descriptor
 * held on the very inode SQLite mapped: its size must not have shrunk (a shrunk file is
 * given its size back at once; the lost pages return as zeros, which SQLite takes for an
 * uninitialised wal-index and rebuilds from the -wal), and it must still be writable
 * (access(2) on /proc/self/fd/N, which sees the immutable flag and a read-only file system).
 * A -shm that is not writable is not touched again until it is: the store refuses its
 * calls, and close() leaves the database open rather than closing it through the mapping.
 * Before opening, a -shm (like the file and its -wal) that cannot be written is refused.
 *
 * What is left: another program changing the -shm between the check and SQLite's access
 * within one call (microseconds); and, with a -shm still unwritable, a Node process that
 * ends by running out of work rather than by process.exit() (as the roamgate CLI does):
 * better-sqlite3 then closes the databases left open, which touches the mapping.
 *
 * Nothing in the process may open and close the database or its -shm while SQLite has
 * them open: closing any descriptor of a file drops all of the process's POSIX locks on it,
 * SQLite's included, and another process could then take the -shm for its own and truncate
 * it. The descriptors here are opened once and closed only after SQLite closed the database.
 */

/** What a check found wrong: the problem, the file and one line saying what to do about it. */
export interface StoreFinding {
  problem: StoreProblem;
  file: string;
  reason: string;
}

/** The 16 bytes every SQLite database file starts with. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** What to do when access(2) says a file cannot be written, by its error. */
const WRITE_FIXES: Record<string, string> = {
  EACCES: 'make it writable by the user the gateway runs as (chown it to that user, chmod 600)',
  EPERM: 'it is immutable or append-only (chattr -ia it)',
  EROFS: 'its file system is read-only (remount it read-write, or move the store)',
};

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EIO';
}

/** Why `path` cannot be written by this process, or undefined when it can. */
function notWritable(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (error) {
    return errorCode(error);
  }
}

function unwritableReason(file: string, code: string): string {
  return `${file} is not writable by this process (${code}): ${WRITE_FIXES[code] ?? 'check the file and its file system'}`;
}

/**
 * Checks made before SQLite opens `path`: its directory can be written (SQLite creates the
 * -wal and -shm beside it), and the file, its -wal and -shm, where they exist, are files this
 * process can write. Throws ROAMGATE_SOURCE_FAILED naming the file and the fix.
 */
export function checkBeforeOpening(path: string): void {
  const directory = dirname(path);
  const directoryCode = notWritable(directory);
  if (directoryCode === 'ENOENT') throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: the directory ${directory} does not exist`);
  if (directoryCode !== undefined)
    throw new RoamgateError(
      'ROAMGATE_SOURCE_FAILED',
      `store: the directory ${directory} is not writable by this process (${directoryCode}); SQLite creates the store's -wal and -shm files in it: ${WRITE_FIXES[directoryCode] ?? 'check it'}`,
    );
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let isFile: boolean;
    try {
      isFile = statSync(file).isFile();
    } catch {
      continue;
    }
    if (!isFile) throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${file} is not a regular file: move it out of the way`);
    const code = notWritable(file);
    if (code !== undefined) throw new RoamgateError('ROAMGATE_SOURCE_FAILED', `store: ${unwritableReason(file, code)}`);
  }
}

interface WatchedFile {
  path: string;
  dev: number;
  ino: number;
}

/** The -shm as SQLite mapped it: a descriptor on that inode, and the largest size seen. */
interface MappedShm {
  path: string;
  fd: number;
  /** What access(2) is asked about: the descriptor's own inode where /proc/self/fd exists, else the path. */
  accessPath: string;
  /** Opened for writing, so that a truncated file can be given its size back. */
  restorable: boolean;
  size: number;
}

function openShm(path: string): MappedShm | undefined {
  let fd: number;
  let restorable = true;
  try {
    fd = openSync(path, 'r+');
  } catch {
    restorable = false;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
  }
  const viaProc = `/proc/self/fd/${fd}`;
  const accessPath = notWritable(viaProc) === 'ENOENT' ? path : viaProc;
  return { path, fd, accessPath, restorable, size: fstatSync(fd).size };
}

/**
 * Watches the files of an SQLite store on disk while it is open (see the comment at the top
 * of this module): the -shm before every call, and everything in {@link inspect}.
 * Construct it right after SQLite opened the file in WAL mode and wrote to it.
 */
export class SqliteFileWatch {
  private readonly files: WatchedFile[] = [];
  private readonly directory: string;
  private readonly databaseFd: number;
  private readonly shm: MappedShm | undefined;

  constructor(readonly path: string) {
    this.directory = dirname(path);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        const { dev, ino } = statSync(file);
        this.files.push({ path: file, dev, ino });
      } catch {
        // Not in WAL mode (no -wal, -shm): only the file is watched.
      }
    }
    this.databaseFd = openSync(path, 'r');
    this.shm = this.files.some((file) => file.path === `${path}-shm`) ? openShm(`${path}-shm`) : undefined;
  }

  /** The check before each store call: the -shm has not shrunk (its size is given back if it has) and can still be written. */
  guardShm(): StoreFinding | undefined {
    const shm = this.shm;
    if (!shm) return undefined;
    const size = fstatSync(shm.fd).size;
    if (size < shm.size) {
      const truncated = `${shm.path} was truncated by another program (from ${shm.size} to ${size} bytes)`;
      if (!shm.restorable) return { problem: 'shm-truncated', file: shm.path, reason: `${truncated}; restart the gateway` };
      ftruncateSync(shm.fd, shm.size);
      return {
        problem: 'shm-truncated',
        file: shm.path,
        reason: `${truncated}; its size was given back so that SQLite does not crash the process (SIGBUS), and SQLite rebuilds its index from the -wal`,
      };
    }
    shm.size = size;
    const code = notWritable(shm.accessPath);
    return code === undefined ? undefined : { problem: 'unwritable', file: shm.path, reason: unwritableReason(shm.path, code) };
  }

  /** After each store call: SQLite may have grown the -shm. */
  noteShmSize(): void {
    if (this.shm) this.shm.size = Math.max(this.shm.size, fstatSync(this.shm.fd).size);
  }

  /** Whether SQLite touching the -shm now would raise SIGBUS: shorter than mapped, or not writable. */
  shmUnsafe(): boolean {
    const shm = this.shm;
    if (!shm) return false;
    if (fstatSync(shm.fd).size < shm.size) return true;
    const code = notWritable(shm.accessPath);
    return code !== undefined && code !== 'EACCES';
  }

  /** Everything: the -shm, each file still the one at its path, the files and the directory writable, the database's header. */
  inspect(): StoreFinding | undefined {
    return this.guardShm() ?? this.checkPaths() ?? this.checkWritable() ?? this.checkHeader();
  }

  /** Closes the descriptors: only once SQLite has closed the database. */
  close(): void {
    closeSync(this.databaseFd);
    if (this.shm) closeSync(this.shm.fd);
  }

  private checkPaths(): StoreFinding | undefined {
    for (const file of this.files) {
      let now: { dev: number; ino: number };
      try {
        now = statSync(file.path);
      } catch (error) {
        return {
          problem: 'vanished',
          file: file.path,
          reason: `${file.path} was deleted or moved while the gateway runs (${errorCode(error)}): what it writes now would be lost at restart; put the file back, or restart the gateway to start a new store`,
        };
      }
      if (now.dev !== file.dev || now.ino !== file.ino)
        return {
          problem: 'replaced',
          file: file.path,
          reason: `${file.path} was replaced by another file while the gateway runs, which still has the old one open: restart the gateway to use the new one`,
        };
    }
    return undefined;
  }

  private checkWritable(): StoreFinding | undefined {
    const directoryCode = notWritable(this.directory);
    if (directoryCode !== undefined)
      return {
        problem: 'unwritable',
        file: this.directory,
        reason: `the store's directory ${this.directory} is not writable by this process (${directoryCode}), and the store cannot be reopened: ${WRITE_FIXES[directoryCode] ?? 'check it'}`,
      };
    for (const file of this.files) {
      const code = notWritable(file.path);
      if (code !== undefined) return { problem: 'unwritable', file: file.path, reason: unwritableReason(file.path, code) };
    }
    return undefined;
  }

  private checkHeader(): StoreFinding | undefined {
    const header = Buffer.alloc(SQLITE_HEADER.length);
    const read = readSync(this.databaseFd, header, 0, header.length, 0);
    if (read === header.length && header.equals(SQLITE_HEADER)) return undefined;
    return {
      problem: 'corrupt',
      file: this.path,
      reason: `${this.path} no longer starts with SQLite's header (it was overwritten while the gateway runs): restore it from a backup, then restart the gateway`,
    };
  }
}
