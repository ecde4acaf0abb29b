/**
 * The IMAP login bench: per connection, an IMAP session that logs in and
 * leaves (greeting, LOGIN, SELECT INBOX, LOGOUT), through the imap adapter
 * with in-protocol login, beside the same straight to dovecot. Reports
 * logins/s and latency. Needs the Debian servers
 * (test/interop/servers/install.sh, run as root); without them it says so and
 * exits 0.
 */
import { withOldSpaceFloor } from '../bin/heap-tuning';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { scriptedSession } from './load-client';
import { join } from 'node:path';

/** Concurrent sessions, and how long each measurement runs (ms). */
export const IMAP_BENCH_WORKERS = 8;
export const IMAP_BENCH_DURATION_MS = 4_000;
/** Hard stop for the whole bench (ms). */
export const IMAP_BENCH_TIMEOUT_MS = 90_000;
const STATE_DIR = '/tmp/roamgate-imap-bench';
const SCRIPTS = join(__dirname, '..', '..', 'test', 'interop', 'servers');
/** Ports of the bench's own servers, away from the interop tests' defaults. */
const PORTS = {
  POP3_PORT_A: '23110',
  POP3_PORT_B: '23111',
  IMAP_PORT_A: '23143',
  IMAP_PORT_B: '23144',
  IMAPS_PORT_A: '23993',
  IMAPS_PORT_B: '23994',
  SMTP_PORT: '23025',
  NNTP_PORT: '23119',
  SQUID_PORT: '23128',
};

/** The commands of one session, each sent once the answer to the one before (or the greeting) is in. */
const SCRIPT = ['a1 LOGIN alice alice-pw\r\n', 'a2 SELECT INBOX\r\n', 'a3 LOGOUT\r\n'];

/** One IMAP session. Resolves with its duration (ms); rejects on anything but OK. */
function session(port: number): Promise<number> {
  let step = 0;
  return scriptedSession(
    port,
    10_000,
    (line, socket) => {
      // The greeting, then one tagged answer per command; untagged data in between.
      const answer = step === 0 ? /^\* OK/.test(line) : line.startsWith(`a${step} `);
      if (!answer) return;
      if (step > 0 && !line.startsWith(`a${step} OK`)) return void socket.destroy(new Error(`unexpected: ${line}`));
      if (step < SCRIPT.length) socket.write(SCRIPT[step]!);
      step++;
    },
    () => step > SCRIPT.length,
  );
}

async function measure(port: number): Promise<{ perSecond: number; p50: number; p99: number; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const until = performance.now() + IMAP_BENCH_DURATION_MS;
  const worker = async () => {
    while (performance.now() < until) {
      try {
        latencies.push(await session(port));
      } catch {
        failed++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IMAP_BENCH_WORKERS }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), failed };
}

function startGateway(dovecotPort: number, cacheSeconds: number): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'login-gateway.js'), [String(dovecotPort), String(cacheSeconds), 'imap'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // As the systemd unit runs the gateway (bin/heap-tuning.ts).
      execArgv: withOldSpaceFloor([]),
    });
    child.once('message', (message: { type: string; port: number }) => resolve({ child, port: message.port }));
    child.once('exit', (code) => reject(new Error(`login gateway exited (${code})`)));
  });
}

/** Starts the bench's own dovecots; null (and why) when they cannot run here. */
function startDovecot(): Record<string, string> | string {
  if (!existsSync('/usr/lib/dovecot/imap')) return 'dovecot-imapd is not installed (sudo bash test/interop/servers/install.sh)';
  try {
    execFileSync('bash', [join(SCRIPTS, 'start.sh'), STATE_DIR], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...PORTS },
    });
  } catch (error) {
    return `could not start dovecot (${String((error as { stderr?: Buffer }).stderr ?? error)
      .trim()
      .split('\n')
      .pop()})`;
  }
  return Object.fromEntries(
    readFileSync(join(STATE_DIR, 'servers.env'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

async function main(): Promise<void> {
  const hardStop = setTimeout(() => {
    console.error('imap login bench: timed out');
    process.exit(1);
  }, IMAP_BENCH_TIMEOUT_MS);
  hardStop.unref();
  const env = startDovecot();
  if (typeof env === 'string') return void console.log(`imap login bench: skipped, ${env}`);
  const children: ChildProcess[] = [];
  try {
    const dovecot = Number(env.IMAP_PORT_A);
    const direct = await measure(dovecot);
    const cached = await startGateway(dovecot, 300);
    children.push(cached.child);
    const viaCached = await measure(cached.port);
    const uncached = await startGateway(dovecot, 0);
    children.push(uncached.child);
    const viaUncached = await measure(uncached.port);
    const row = (name: string, r: Awaited<ReturnType<typeof measure>>) =>
      `${name.padEnd(44)}${r.perSecond.toFixed(0).padStart(10)}${(r.perSecond / direct.perSecond).toFixed(2).padStart(8)}x${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(9)}${String(r.failed).padStart(8)}`;
    console.log(
      `\nimap login bench: IMAP greeting + LOGIN + SELECT INBOX + LOGOUT per connection, ${IMAP_BENCH_WORKERS} concurrent sessions, ${IMAP_BENCH_DURATION_MS / 1000} s each`,
    );
    console.log(
      `${''.padEnd(44)}${'logins/s'.padStart(10)}${'ratio'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}`,
    );
    console.log(row('dovecot directly', direct));
    console.log(row('through the imap adapter (login cache on)', viaCached));
    console.log(row('through the imap adapter (cacheSeconds: 0)', viaUncached));
  } finally {
    for (const child of children) child.kill();
    execFileSync('bash', [join(SCRIPTS, 'stop.sh'), STATE_DIR], { stdio: 'ignore' });
  }
}

main().catch((error: unknown) => {
  console.error('imap login bench failed:', error);
  process.exit(1);
});
