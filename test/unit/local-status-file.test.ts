import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLocalArgs } from '../../bin/local-command';
import { StateDir } from '../../local/state-dir';
import { describeStatus, type LocalStatus, processAlive, readStatus, writeStatus } from '../../local/status-file';

const STATUS: LocalStatus = {
  pid: process.pid,
  startedAt: '2026-12-04T10:00:00.000Z',
  updatedAt: '2026-12-04T10:05:00.000Z',
  state: 'running',
  gateway: 'http://10.0.0.1:8080/roamgate',
  mode: 'gateway',
  lease: { state: 'live', user: 'alice', expiresAt: '2026-12-04T18:00:00.000Z' },
  routes: [{ service: 'smtp', listen: '127.0.0.1:2525', route: 'gateway through the gateway http://10.0.0.1:8080/roamgate' }],
};

describe('the local proxy status file', () => {
  test('written whole (0600) and read back; a directory without one has none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-status-'));
    expect(readStatus(dir)).toBeUndefined();
    writeStatus(new StateDir(dir), STATUS);
    expect(readStatus(dir)).toEqual(STATUS);
    expect(statSync(join(dir, 'status.json')).mode & 0o777).toBe(0o600);
  });

  test('a state directory that cannot be written loses only the status', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-status-'));
    writeFileSync(join(dir, 'a-file'), '');
    expect(() => writeStatus(new StateDir(join(dir, 'a-file', 'state')), STATUS)).not.toThrow();
  });

  test('this process runs; a pid that does not exist does not', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(2 ** 22 + 12345)).toBe(false);
  });

  test.each<[string, Partial<LocalStatus>, boolean, string[]]>([
    [
      'running, live lease',
      {},
      true,
      [
        'roamgate local is running (pid PID, since 2026-12-04T10:00:00.000Z); as of 2026-12-04T10:05:00.000Z:',
        'gateway    http://10.0.0.1:8080/roamgate (gateway mode)',
        'lease      live of alice, until 2026-12-04T18:00:00.000Z',
        'smtp       127.0.0.1:2525  -> gateway through the gateway http://10.0.0.1:8080/roamgate',
      ],
    ],
    [
      'the gateway lost',
      { outage: { gateway: 'http://10.0.0.1:8080/roamgate', reason: 'its event stream went silent' } },
      true,
      ['gateway    http://10.0.0.1:8080/roamgate (gateway mode): NOT ANSWERING (its event stream went silent)'],
    ],
    ['revoked, no new lease', { lease: { state: 'revoked', user: 'alice' } }, true, ['lease      revoked of alice, and no new one given']],
    ['not logged in', { lease: { state: 'none' } }, true, ['lease      none (not logged in)']],
    ['a process that is gone', {}, false, ['roamgate local is not running (its last status, 2026-12-04T10:05:00.000Z, from /state):']],
  ])('%s', (_name, change, alive, expected) => {
    const lines = describeStatus({ ...STATUS, ...change }, alive, '/state').map((line) => line.replace(String(process.pid), 'PID'));
    for (const line of expected) expect(lines).toContain(line);
  });

  test('`roamgate local status` takes --state-dir and --json only', () => {
    expect(parseLocalArgs(['status'])).toEqual({ kind: 'status', json: false });
    expect(parseLocalArgs(['status', '--state-dir', '/s', '--json'])).toEqual({ kind: 'status', json: true, stateDir: '/s' });
    expect(() => parseLocalArgs(['status', '--gateway', 'http://x'])).toThrow(/^status: Unknown option '--gateway'/);
  });
});
