/**
 * `serve --workers 1` against `serve --workers 2`: short-connection rate and
 * the gateway's CPU per connection (the primary and every worker together,
 * from /proc), in interleaved rounds of one run. Both run the real CLI on a
 * SQLite file (the store every worker shares), SMTP with anonymous allowed,
 * logs at warn, in front of the bench upstream. On a machine with two cores the
 * load generator and the upstream share them with the gateway, so two
 * workers can never double the rate here: the figure to read is the rate and
 * the CPU each connection costs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killChildren, startChild } from './bench-children';
import { median } from './cpu-accounting';
import { runShortConnections } from './load-client';

const ROUNDS = 3;
const ROUND_MS = 4000;
const CONCURRENCY = 50;
const TICKS_PER_SECOND = 100;

/** CPU time (µs) of a process and its children still running (primary + workers). */
function treeCpuMicros(pid: number): number {
  const pids = [pid, ...childPids(pid)];
  let ticks = 0;
  for (const each of pids) {
    try {
      const fields = readFileSync(`/proc/${each}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return (ticks * 1_000_000) / TICKS_PER_SECOND;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Starts `roamgate serve --workers N` on its own config; resolves with the SMTP adapter's port once every worker serves. */
async function startGateway(workers: number, upstreamPort: number): Promise<{ child: ChildProcess; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), `roamgate-workers-bench-${workers}-`));
  const config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    [
      'http: { host: 127.0.0.1, port: 0 }',
      'log: { level: warn }',
      'health: { enabled: false }',
      'store: { path: state.db }',
      'shutdownGraceMs: 0',
      'access: [{ subject: anonymous, service: smtp, allow: true }]',
      'adapters: { smtp: { port: 0, maxClients: 20000 } }',
      `servers: { smtp: [{ host: 127.0.0.1, port: ${upstreamPort} }] }`,
      '',
    ].join('\n'),
  );
  const bin = join(__dirname, '..', 'bin', 'roamgate.js');
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, '--workers', String(workers)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let said = '';
  child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const started = Date.now();
  for (;;) {
    const ports = [...said.matchAll(/smtp adapter on 127\.0\.0\.1:(\d+)/g)].map((match) => Number(match[1]));
    if (ports.length >= workers) return { child, port: ports[0]! };
    if (child.exitCode !== null || Date.now() - started > 20_000) throw new Error(`workers ${workers} did not start: ${said}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main(): Promise<void> {
  const crash = (error: Error) => {
    console.error(error.message);
    killChildren();
    process.exit(1);
  };
  const upstream = await startChild('upstream', 'bench-upstream.js', [], [], crash);
  const gateways = { 1: await startGateway(1, upstream.port), 2: await startGateway(2, upstream.port) };
  const rows: Record<1 | 2, { rate: number[]; cpu: number[]; p99: number[] }> = {
    1: { rate: [], cpu: [], p99: [] },
    2: { rate: [], cpu: [], p99: [] },
  };
  try {
    // Warm both up, then interleave.
    for (const workers of [1, 2] as const) await runShortConnections(gateways[workers].port, CONCURRENCY, 1000);
    for (let round = 0; round < ROUNDS; round++) {
      for (const workers of [1, 2] as const) {
        const { child, port } = gateways[workers];
        const before = treeCpuMicros(child.pid!);
        const result = await runShortConnections(port, CONCURRENCY, ROUND_MS);
        const cpu = treeCpuMicros(child.pid!) - before;
        if (result.failed > 0) throw new Error(`workers ${workers}: ${result.failed} connections failed (${result.firstError})`);
        rows[workers].rate.push(result.completed / (result.elapsedMs / 1000));
        rows[workers].cpu.push(cpu / result.completed);
        rows[workers].p99.push(result.latenciesMs[Math.floor(result.latenciesMs.length * 0.99)] ?? 0);
      }
    }
  } finally {
    for (const { child } of Object.values(gateways)) child.kill('SIGTERM');
    await upstream.stop();
  }
  const line = (workers: 1 | 2) => {
    const row = rows[workers];
    const spread = (values: number[]) => `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;
    return `--workers ${workers}: ${median(row.rate).toFixed(0)} conn/s (rounds ${spread(row.rate)}), gateway CPU ${median(row.cpu).toFixed(0)} µs per connection (rounds ${spread(row.cpu)}), p99 ${median(row.p99).toFixed(1)} ms`;
  };
  console.log(
    `\nWorkers (${ROUNDS} interleaved rounds of ${ROUND_MS / 1000} s, ${CONCURRENCY} at a time, SMTP short connections, SQLite store)`,
  );
  console.log(line(1));
  console.log(line(2));
  console.log(
    `--workers 2 / --workers 1: ${(median(rows[2].rate) / median(rows[1].rate)).toFixed(2)}x the rate, ${(median(rows[2].cpu) / median(rows[1].cpu)).toFixed(2)}x the CPU per connection`,
  );
}

main().catch((error: unknown) => {
  console.error('workers-bench failed:', error);
  killChildren();
  process.exit(1);
});
