import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { BIN } from './cli';
import { until } from './until';

/**
 * "Another network" for tests: a network namespace reached over a veth pair,
 * as a laptop finds a network after moving. Names carry this process's id so
 * that a later run can remove what a killed run left (removeStaleNamespaces).
 * Needs root and `ip netns`; whyNoNetns() says why not, so a test can skip.
 */

/** Every test namespace is named `rgtest-<pid>-<hex>`. */
export const NETNS_PREFIX = 'rgtest';

/** Runs `ip` with these arguments; throws with its stderr when it fails. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Why this machine cannot run namespace tests, or null when it can. */
export function whyNoNetns(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (making a network namespace and a veth pair needs it; CI runs as root)';
  const probe = `${NETNS_PREFIX}-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim();
    try {
      ip('netns', 'del', probe);
    } catch {
      // never made
    }
    return `ip netns is unavailable here (ip netns add: ${stderr})`;
  }
  ip('netns', 'del', probe);
  return null;
}

/** Namespaces left behind by earlier runs that were killed before their cleanup. */
export function removeStaleNamespaces(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const match = new RegExp(`^(${NETNS_PREFIX}-(\\d+)-[0-9a-f]+)\\b`).exec(line);
    if (!match) continue;
    try {
      process.kill(Number(match[2]), 0);
    } catch {
      try {
        ip('netns', 'del', match[1]);
      } catch {
        // removed meanwhile
      }
    }
  }
}

/** A /24 under 10.213.0.0/16 that no interface or route here uses yet, and not one of `taken`. */
export function freeSubnet(taken: readonly string[] = []): string {
  const used = ip('-4', '-o', 'addr') + ip('-4', 'route');
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = `10.213.${1 + Math.floor(Math.random() * 254)}`;
    if (!used.includes(`${subnet}.`) && !taken.includes(subnet)) return subnet;
  }
  throw new Error('no free 10.213.x.0/24 subnet');
}

/** A network namespace joined to this one by a veth pair, with a /24 on it: `.1` on this side, `.2` inside. */
export interface TestNetwork {
  namespace: string;
  /** The veth end on this machine's side, and the one inside. */
  hostEnd: string;
  namespaceEnd: string;
  subnet: string;
  hostAddress: string;
  namespaceAddress: string;
  broadcast: string;
  /** Removes the namespace (and with it the pair); safe to call twice. */
  remove(): void;
}

const made: string[] = [];

/** Makes a network; `hostUp: false` leaves this side's end down (the laptop has not joined it yet). */
export function makeNetwork(options: { hostUp?: boolean } = {}): TestNetwork {
  const suffix = randomBytes(3).toString('hex');
  const namespace = `${NETNS_PREFIX}-${process.pid}-${suffix}`;
  const hostEnd = `rgh${suffix}`;
  const namespaceEnd = `rgn${suffix}`;
  const subnet = freeSubnet(made);
  made.push(subnet);
  const network: TestNetwork = {
    namespace,
    hostEnd,
    namespaceEnd,
    subnet,
    hostAddress: `${subnet}.1`,
    namespaceAddress: `${subnet}.2`,
    broadcast: `${subnet}.255`,
    remove() {
      try {
        ip('netns', 'del', namespace);
      } catch {
        // not made, or removed already
      }
      try {
        ip('link', 'del', hostEnd);
      } catch {
        // gone with the namespace
      }
    },
  };
  try {
    ip('netns', 'add', namespace);
    ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', namespaceEnd, 'netns', namespace);
    ip('addr', 'add', `${network.hostAddress}/24`, 'dev', hostEnd);
    if (options.hostUp !== false) ip('link', 'set', hostEnd, 'up');
    ip('-n', namespace, 'addr', 'add', `${network.namespaceAddress}/24`, 'dev', namespaceEnd);
    ip('-n', namespace, 'link', 'set', namespaceEnd, 'up');
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
  } catch (error) {
    network.remove();
    throw error;
  }
  return network;
}

/**
 * Silently drops everything the namespace sends to this machine (a blackhole
 * route inside it): no reset, no ICMP, nothing. Returns the undo.
 */
export function dropRepliesFrom(network: TestNetwork): () => void {
  ip('-n', network.namespace, 'route', 'add', 'blackhole', `${network.hostAddress}/32`);
  return () => ip('-n', network.namespace, 'route', 'del', 'blackhole', `${network.hostAddress}/32`);
}

/** A `roamgate serve` inside the namespace (the built CLI); resolves once its management API is up. */
export async function serveInNamespace(
  namespace: string,
  configFile: string,
): Promise<{ child: ChildProcess; output: () => string; stop(): Promise<void> }> {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, BIN, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  const started = () => /roamgate: management API on /.test(output);
  await until(() => started() || child.exitCode !== null, 'roamgate serve to start', 15_000, 25).catch(() => undefined);
  if (!started()) {
    await stop();
    throw new Error(`roamgate serve in ${namespace} did not start:\n${output}`);
  }
  return { child, output: () => output, stop };
}
