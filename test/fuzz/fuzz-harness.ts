/**
 * The fuzzer's harness: runs each target's property over FUZZ_RUNS inputs (fast-check), with a time bound per
 * input and a watchdog for an input that never returns, the heap measured before and after (after a full GC),
 * and one table per test file of what was run and found. FUZZ_SEED (with FUZZ_PATH and FUZZ_TARGET) replays
 * a run that failed, as the failure message says.
 */
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { markdownTable } from '../soak/soak-report';

/** Inputs per target; the fuzzer's claim is at least 10,000 each. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
/** What one input may take by default before it counts as a hang (ms): every target here answers in well under 1 ms. */
export const DEFAULT_BOUND_MS = 250;
/** An input still running after this long has hung for good: the watchdog reports it and kills the process (ms). */
export const WATCHDOG_MS = 10_000;
/** Live heap a target may add over its whole run, measured after a full GC before and after (bytes). */
export const MAX_HEAP_GROWTH_BYTES = 16 * 1024 * 1024;

/** What a target counts about its inputs. */
export interface Tally {
  /** Calls made into the code under test (lines fed, chunks pushed, functions called). */
  calls: number;
  /** Inputs the code took as valid (parsed, accepted, verified). */
  accepted: number;
  /** Inputs it turned down the documented way: null, a refusal, or the documented error. */
  rejected: number;
  /** Behaviour worth a report that breaks no contract the code states: how often, and the first input that showed it. */
  notes: Map<string, { count: number; example: string }>;
}

/** Notes a finding that does not fail the run (see Tally.notes). */
export function note(tally: Tally, finding: string, example: () => string): void {
  const seen = tally.notes.get(finding);
  if (seen) seen.count++;
  else tally.notes.set(finding, { count: 1, example: example().slice(0, 300) });
}

export interface FuzzTarget<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Runs the code under test on one input and checks what it gives; throws on anything the contract does not allow. */
  check(input: T, tally: Tally): void;
  /** Time bound for one input (ms); default DEFAULT_BOUND_MS. */
  boundMs?: number;
}

/** One row of the table. */
interface Row {
  target: string;
  inputs: number;
  tally: Tally;
  crashes: number;
  hangs: number;
  slowestMs: number;
  heapBefore: number;
  heapAfter: number;
}

class Hang extends Error {}

/** A full GC, made available without a command-line flag (jest starts the workers). */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function liveHeap(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

/** Heartbeat shared with the watchdog thread: [0] inputs begun, [1] armed, [2] label length. */
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const state = new Int32Array(workerData.state);
const label = new Uint8Array(workerData.label);
let seen = -1;
let since = Date.now();
setInterval(() => {
  const beat = Atomics.load(state, 0);
  if (Atomics.load(state, 1) === 0 || beat !== seen) {
    seen = beat;
    since = Date.now();
    return;
  }
  if (Date.now() - since < workerData.hangMs) return;
  const text = new TextDecoder().decode(label.subarray(0, Atomics.load(state, 2)));
  writeSync(2, '\\nfuzz watchdog: ' + text + ', input #' + beat + ' has run for over ' + workerData.hangMs + ' ms: a hang.' +
    ' Replay it with FUZZ_PATH=' + (beat - 1) + ' and the seed above; killing the process.\\n');
  process.kill(process.pid, 'SIGKILL');
}, 200);
`;

/** Watches the main thread from a thread of its own: a synchronous endless loop cannot stop it. */
class Watchdog {
  private readonly state = new Int32Array(new SharedArrayBuffer(12));
  private readonly label = new Uint8Array(new SharedArrayBuffer(1024));
  private readonly worker: Worker;

  constructor() {
    this.worker = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { state: this.state.buffer, label: this.label.buffer, hangMs: WATCHDOG_MS },
    });
    this.worker.unref();
  }

  arm(label: string): void {
    const { written } = new TextEncoder().encodeInto(label, this.label);
    Atomics.store(this.state, 2, written);
    Atomics.store(this.state, 0, 0);
    Atomics.store(this.state, 1, 1);
  }

  beat(): void {
    Atomics.add(this.state, 0, 1);
  }

  disarm(): void {
    Atomics.store(this.state, 1, 0);
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

function replaySettings(): { seed?: number; path?: string } {
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  return { seed, path: process.env.FUZZ_PATH };
}

/** Runs one target; returns its row, and fast-check's report when an input crashed or hung. */
function runTarget<T>(target: FuzzTarget<T>, watchdog: Watchdog): { row: Row; failure?: string } {
  const tally: Tally = { calls: 0, accepted: 0, rejected: 0, notes: new Map() };
  const bound = target.boundMs ?? DEFAULT_BOUND_MS;
  let slowestMs = 0;
  const heapBefore = liveHeap();
  const { seed = Date.now() ^ (Math.random() * 0x100000000), path } = replaySettings();
  watchdog.arm(`target "${target.name}" (FUZZ_TARGET="${target.name}" FUZZ_SEED=${seed})`);
  const details = fc.check(
    fc.property(target.arbitrary, (input) => {
      watchdog.beat();
      const calls = tally.calls;
      const started = performance.now();
      target.check(input, tally);
      const ms = performance.now() - started;
      // A target that does not count its calls made one.
      if (tally.calls === calls) tally.calls++;
      slowestMs = Math.max(slowestMs, ms);
      if (ms > bound) throw new Hang(`one input took ${ms.toFixed(1)} ms (bound ${bound} ms)`);
    }),
    { numRuns: FUZZ_RUNS, seed, path, endOnFailure: false },
  );
  watchdog.disarm();
  const hung = details.failed && details.errorInstance instanceof Hang;
  const row: Row = {
    target: target.name,
    inputs: details.numRuns,
    tally,
    crashes: details.failed && !hung ? 1 : 0,
    hangs: hung ? 1 : 0,
    slowestMs,
    heapBefore,
    heapAfter: liveHeap(),
  };
  if (!details.failed) return { row };
  return { row, failure: `${fc.defaultReportMessage(details)}\n${String(details.errorInstance)}` };
}

const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

/** The notes of every row, one line each with its first example. */
function notes(rows: readonly Row[]): string[] {
  return rows.flatMap((row) =>
    [...row.tally.notes].map(
      ([finding, { count, example }]) => `  ${row.target}: ${count} x ${finding}; first: ${JSON.stringify(example)}`,
    ),
  );
}

function table(rows: readonly Row[]): string {
  const header = ['target', 'inputs', 'calls', 'accepted', 'rejected', 'crashes', 'hangs', 'slowest ms', 'heap MiB before/after'];
  return markdownTable(
    header,
    rows.map((row) => [
      row.target,
      String(row.inputs),
      String(row.tally.calls),
      String(row.tally.accepted),
      String(row.tally.rejected),
      String(row.crashes) + (row.crashes ? ' !' : ''),
      String(row.hangs) + (row.hangs ? ' !' : ''),
      row.slowestMs.toFixed(1),
      `${mib(row.heapBefore)}/${mib(row.heapAfter)}`,
    ]),
  );
}

/**
 * Declares one jest test per target under `title`, and prints their table when they have run. Each test fails
 * with fast-check's report (the input, shrunk, and the seed to replay it) on a crash or a hang, and when the
 * live heap grew past MAX_HEAP_GROWTH_BYTES. (`any`: the targets of one file take inputs of different types.)
 */
export function fuzzTargets(title: string, targets: ReadonlyArray<FuzzTarget<any>>): void {
  describe(title, () => {
    const rows: Row[] = [];
    const watchdog = new Watchdog();
    afterAll(async () => {
      await watchdog.stop();
      const noted = notes(rows);
      const findings = noted.length ? `\nNoted (no contract broken, worth a look):\n${noted.join('\n')}` : '';
      if (rows.length) process.stdout.write(`\nFuzz: ${title}, ${FUZZ_RUNS} inputs per target\n${table(rows)}${findings}\n\n`);
    });
    for (const target of targets) {
      const only = process.env.FUZZ_TARGET;
      (only === undefined || only === target.name ? test : test.skip)(target.name, () => {
        const { row, failure } = runTarget(target, watchdog);
        rows.push(row);
        if (failure) throw new Error(`${target.name}: ${failure}`);
        expect(row.heapAfter - row.heapBefore).toBeLessThanOrEqual(MAX_HEAP_GROWTH_BYTES);
      });
    }
  });
}

/** Throws when `condition` does not hold: the fuzzer's assertion, cheaper than expect() over 10,000 runs. */
export function ensure(condition: unknown, what: string | (() => string)): asserts condition {
  if (!condition) throw new Error(`not well-formed: ${typeof what === 'string' ? what : what()}`);
}
