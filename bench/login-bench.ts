/**
 * The login-heavy bench: per connection, a POP3 session that logs in and
 * leaves (greeting, USER, PASS, STAT, QUIT), through the pop3 adapter with
 * in-protocol login, beside the same straight to dovecot. Reports logins/s
 * and latency. Needs the Debian servers (test/interop/servers/install.sh,
 * run as root); without them it says so and exits 0.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** Concurrent sessions, and how long each measurement runs (ms). */
export const LOGIN_BENCH_WORKERS = 8;
export const LOGIN_BENCH_DURATION_MS = 4_000;
/** Hard stop for the whole bench (ms). */
export const LOGIN_BENCH_TIMEOUT_MS = 90_000;
const STATE_DIR = '/tmp/roamgate-login-bench';
const SCRIPTS = join(__dirname, '..', '..', 'test', 'interop', 'servers');

/** One POP3 session: greeting, USER, PASS, STAT, QUIT. Resolves with its duration (ms). */
function session(port: number): Promise<number> {
  const started = performance.now();
  const script = ['USER alice\r\n', 'PASS alice-pw\r\n', 'STAT\r\n', 'QUIT\r\n'];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let pending = '';
    let step = -1;
    socket.setTimeout(10_000, () => socket.destroy(new Error('session timed out')));
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let newline: number;
      while ((newline = pending.indexOf('\r\n')) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 2);
        if (!line.startsWith('+OK')) return socket.destroy(new Error(`unexpected: ${line}`));
        step++;
        if (step < script.length) socket.write(script[step]);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => (step >= script.length ? resolve(performance.now() - started) : reject(new Error('closed early'))));
  });
}

async function measure(port: number): Promise<{ perSecond: number; p50: number; p99: number; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const until = performance.now() + LOGIN_BENCH_DURATION_MS;
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
  await Promise.all(Array.from({ length: LOGIN_BENCH_WORKERS }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), failed };
}

function startGateway(dovecotPort: number, cacheSeconds: number): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'login-gateway.js'), [String(dovecotPort), String(cacheSeconds)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (message: { type: string; port: number }) => resolve({ child, port: message.port }));
    child.once('exit', (code) => reject(new Error(`login gateway exited (${code})`)));
  });
}

async function main(): Promise<void> {
  const hardStop = setTimeout(() => {
    console.error('login bench: timed out');
    process.exit(1);
  }, LOGIN_BENCH_TIMEOUT_MS);
  hardStop.unref();
  if (!existsSync('/usr/sbin/dovecot')) {
    console.log('login bench: skipped, dovecot is not installed (sudo bash test/interop/servers/install.sh)');
    return;
  }
  try {
    execFileSync('bash', [join(SCRIPTS, 'start.sh'), STATE_DIR], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        POP3_PORT_A: '22110',
        POP3_PORT_B: '22111',
        IMAP_PORT_A: '22143',
        IMAP_PORT_B: '22144',
        IMAPS_PORT_A: '22993',
        IMAPS_PORT_B: '22994',
        SMTP_PORT: '22025',
        NNTP_PORT: '22119',
        SQUID_PORT: '22128',
      },
    });
  } catch (error) {
    console.log(
      `login bench: skipped, could not start dovecot (${String((error as { stderr?: Buffer }).stderr ?? error)
        .trim()
        .split('\n')
        .pop()})`,
    );
    return;
  }
  const children: ChildProcess[] = [];
  try {
    const env = Object.fromEntries(
      readFileSync(join(STATE_DIR, 'servers.env'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const dovecot = Number(env.POP3_PORT_A);
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
      `\nlogin bench: POP3 greeting + USER/PASS + STAT + QUIT per connection, ${LOGIN_BENCH_WORKERS} concurrent sessions, ${LOGIN_BENCH_DURATION_MS / 1000} s each`,
    );
    console.log(
      `${''.padEnd(44)}${'logins/s'.padStart(10)}${'ratio'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}`,
    );
    console.log(row('dovecot directly', direct));
    console.log(row('through the pop3 adapter (login cache on)', viaCached));
    console.log(row('through the pop3 adapter (cacheSeconds: 0)', viaUncached));
  } finally {
    for (const child of children) child.kill();
    execFileSync('bash', [join(SCRIPTS, 'stop.sh'), STATE_DIR], { stdio: 'ignore' });
  }
}

main().catch((error: unknown) => {
  console.error('login bench failed:', error);
  process.exit(1);
});
