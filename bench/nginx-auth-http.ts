/**
 * The login bench's `auth_http` server for nginx's mail proxy: a small Node
 * http server that checks the user and password nginx passes (Auth-User,
 * Auth-Pass, URL-escaped) against the interop dovecot's users and names
 * dovecot as the backend. Forked by login-bench; argv: dovecot's POP3 port,
 * then the users as `user:password,user:password` (servers.env POP3_USERS).
 * Tells the parent its port over IPC, then serves until killed.
 *
 *   right password -> Auth-Status: OK, Auth-Server: 127.0.0.1, Auth-Port: <dovecot>
 *   otherwise      -> Auth-Status: Invalid login or password (nginx tells the client and closes)
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

const backendPort = Number(process.argv[2]);
const users = new Map(
  (process.argv[3] ?? '')
    .split(',')
    .filter((entry) => entry.includes(':'))
    .map((entry) => [entry.slice(0, entry.indexOf(':')), entry.slice(entry.indexOf(':') + 1)] as const),
);

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  if (typeof value !== 'string') return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

const server = createServer((request, response) => {
  const user = header(request, 'auth-user');
  const password = header(request, 'auth-pass');
  const ok = request.url === '/auth' && user !== undefined && password !== undefined && users.get(user) === password;
  response.writeHead(
    200,
    ok
      ? { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(backendPort) }
      : { 'Auth-Status': 'Invalid login or password' },
  );
  response.end();
});

if (!Number.isInteger(backendPort) || backendPort < 1 || backendPort > 65535) {
  console.error(`nginx-auth-http: bad backend port ${process.argv[2]}`);
  process.exit(1);
}
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
