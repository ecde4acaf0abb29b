import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, waitForOutput } from './cli';

/** One `roamgate serve` process of a fleet. */
export interface FleetMember {
  name: string;
  cli: ReturnType<typeof runCli>;
  /** The management API's base URL (with the mount). */
  api: string;
  /** Adapter ports by service. */
  ports: Record<string, number>;
}

/** The store a fleet shares: a SQLite file, or a PostgreSQL URL. */
export type FleetStore = { path: string } | { url: string };

/**
 * Starts `names.length` gateway processes (the real CLI) on one store, each
 * from `dir/<name>.yaml` = `yaml` + its store line (and `args`, such as
 * `--workers 2`, on each command line); every process is killed
 * by `stop()`, also after a failed expectation.
 */
export async function startFleet(dir: string, names: string[], store: FleetStore, yaml: string[], services: string[], args: string[] = []) {
  const members: FleetMember[] = [];
  const storeLine = 'path' in store ? `store: { path: ${JSON.stringify(store.path)} }` : `store: { url: ${JSON.stringify(store.url)} }`;
  const stop = async () => {
    await Promise.all(
      members.map(async (member) => {
        if (member.cli.child.exitCode === null && member.cli.child.signalCode === null) member.cli.child.kill('SIGTERM');
        const timer = setTimeout(() => member.cli.child.kill('SIGKILL'), 5000);
        await member.cli.exited;
        clearTimeout(timer);
      }),
    );
  };
  try {
    for (const name of names) {
      const config = join(dir, `${name}.yaml`);
      writeFileSync(config, [...yaml, storeLine, ''].join('\n'));
      const cli = runCli(['serve', '--config', config, ...args]);
      members.push({ name, cli, api: '', ports: {} });
      const member = members[members.length - 1]!;
      member.api = (await waitForOutput(cli.output, /management API on (http:\/\/127\.0\.0\.1:\d+\/roamgate)/, 20_000))[1]!;
      for (const service of services) {
        const pattern = new RegExp(`${service} adapter on 127\\.0\\.0\\.1:(\\d+)`);
        member.ports[service] = Number((await waitForOutput(cli.output, pattern, 20_000))[1]);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { members, stop };
}

/** Calls the management API with JSON; returns the status and the parsed body. */
export async function callApi(url: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const res = await fetch(url, {
    method: init.method ?? (init.body ? 'POST' : 'GET'),
    headers: {
      ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
      ...(init.body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> };
}
