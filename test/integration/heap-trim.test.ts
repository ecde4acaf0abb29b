import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/*
 * bin/heap-trim.ts, as `roamgate serve` calls it, in a fresh Node process of
 * its own (the built module, as npm test builds it): after one young-generation
 * GC, glibc serves 1 MiB buffers from the heap instead of mapping each one, and
 * keeps the heap when they are freed, where by default it maps each one and
 * the heap never grows. The heap's size is read from /proc/self/maps.
 */

const MODULE = join(__dirname, '..', '..', 'dist', 'bin', 'heap-trim.js');

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
