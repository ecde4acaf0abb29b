/**
 * The bench's child processes (upstream, gateway): forked from the compiled
 * scripts next to this one, ready once they report their port, sampled and
 * stopped over IPC, and killed whenever the bench itself ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ChildMessage, ParentMessage, SampleMessage } from './bench-messages';

/** A child that has not said it is ready by then has failed (ms). */
export const CHILD_START_TIMEOUT_MS = 10_000;
/** A child asked to stop that has not exited by then is killed (ms). */
export const CHILD_STOP_TIMEOUT_MS = 5_000;

/** Children that may still be running; killChildren() ends them all. */
const running = new Set<ChildProcess>();

/** A forked child that said it is listening, with a sample/stop protocol over IPC. */
export class Child {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    readonly port: number,
  ) {}

  /** Memory and CPU time of the child, after a full GC when `gc`. One request at a time. */
  sample(gc: boolean): Promise<SampleMessage> {
    const next = this.queue.then(
      () =>
        new Promise<SampleMessage>((resolve, reject) => {
          const onMessage = (message: ChildMessage) => {
            if (message.type !== 'sample') return;
            cleanup();
            resolve(message);
          };
          const onExit = () => {
            cleanup();
            reject(new Error(`${this.name} exited while being sampled`));
          };
          const cleanup = () => {
            this.process.removeListener('message', onMessage);
            this.process.removeListener('exit', onExit);
          };
          this.process.on('message', onMessage);
          this.process.once('exit', onExit);
          this.send({ type: 'sample', gc });
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Asks the child to exit and waits for it (so a CPU profile gets written); kills it if it dawdles. */
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    // Out of the set first: its exit is expected from now on.
    running.delete(this.process);
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.process.kill('SIGKILL'), CHILD_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private send(message: ParentMessage): void {
    this.process.send(message);
  }
}

/**
 * Forks `script` (a file next to this one) and resolves once it reports its
 * port. A child that dies later, without being stopped, calls `onUnexpectedExit`.
 */
export function startChild(
  name: string,
  script: string,
  args: string[],
  execArgv: string[],
  onUnexpectedExit: (error: Error) => void,
): Promise<Child> {
  const child = fork(join(__dirname, script), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  running.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${CHILD_START_TIMEOUT_MS} ms`)), CHILD_START_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      child.removeListener('message', onMessage);
      child.removeListener('exit', onExit);
      child.removeListener('error', fail);
    };
    const fail = (error: Error) => {
      cleanup();
      running.delete(child);
      child.kill('SIGKILL');
      reject(error);
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`${name} exited during start (code ${code}, signal ${signal})`));
    const onMessage = (message: ChildMessage) => {
      if (message.type !== 'ready') return;
      cleanup();
      child.on('exit', (code, signal) => {
        if (running.delete(child)) onUnexpectedExit(new Error(`${name} exited unexpectedly (code ${code}, signal ${signal})`));
      });
      resolve(new Child(name, child, message.port));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', fail);
  });
}

/** Kills every child still running, at once (SIGKILL: no profile, no cleanup). */
export function killChildren(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
