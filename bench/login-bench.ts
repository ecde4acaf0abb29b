/**
 * The login-heavy bench: per connection, a POP3 session that logs in and
 * leaves (greeting, USER, PASS, STAT, QUIT), against dovecot directly, through
 * nginx's mail proxy (with a Node `auth_http` server, nginx-auth-http) when
 * nginx and its mail module are installed, and through roamgate's pop3
 * adapter with in-protocol login; interleaved runs. Reports logins/s, latency
 * and each proxy's CPU per login, against the targets. Needs the Debian
 * servers (test/interop/servers/install.sh, run as root); without them it
 * says so and exits 0.
 */
import { withOldSpaceFloor } from '../bin/heap-tuning';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt } from './bench-output';
import { cpuPerLoginMs, LOGIN_RUN_MS, LOGIN_RUNS, LOGIN_WORKERS, type LoginPath, type LoginSummary, measureLogins } from './login-load';
import { type NginxReference, startNginxMail } from './nginx-reference';
import { ProcSampler } from './proc-sampler';
import { printTable } from './relay-report';

/** Hard stop for the whole bench (ms). */
export const LOGIN_BENCH_TIMEOUT_MS = 120_000;
/** Targets: roamgate's CPU per login against nginx mail + auth_http's, and its rate against dovecot direct. */
export const LOGIN_TARGETS = { cpuPerLoginVsNginx: 1.0, rateVsDirect: 0.95 } as const;
const STATE_DIR = '/tmp/roamgate-login-bench';
/** The row of Node's floor for a login (login-floor.ts): shown beside the targets, which are judged against nginx. */
const LOGIN_FLOOR_LABEL = 'Node floor (login-floor.ts)';
const SCRIPTS = join(__dirname, '..', '..', 'test', 'interop', 'servers');
/** Ports of the bench's own servers, away from the interop tests' defaults. */
const PORTS = {
  POP3_PORT_A: '22110',
  POP3_PORT_B: '22111',
  IMAP_PORT_A: '22143',
  IMAP_PORT_B: '22144',
  IMAPS_PORT_A: '22993',
  IMAPS_PORT_B: '22994',
  SMTP_PORT: '22025',
  NNTP_PORT: '22119',
  SQUID_PORT: '22128',
};

/** Forks `script` (next to this one) and resolves once it says `{ type: 'ready', port }`. */
function forkReady(script: string, args: string[], children: ChildProcess[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    // BENCH_CPU_PROF=DIR: the gateways write a CPU profile there, as in the relay bench.
    const profileDir = process.env.BENCH_CPU_PROF;
    const profile = profileDir && script === 'login-gateway.js' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    // The gateway runs as the systemd unit runs it (bin/heap-tuning.ts); the floor and auth_http as plain Node.
    const execArgv = script === 'login-gateway.js' ? withOldSpaceFloor(profile) : profile;
    const child = fork(join(__dirname, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    children.push(child);
    child.once('message', (message: { type: string; port: number }) => resolve({ child, port: message.port }));
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
}

/** Starts the interop servers; returns their servers.env, or why they could not start. */
function startServers(): Record<string, string> | { unavailable: string } {
  try {
    execFileSync('bash', [join(SCRIPTS, 'start.sh'), STATE_DIR], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...PORTS },
    });
  } catch (error) {
    const reason = String((error as { stderr?: Buffer }).stderr ?? error)
      .trim()
      .split('\n')
      .pop();
    return { unavailable: `could not start dovecot (${reason})` };
  }
  return Object.fromEntries(
    readFileSync(join(STATE_DIR, 'servers.env'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('=') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** The paths to dovecot: direct, nginx mail + auth_http (when it starts), Node's floor, roamgate with and without its login cache. */
async function startPaths(
  env: Record<string, string>,
  children: ChildProcess[],
): Promise<{ paths: LoginPath[]; nginx?: NginxReference; nginxUnavailable?: string }> {
  const dovecot = Number(env.POP3_PORT_A);
  const paths: LoginPath[] = [{ label: 'dovecot directly', port: dovecot, cpu: [] }];
  const auth = await forkReady('nginx-auth-http.js', [String(dovecot), env.POP3_USERS ?? ''], children);
  const nginx = await startNginxMail(auth.port);
  const authPid = auth.child.pid ?? -1;
  if ('unavailable' in nginx) auth.child.kill();
  else
    paths.push({
      label: 'nginx mail proxy + auth_http',
      port: nginx.port,
      cpu: [
        { name: 'nginx', source: nginx.cpu },
        { name: 'auth_http', source: new ProcSampler(() => [authPid]) },
      ],
    });
  const floor = await forkReady('login-floor.js', [String(dovecot), env.POP3_USERS ?? ''], children);
  const floorPid = floor.child.pid ?? -1;
  paths.push({ label: LOGIN_FLOOR_LABEL, port: floor.port, cpu: [{ name: 'Node floor', source: new ProcSampler(() => [floorPid]) }] });
  for (const [label, cacheSeconds] of [
    ['roamgate pop3 adapter', 300],
    ['roamgate, cacheSeconds: 0', 0],
  ] as const) {
    const gateway = await forkReady('login-gateway.js', [String(dovecot), String(cacheSeconds)], children);
    const pid = gateway.child.pid ?? -1;
    paths.push({ label, port: gateway.port, cpu: [{ name: 'roamgate', source: new ProcSampler(() => [pid]) }] });
  }
  return 'unavailable' in nginx ? { paths, nginxUnavailable: nginx.unavailable } : { paths, nginx };
}

function printLoginReport(results: LoginSummary[], nginxUnavailable?: string): void {
  const [direct] = results;
  console.log(
    `\nlogin bench: POP3 greeting + USER/PASS + STAT + QUIT per connection, ${LOGIN_WORKERS} concurrent sessions, ${LOGIN_RUNS} x ${LOGIN_RUN_MS / 1000} s per path, interleaved`,
  );
  printTable([
    ['', 'logins/s', 'x direct', 'p50 ms', 'p99 ms', 'failed', 'proxy CPU/login ms', 'proxy CPU %'],
    ...results.map((r) => [
      r.label,
      fmt(r.perSecond),
      `${fmt(r.perSecond / direct.perSecond, 2)}x`,
      fmt(r.p50, 2),
      fmt(r.p99, 2),
      String(r.failed),
      r.cpuMicros.length === 0 ? '-' : fmt(cpuPerLoginMs(r), 3),
      r.cpuMicros.length === 0 ? '-' : fmt((100 * r.cpuMicros.reduce((sum, part) => sum + part.micros, 0)) / 1000 / r.elapsedMs),
    ]),
  ]);
  if (nginxUnavailable) console.log(`nginx mail proxy: not measured (${nginxUnavailable})`);
  for (const r of results.filter((result) => result.cpuMicros.length > 1))
    console.log(
      `  ${r.label}: ${r.cpuMicros.map((part) => `${part.name} ${fmt(part.micros / 1000 / r.completed, 3)} ms`).join(' + ')} per login`,
    );
  const failed = results.find((r) => r.firstError);
  if (failed) console.log(`  first failure (${failed.label}): ${failed.firstError}`);
  printLoginTargets(results);
}

function printLoginTargets(results: LoginSummary[]): void {
  const [direct] = results;
  const nginx = results.find((r) => r.label.startsWith('nginx'));
  const floor = results.find((r) => r.label === LOGIN_FLOOR_LABEL);
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  console.log('\ntargets: roamgate (the default login cache on; cacheSeconds: 0 beside it, not judged)');
  for (const r of results.filter((result) => result.label.startsWith('roamgate'))) {
    const judged = r === results.find((result) => result.label.startsWith('roamgate'));
    const cpuLine = nginx
      ? `proxy CPU per login ${fmt(cpuPerLoginMs(r), 3)} ms vs nginx mail + auth_http ${fmt(cpuPerLoginMs(nginx), 3)} ms = ${fmt(cpuPerLoginMs(r) / cpuPerLoginMs(nginx), 3)}x (<= ${LOGIN_TARGETS.cpuPerLoginVsNginx.toFixed(2)}x${judged ? ` ${verdict(cpuPerLoginMs(r) <= LOGIN_TARGETS.cpuPerLoginVsNginx * cpuPerLoginMs(nginx))}` : ''})`
      : 'proxy CPU per login: not judged, nginx mail proxy not measured';
    const rate = r.perSecond / direct.perSecond;
    console.log(`  ${r.label}: ${cpuLine}`);
    if (floor)
      console.log(
        `  ${''.padEnd(r.label.length)}  (Node's floor: ${fmt(cpuPerLoginMs(floor), 3)} ms, ${fmt(cpuPerLoginMs(floor) / (nginx ? cpuPerLoginMs(nginx) : Number.NaN), 3)}x nginx's; roamgate ${fmt(cpuPerLoginMs(r) / cpuPerLoginMs(floor), 3)}x the floor's)`,
      );
    console.log(
      `  ${''.padEnd(r.label.length)}  logins/s ${fmt(rate, 3)}x dovecot direct (>= ${LOGIN_TARGETS.rateVsDirect}x${judged ? ` ${verdict(rate >= LOGIN_TARGETS.rateVsDirect)}` : ''})`,
    );
  }
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
  const env = startServers();
  if ('unavailable' in env) {
    console.log(`login bench: skipped, ${env.unavailable}`);
    return;
  }
  const children: ChildProcess[] = [];
  let nginx: NginxReference | undefined;
  try {
    const started = await startPaths(env, children);
    nginx = started.nginx;
    const results = await measureLogins(started.paths, env.POP3_USER_ALICE ?? 'alice', env.POP3_PASS_ALICE ?? 'alice-pw');
    printLoginReport(results, started.nginxUnavailable);
  } finally {
    for (const child of children) child.kill();
    await nginx?.stop();
    execFileSync('bash', [join(SCRIPTS, 'stop.sh'), STATE_DIR], { stdio: 'ignore' });
  }
}

main().catch((error: unknown) => {
  console.error('login bench failed:', error);
  process.exit(1);
});
