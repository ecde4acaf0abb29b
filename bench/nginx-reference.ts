/**
 * An optional yardstick for the relay bench: nginx's stream proxy (one worker
 * process, as the gateway is one process) in front of the same upstream, so
 * that the bench can show what a proxy written in C gets on the same machine
 * with the same load. It is used only when nginx and its stream module are
 * installed (Debian: `nginx-core libnginx-mod-stream`); nothing else needs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian puts the binary and the dynamic stream module. */
const NGINX_BINARIES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
const STREAM_MODULES = ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/local/nginx/modules/ngx_stream_module.so'];
/** nginx that is not accepting on its port by then has failed (ms). */
const START_TIMEOUT_MS = 5_000;
/** nginx asked to stop that has not exited by then is killed (ms). */
const STOP_TIMEOUT_MS = 3_000;

export interface NginxReference {
  port: number;
  stop(): Promise<void>;
}

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

/**
 * Starts nginx proxying 127.0.0.1:<free port> to the upstream, or says why it
 * cannot (not installed, no stream module, did not start). The process is
 * killed if this one exits first.
 */
export async function startNginxReference(upstreamPort: number): Promise<NginxReference | { unavailable: string }> {
  const binary = firstExisting(NGINX_BINARIES);
  if (!binary) return { unavailable: 'nginx is not installed' };
  const streamModule = firstExisting(STREAM_MODULES);
  if (!streamModule) return { unavailable: 'nginx has no stream module (Debian: libnginx-mod-stream)' };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      `load_module ${streamModule};`,
      'worker_processes 1;',
      'daemon off;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} error;`,
      'events { worker_connections 20000; }',
      `stream { server { listen 127.0.0.1:${port} backlog=4096; proxy_pass 127.0.0.1:${upstreamPort}; } }`,
      '',
    ].join('\n'),
  );
  const nginx: ChildProcess = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()));
  nginx.once('error', (error) => (stderr += error.message));
  const killOnExit = () => nginx.kill('SIGKILL');
  process.once('exit', killOnExit);
  const cleanup = () => {
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (nginx.exitCode !== null || Date.now() > deadline) {
      nginx.kill('SIGKILL');
      await exited;
      cleanup();
      return { unavailable: `nginx did not start: ${stderr.trim().split('\n').pop() || `not accepting on port ${port}`}` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    stop: async () => {
      if (nginx.exitCode === null && nginx.signalCode === null) {
        nginx.kill('SIGTERM');
        const timer = setTimeout(() => nginx.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    },
  };
}
