import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether these tests run as root, whom file modes do not bind. */
export const RUNNING_AS_ROOT = process.getuid?.() === 0;

function chattr(flag: '+i' | '-i', path: string): void {
  execFileSync('chattr', [flag, path], { stdio: 'ignore' });
}

/** Whether `chattr +i` works here (root with CAP_LINUX_IMMUTABLE, on a file system that has the flag). */
function immutableFlagWorks(): boolean {
  const directory = mkdtempSync(join(tmpdir(), 'roamgate-chattr-'));
  const probe = join(directory, 'probe');
  writeFileSync(probe, '');
  try {
    chattr('+i', probe);
    chattr('-i', probe);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * How a file is made unwritable to this very process: a user's tests take the
 * write bits away; root's set the immutable flag (chattr +i), since modes do
 * not bind root. Undefined when neither works (root without CAP_LINUX_IMMUTABLE).
 */
export const UNWRITABLE_BY: 'chmod' | 'chattr' | undefined = !RUNNING_AS_ROOT ? 'chmod' : immutableFlagWorks() ? 'chattr' : undefined;

/** Whether the immutable flag can be set here, whoever runs the tests (a -shm made immutable is what raised SIGBUS). */
export const IMMUTABLE_FLAG_WORKS = RUNNING_AS_ROOT && UNWRITABLE_BY === 'chattr';

/** Makes `path` (a file or a directory) unwritable to this process; returns what makes it writable again. */
export function makeUnwritable(path: string): () => void {
  if (UNWRITABLE_BY === 'chmod') {
    const mode = statSync(path).mode & 0o777;
    chmodSync(path, mode & ~0o222);
    return () => chmodSync(path, mode);
  }
  if (UNWRITABLE_BY === 'chattr') {
    chattr('+i', path);
    return () => chattr('-i', path);
  }
  throw new Error('nothing makes a file unwritable to this process here (root without CAP_LINUX_IMMUTABLE)');
}

/** Sets the immutable flag on `path` (root only); returns what clears it. */
export function makeImmutable(path: string): () => void {
  chattr('+i', path);
  return () => chattr('-i', path);
}
