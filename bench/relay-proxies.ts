/**
 * The relay bench's proxies in front of the one upstream: Node's floor (a
 * 15-line relay), the floor with a gateway's duties (bench-floor-duties),
 * nginx's stream proxy (when installed) and the gateway, started for the load
 * phases, and each but the floor with duties again fresh for the idle phase.
 */
import { withOldSpaceFloor } from '../bin/heap-tuning';
import { startChild } from './bench-children';
import { DUTIES_LABEL } from './floor-report';
import type { IdleSubject } from './idle-memory-phase';
import { startNginxReference } from './nginx-reference';
import { procRss } from './proc-sampler';
import type { Via } from './relay-load-phases';

/** A proxy under load: what the phases need, and how to stop it. */
export interface RunningProxy extends Via {
  stop(): Promise<void>;
}

type Crash = (error: Error) => void;

/** The floor, the floor with duties, nginx (or why not) and the gateway, each listening and relaying to the upstream. */
export async function startProxies(
  upstreamPort: number,
  gatewayExecArgv: string[],
  crash: Crash,
): Promise<{ proxies: RunningProxy[]; nginxUnavailable?: string }> {
  const args = [String(upstreamPort)];
  const floor = await startChild('floor', 'bench-floor.js', args, [], crash);
  const duties = await startChild(DUTIES_LABEL, 'bench-floor-duties.js', args, [], crash);
  const proxies: RunningProxy[] = [
    { label: 'floor', port: floor.port, cpu: floor, stop: () => floor.stop() },
    { label: DUTIES_LABEL, port: duties.port, cpu: duties, stop: () => duties.stop() },
  ];
  const nginx = await startNginxReference(upstreamPort);
  if (!('unavailable' in nginx)) proxies.push({ label: 'nginx', port: nginx.port, cpu: nginx.cpu, stop: () => nginx.stop() });
  const gateway = await startChild('gateway', 'bench-gateway.js', args, gatewayExecArgv, crash);
  proxies.push({ label: 'gateway', port: gateway.port, cpu: gateway, stop: () => gateway.stop() });
  return { proxies, nginxUnavailable: 'unavailable' in nginx ? nginx.unavailable : undefined };
}

/** A fresh Node proxy (floor or gateway) with --expose-gc, sampled over IPC after a forced GC. */
function nodeSubject(label: string, script: string, upstreamPort: number, crash: Crash): () => Promise<IdleSubject> {
  return async () => {
    const execArgv = label === 'gateway' ? withOldSpaceFloor(['--expose-gc']) : ['--expose-gc'];
    const child = await startChild(`idle-phase ${label}`, script, [String(upstreamPort)], execArgv, crash);
    return {
      port: child.port,
      sample: async () => {
        const sample = await child.sample(true);
        return { rss: sample.rss, heapUsed: sample.heapUsed, collected: sample.collected };
      },
      stop: () => child.stop(),
    };
  };
}

/** A fresh nginx; its memory is its worker's RSS (the master holds no connection). */
function nginxSubject(upstreamPort: number): () => Promise<IdleSubject> {
  return async () => {
    const nginx = await startNginxReference(upstreamPort);
    if ('unavailable' in nginx) throw new Error(`idle-phase nginx: ${nginx.unavailable}`);
    const worker = nginx.workerPid();
    if (worker === undefined) {
      await nginx.stop();
      throw new Error('idle-phase nginx: no worker process found');
    }
    return {
      port: nginx.port,
      sample: () => {
        const rss = procRss(worker);
        return rss === undefined ? Promise.reject(new Error('nginx worker exited')) : Promise.resolve({ rss });
      },
      stop: () => nginx.stop(),
    };
  };
}

/** The idle phase's subjects, in order: floor, nginx (when it ran in the load phases), gateway. */
export function idleSubjects(
  upstreamPort: number,
  withNginx: boolean,
  crash: Crash,
): Array<{ label: string; start: () => Promise<IdleSubject> }> {
  return [
    { label: 'floor', start: nodeSubject('floor', 'bench-floor.js', upstreamPort, crash) },
    ...(withNginx ? [{ label: 'nginx', start: nginxSubject(upstreamPort) }] : []),
    { label: 'gateway', start: nodeSubject('gateway', 'bench-gateway.js', upstreamPort, crash) },
  ];
}
