import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { roamgate } from '../../index';
import type { Logger } from '../../plugin/options';
import { makeUnwritable, UNWRITABLE_BY } from '../helpers/unwritable';

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

const directory = mkdtempSync(join(tmpdir(), 'roamgate-store-mode-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Opens a gateway on the store at `path` and closes it again; returns the warnings it logged. */
async function warningsOpening(path: string): Promise<Array<{ obj: object; msg?: string }>> {
  const warnings: Array<{ obj: object; msg?: string }> = [];
  const logger: Logger = { info: () => undefined, warn: (obj, msg) => warnings.push({ obj, msg }), error: () => undefined };
  const gateway = roamgate({ store: { path }, logger, health: { enabled: false } });
  await gateway.close();
  return warnings;
}

test('the gateway makes its store file 0600 and says nothing; a store file others may read is warned about', async () => {
  const path = join(directory, 'gateway.db');
  expect(await warningsOpening(path)).toEqual([]);
  expect(statSync(path).mode & 0o777).toBe(0o600);

  chmodSync(path, 0o644);
  const warnings = await warningsOpening(path);
  expect(warnings).toEqual([{ obj: { event: 'store', path }, msg: expect.stringContaining('readable by other users') }]);
  expect(statSync(path).mode & 0o777).toBe(0o644);
});

(UNWRITABLE_BY ? test : test.skip)(
  `a store whose -shm cannot be written (${UNWRITABLE_BY}) is an options error naming the file and the fix, before SQLite opens it`,
  async () => {
    const path = join(directory, 'unwritable.db');
    await warningsOpening(path);
    // A -shm left by a process that did not close the store.
    writeFileSync(`${path}-shm`, '');
    const undo = makeUnwritable(`${path}-shm`);
    try {
      expect(() => roamgate({ store: { path }, logger: silent, health: { enabled: false } })).toThrow(
        expect.objectContaining({
          code: 'ROAMGATE_INVALID_OPTIONS',
          message: expect.stringMatching(
            new RegExp(`^store\\.path: ${path}-shm is not writable by this process \\((EACCES|EPERM)\\): .*(chown|chattr)`),
          ),
        }),
      );
    } finally {
      undo();
    }
  },
);
