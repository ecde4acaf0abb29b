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
gc({ type: 'minor' });
const before = heapBytes();
let kept = [];
for (let i = 0; i < 16; i++) kept.push(Buffer.allocUnsafeSlow(1024 * 1024));
const grown = heapBytes() - before;
kept = null;
gc();
console.log(JSON.stringify({ grown, keptAfterFree: heapBytes() - before }));
`;

function probe(mode: 'raise' | 'default'): { grown: number; keptAfterFree: number } {
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

  test('raised: the buffers come from the heap, and 16 MiB freed stay there for the next reads rather than being trimmed', () => {
    const { grown, keptAfterFree } = probe('raise');
    expect(grown).toBeGreaterThanOrEqual(16 * MiB);
    expect(keptAfterFree).toBeGreaterThanOrEqual(16 * MiB);
  });
});

describe('the old-space floor for the processes that relay', () => {
  test('is added to a command line, and an initial old-space size already there is kept as it is', () => {
    expect(withOldSpaceFloor(['--expose-gc'])).toEqual(['--expose-gc', `--initial-old-space-size=${OLD_SPACE_FLOOR_MB}`]);
    expect(withOldSpaceFloor(['--initial-old-space-size=256'])).toEqual(['--initial-old-space-size=256']);
    expect(withOldSpaceFloor(['--initial_old_space_size=32', '--trace-gc'])).toEqual(['--initial_old_space_size=32', '--trace-gc']);
  });

  test('lets V8 skip full GCs below it: about 30 MiB of promoted garbage brings no full GC, where by default it brings one', () => {
    const script = `
      const { PerformanceObserver, constants } = require('node:perf_hooks');
      let full = 0;
      new PerformanceObserver((list) => { for (const entry of list.getEntries()) if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++; }).observe({ entryTypes: ['gc'] });
      // Objects that live long enough to be promoted, then die: old-generation garbage, about 30 MiB in all.
      let held = [];
      for (let round = 0; round < 30; round++) {
        held.push(Array.from({ length: 8192 }, (_, i) => ({ i, text: 'x'.repeat(100) + i })));
        if (held.length > 4) held.shift();
      }
      held = null;
      setTimeout(() => console.log(full), 50);
    `;
    const run = (flags: string[]) => Number(spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }).stdout.trim());
    expect(run([])).toBeGreaterThan(0);
    expect(run(withOldSpaceFloor([]))).toBe(0);
  });
});
