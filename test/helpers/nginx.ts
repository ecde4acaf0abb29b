/**
 * Debian's nginx (`nginx-light`) as a real web upstream for the interop tests: one process tree of its own, its
 * config, logs, pid and temporary files in a fresh directory, listening on 127.0.0.1:<free port>. It serves a page
 * at `/` that opens a WebSocket to `ws` next to itself and prints every message that comes back, and proxies `/ws`
 * (with its Upgrade and Connection headers) to a WebSocket server on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refusedPort } from './net';
import { until } from './until';

/** Where Debian installs it (`apt-get install -y nginx-light`). */
export const NGINX_BINARY = '/usr/sbin/nginx';
/** What the page sends on its WebSocket once it is open. */
export const NGINX_PAGE_GREETING = 'hello from the nginx page';
/** The page's title: a reply with it came from nginx's page. */
export const NGINX_PAGE_TITLE = 'roamgate interop page';
/** nginx that is not accepting by then has failed (ms). */
const START_TIMEOUT_MS = 10_000;

export interface Nginx {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Stops nginx and removes its directory. */
  close(): Promise<void>;
}

/** The page: it opens `ws` relative to its own URL (so it works wherever a proxy mounts it) and lists what it hears. */
const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>${NGINX_PAGE_TITLE}</title></head>
<body>
<h1>${NGINX_PAGE_TITLE}</h1>
<p id="state">connecting</p>
<ul id="messages"></ul>
<script>
  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url);
  const state = document.getElementById('state');
  socket.onopen = () => { state.textContent = 'open'; socket.send(${JSON.stringify(NGINX_PAGE_GREETING)}); };
  socket.onerror = () => { state.textContent = 'error'; };
  socket.onclose = () => { if (state.textContent === 'open') state.textContent = 'closed'; };
  socket.onmessage = (event) => {
    const item = document.createElement('li');
    item.textContent = String(event.data);
    document.getElementById('messages').appendChild(item);
  };
</script>
</body>
</html>
`;

function config(dir: string, port: number, wsPort: number): string {
  const temp = (name: string) => join(dir, 'temp', name);
  return [
    // As root the worker would switch to nobody, who cannot read this 0700 directory.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${join(dir, 'access.log')};`,
    `  client_body_temp_path ${temp('client-body')};`,
    `  proxy_temp_path ${temp('proxy')};`,
    `  fastcgi_temp_path ${temp('fastcgi')};`,
    `  uwsgi_temp_path ${temp('uwsgi')};`,
    `  scgi_temp_path ${temp('scgi')};`,
    '  types { text/html html; }',
    '  default_type application/octet-stream;',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    `    root ${join(dir, 'html')};`,
    '    location / { index index.html; }',
    '    location = /ws {',
    `      proxy_pass http://127.0.0.1:${wsPort};`,
    '      proxy_http_version 1.1;',
    '      proxy_set_header Upgrade $http_upgrade;',
    '      proxy_set_header Connection "upgrade";',
    '      proxy_read_timeout 60s;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Starts nginx serving the page and proxying `/ws` to 127.0.0.1:`wsPort`; throws (with its error log) when it does not come up. */
export async function startNginx(options: { wsPort: number }): Promise<Nginx> {
  if (!existsSync(NGINX_BINARY)) throw new Error(`${NGINX_BINARY} is missing: apt-get install -y nginx-light`);
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-nginx-'));
  mkdirSync(join(dir, 'html'));
  mkdirSync(join(dir, 'temp'));
  writeFileSync(join(dir, 'html', 'index.html'), PAGE);
  // A port free just now (nothing listens there until nginx does).
  const port = await refusedPort();
  writeFileSync(join(dir, 'nginx.conf'), config(dir, port, options.wsPort));
  const nginx: ChildProcess = spawn(NGINX_BINARY, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  nginx.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  nginx.once('error', (error) => (stderr += error.message));
  const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()));
  const killOnExit = () => nginx.kill('SIGKILL');
  process.once('exit', killOnExit);
  const close = async () => {
    if (nginx.exitCode === null && nginx.signalCode === null) {
      // SIGQUIT would wait for open connections (a WebSocket) to end; SIGTERM is nginx's fast shutdown.
      nginx.kill('SIGTERM');
      await exited;
    }
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      async () => {
        if (nginx.exitCode !== null) throw new Error(`nginx exited: ${stderr.trim()}`);
        return (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.ok === true;
      },
      () => `nginx answering on port ${port} (stderr: ${stderr.trim() || 'empty'})`,
      START_TIMEOUT_MS,
      50,
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { port, url: `http://127.0.0.1:${port}`, close };
}
