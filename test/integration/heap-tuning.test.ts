import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { OLD_SPACE_FLOOR_MB, withOldSpaceFloor } from '../../bin/heap-tuning';

/*
 * bin/heap-tuning.ts. The glibc threshold as `roamgate serve` raises it, in a
 * fresh Node process of its own (the built module, as npm test builds it):
 * after one young-generation GC, glibc serves 1 MiB buffers from the heap
 * instead of mapping each one, and keeps the heap when they are freed, where by
 * default it maps each one and the heap never grows (the heap's size read from
 * /proc/self/maps). And V8's old-space floor, which the systemd unit and the
 * workers of `serve --workers` run with (the workers: fleet.test.ts).
 */

const MODULE = join(__dirname, '..', '..', 'dist', 'bin', 'heap-tuning.js');

const PROBE = `
const { readFileSync } = require('node:fs');
const heapBytes = () => {
  const line = readFileSync('/proc/self/maps', 'utf8').split('\\n').find((each) => each.endsWith('[heap]'));
  const [start, end] = line.split(' ')[0].split('-').map((hex) => parseInt(hex, 16));
  return end - start;
};
if (process.argv[1] === 'raise') require(${JSON.stringify(MODULE)}).raiseHeapTrimThreshold();
// The GC that frees the buffer sweeps array buffers on a helper thread; the next GC waits for that sweep to finish.
gc({ type: 'minor' });
gc();
const before = heapBytes();
let kept = [];
for (let i = 0; i < 32; i++) kept.push(Buffer.allocUnsafeSlow(1024 * 1024));
const allocated = heapBytes();
kept = null;
gc();
console.log(JSON.stringify({ grown: allocated - before, trimmed: allocated - heapBytes() }));
`;

function probe(mode: 'raise' | 'default'): { grown: number; trimmed: number } {
  const run = spawnSync(process.execPath, ['--expose-gc', '-e', PROBE, mode], {
    encoding: 'utf8',
    env: { ...process.env, GLIBC_TUNABLES: '' },
  });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout);
}

const MiB = 1024 * 1024;
const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
const onGlibc = process.platform === 'linux' && header?.glibcVersionRuntime !== undefined;

(onGlibc ? describe : describe.skip)('raising glibc’s heap trim threshold (Linux, glibc)', () => {
  test('by default glibc maps each 1 MiB buffer on its own: the heap does not grow', () => {
    expect(probe('default').grown).toBeLessThan(4 * MiB);
  });

  test('raised: the buffers come from the heap (32 MiB of them, whatever free space it had), and once freed stay there for the next reads rather than being trimmed', () => {
    const { grown, trimmed } = probe('raise');
    expect(grown).toBeGreaterThanOrEqual(24 * MiB);
    expect(trimmed).toBeLessThanOrEqual(1 * MiB);
  });
});

// What the floor does to V8's full GCs is measured by the relay bench, not here: when V8 runs one also depends on its
// timers (the memory reducer) and on the machine's load.
describe('the old-space floor for the processes that relay', () => {
  test('is added to a command line, and an initial old-space size already there is kept as it is', () => {
    expect(withOldSpaceFloor(['--expose-gc'])).toEqual(['--expose-gc', `--initial-old-space-size=${OLD_SPACE_FLOOR_MB}`]);
    expect(withOldSpaceFloor(['--initial-old-space-size=256'])).toEqual(['--initial-old-space-size=256']);
    expect(withOldSpaceFloor(['--initial_old_space_size=32', '--trace-gc'])).toEqual(['--initial_old_space_size=32', '--trace-gc']);
  });
});
