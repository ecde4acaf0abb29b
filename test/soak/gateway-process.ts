/**
 * The parent's handle on the gateway under soak (soak-gateway.ts): compiles it (child-build.ts), forks it
 * with --expose-gc, waits for its ports, samples it over IPC, and stops it (or kills it, when it dawdles).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { compileForChild, PROJECT_ROOT } from './child-build';
import type { ChildMessage, GatewayReady, GatewaySample, ParentMessage, SoakSetup } from './soak-messages';

/** A gateway that has not reported its ports by then has failed (ms). */
export const GATEWAY_START_TIMEOUT_MS = 30_000;
/** A gateway asked to stop that has not exited by then is killed (ms). */
export const GATEWAY_STOP_TIMEOUT_MS = 5_000;

export class GatewayProcess {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly child: ChildProcess,
    readonly ports: GatewayReady['ports'],
  ) {}

  /** Forks the gateway with `setup` and resolves once it listens. */
  static start(setup: SoakSetup): Promise<GatewayProcess> {
    const child = fork(compileForChild('test/soak/soak-gateway.ts'), [JSON.stringify(setup)], {
      execArgv: ['--expose-gc'],
      env: { ...process.env, NODE_PATH: join(PROJECT_ROOT, 'node_modules') },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`the gateway did not start within ${GATEWAY_START_TIMEOUT_MS} ms`)),
        GATEWAY_START_TIMEOUT_MS,
      );
      const cleanup = () => {
        clearTimeout(timer);
        child.removeListener('message', onMessage);
        child.removeListener('exit', onExit);
      };
      const fail = (error: Error) => {
        cleanup();
        child.kill('SIGKILL');
        reject(error);
      };
      const onExit = (code: number | null, signal: string | null) =>
        fail(new Error(`the gateway exited during start (code ${code}, signal ${signal})`));
      const onMessage = (message: ChildMessage) => {
        if (message.type !== 'ready') return;
        cleanup();
        resolve(new GatewayProcess(child, message.ports));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The gateway's RSS, heap and open descriptors, after a full GC when `gc`. One request at a time. */
  sample(gc: boolean): Promise<GatewaySample> {
    const next = this.queue.then(
      () =>
        new Promise<GatewaySample>((resolve, reject) => {
          const onMessage = (message: ChildMessage) => {
            if (message.type !== 'sample') return;
            cleanup();
            resolve(message);
          };
          const onExit = () => {
            cleanup();
            reject(new Error('the gateway exited while being sampled'));
          };
          const cleanup = () => {
            this.child.removeListener('message', onMessage);
            this.child.removeListener('exit', onExit);
          };
          this.child.on('message', onMessage);
          this.child.once('exit', onExit);
          this.send({ type: 'sample', gc });
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Asks the gateway to close and exit, and waits for it; kills it if it dawdles. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), GATEWAY_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private send(message: ParentMessage): void {
    this.child.send(message);
  }
}
