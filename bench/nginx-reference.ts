/**
 * Optional yardsticks written in C, on the same machine with the same load:
 * nginx's stream proxy for the relay bench, nginx's mail proxy (POP3, with an
 * `auth_http` server) for the login bench. One worker process each, as the
 * gateway is one process. Used only when nginx and the module are installed
 * (Debian: `nginx-light libnginx-mod-stream libnginx-mod-mail`); nothing else
 * needs them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids, ProcSampler } from './proc-sampler';

/** Where Debian puts the binary and the dynamic stream module. */
const NGINX_BINARIES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
const STREAM_MODULES = ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/local/nginx/modules/ngx_stream_module.so'];
const MAIL_MODULES = ['/usr/lib/nginx/modules/ngx_mail_module.so', '/usr/local/nginx/modules/ngx_mail_module.so'];
/** nginx that is not accepting on its port by then has failed (ms). */
const START_TIMEOUT_MS = 5_000;
/** nginx asked to stop that has not exited by then is killed (ms). */
const STOP_TIMEOUT_MS = 3_000;

export interface NginxReference {
  port: number;
  /** The master's pid. */
  pid: number;
  /** CPU time of the master and its worker, from /proc. */
  cpu: ProcSampler;
  /** The worker's pid (the one process that holds the connections), once it exists. */
  workerPid(): number | undefined;
  stop(): Promise<void>;
}

export type NginxStart = NginxReference | { unavailable: string };

const firstExisting = (paths: string[]): string | undefined =>
  paths.find((path) => {
    try {
      accessSync(path, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  });

/** A port free just now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** nginx's stream proxy on 127.0.0.1:<free port> in front of the upstream, or why it cannot run. */
export function startNginxReference(upstreamPort: number): Promise<NginxStart> {
  return startNginx(
    STREAM_MODULES,
    'nginx has no stream module (Debian: libnginx-mod-stream)',
    (port) => `stream { server { listen 127.0.0.1:${port} backlog=4096; proxy_pass 127.0.0.1:${upstreamPort}; } }`,
  );
}

/**
 * nginx's mail proxy for POP3 on 127.0.0.1:<free port>: USER/PASS from the
 * client, checked by the `auth_http` server at 127.0.0.1:<authPort>/auth,
 * which names the backend; or why it cannot run.
 */
export function startNginxMail(authPort: number): Promise<NginxStart> {
  return startNginx(
    MAIL_MODULES,
    'nginx has no mail module (Debian: libnginx-mod-mail)',
    (port) =>
      `mail { server_name bench.test; auth_http 127.0.0.1:${authPort}/auth; server { listen 127.0.0.1:${port} backlog=4096; protocol pop3; proxy on; pop3_auth plain; } }`,
  );
}

/** Every pid of an nginx: the master and whatever it forked. */
const allPids = (master: number) => [master, ...childPids(master)];

/**
 * Starts nginx with one `block` (stream or mail) listening on a free port, or
 * says why it cannot (not installed, no module, did not start). The master
 * and its worker are killed if this process exits first.
 */
async function startNginx(modules: string[], noModule: string, block: (port: number) => string): Promise<NginxStart> {
  const binary = firstExisting(NGINX_BINARIES);
  if (!binary) return { unavailable: 'nginx is not installed' };
  const modulePath = firstExisting(modules);
  if (!modulePath) return { unavailable: noModule };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      `load_module ${modulePath};`,
      'worker_processes 1;',
      'master_process on;',
      'daemon off;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} error;`,
      'events { worker_connections 20000; }',
      block(port),
      '',
    ].join('\n'),
  );
  const nginx: ChildProcess = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const master = nginx.pid ?? -1;
  let stderr = '';
  nginx.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()));
  nginx.once('error', (error) => (stderr += error.message));
  // SIGKILL on the master alone would leave its worker running: kill both.
  const killAll = () => {
    for (const pid of allPids(master)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killAll);
  const cleanup = () => {
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (nginx.exitCode !== null || Date.now() > deadline) {
      killAll();
      await exited;
      cleanup();
      return { unavailable: `nginx did not start: ${stderr.trim().split('\n').pop() || `not accepting on port ${port}`}` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    pid: master,
    cpu: ProcSampler.withChildren(master),
    workerPid: () => childPids(master)[0],
    stop: async () => {
      if (nginx.exitCode === null && nginx.signalCode === null) {
        // SIGTERM: fast shutdown, the master waits for its worker.
        nginx.kill('SIGTERM');
        const timer = setTimeout(killAll, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    },
  };
}
