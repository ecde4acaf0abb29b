/** IPC between the bench (parent) and its child processes (upstream server, gateway). */
import { getHeapSpaceStatistics } from 'node:v8';

/** Child -> parent, once: the child is listening on 127.0.0.1:`port`. */
export interface ReadyMessage {
  type: 'ready';
  port: number;
}

/** Parent -> child: report memory and CPU time, after a full GC when `gc` is set and the child has --expose-gc. */
export interface SampleRequest {
  type: 'sample';
  gc: boolean;
}

/** Child -> parent: the answer to a SampleRequest. */
export interface SampleMessage {
  type: 'sample';
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** Capacity of V8's young generation; it grows with allocation rate, not with live data. */
  newSpaceSize: number;
  external: number;
  /** User + system CPU time of the child since it started (microseconds). */
  cpuMicros: number;
  /** The system (kernel) part of cpuMicros. */
  cpuSystemMicros: number;
  /** Whether a GC really ran before the sample (false without --expose-gc). */
  collected: boolean;
}

/** Parent -> child: exit now (after writing a CPU profile, when one is being taken). */
export interface StopRequest {
  type: 'stop';
}

export type ChildMessage = ReadyMessage | SampleMessage;
export type ParentMessage = SampleRequest | StopRequest;

/** Answers a SampleRequest in the calling (child) process. */
export async function takeSample(gc: boolean): Promise<SampleMessage> {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    // Two passes with a turn of the event loop between them, so weak callbacks and
    // finalizers queued by the first pass have run before the second.
    collect();
    await new Promise((resolve) => setImmediate(resolve));
    collect();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return {
    type: 'sample',
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    newSpaceSize: newSpace?.space_size ?? 0,
    external: memory.external,
    cpuMicros: cpu.user + cpu.system,
    cpuSystemMicros: cpu.system,
    collected: gc && collect !== undefined,
  };
}

/**
 * Wires the child side of the IPC: answers samples, exits on stop or when the
 * parent goes away (so a crashed bench never leaves children behind).
 */
export function serveParent(onStop: () => Promise<void> | void = () => undefined): void {
  if (!process.send) throw new Error('this script is meant to be started by bench/relay-bench.js with child_process.fork');
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'sample') void takeSample(message.gc).then((sample) => process.send?.(sample));
    else if (message.type === 'stop') void Promise.resolve(onStop()).finally(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
}
