/**
 * Node's floor for a login: the least a POP3 login proxy in Node does, the
 * login bench's counterpart of bench-floor. It greets, takes USER and PASS,
 * checks the password as a login cache hit does (one HMAC, compared in
 * constant time), logs in at dovecot with the same USER and PASS, answers the
 * client's PASS with dovecot's reply and pipes both ways. No limits, no
 * timers, no records, no pipelining (lines a client sends ahead of PASS's
 * reply are lost; the bench's client waits for each reply): what is left is
 * what Node itself costs per login.
 * Forked by login-bench; argv: dovecot's POP3 port, then the users as
 * `user:password,user:password`. Tells the parent its port over IPC.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

const backendPort = Number(process.argv[2]);
const key = randomBytes(32);
const digest = (password: string) => createHmac('sha256', key).update(password).digest();
const users = new Map(
  (process.argv[3] ?? '')
    .split(',')
    .filter((entry) => entry.includes(':'))
    .map((entry) => [entry.slice(0, entry.indexOf(':')), digest(entry.slice(entry.indexOf(':') + 1))] as const),
);

/** Calls `onLine` with each CRLF-ended line `socket` sends, until it returns false. */
function readLines(socket: Socket, onLine: (line: string) => boolean): void {
  let pending = '';
  const onData = (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (!onLine(line)) return void socket.removeListener('data', onData);
    }
  };
  socket.on('data', onData);
}

/** Logs in at dovecot as `user`, answers the client with dovecot's reply to PASS, then pipes both ways. */
function logIn(client: Socket, user: string, password: string): void {
  const server = connect(backendPort, '127.0.0.1');
  server.setNoDelay(true);
  server.on('error', () => client.destroy());
  client.on('error', () => server.destroy());
  const script = [`USER ${user}\r\n`, `PASS ${password}\r\n`];
  readLines(server, (line) => {
    if (!line.startsWith('+OK')) {
      client.end('-ERR [SYS/TEMP] the server refused\r\n');
      server.destroy();
      return false;
    }
    const next = script.shift();
    if (next) {
      server.write(next);
      return true;
    }
    client.write(`${line}\r\n`);
    client.pipe(server).pipe(client);
    client.resume();
    return false;
  });
}

const proxy = createServer((client) => {
  client.setNoDelay(true);
  client.on('error', () => undefined);
  client.write('+OK ready\r\n');
  let user: string | undefined;
  readLines(client, (line) => {
    const command = line.slice(0, 4).toUpperCase();
    const argument = line.slice(5);
    if (command === 'USER') {
      user = argument;
      client.write('+OK\r\n');
      return true;
    }
    if (command !== 'PASS' || user === undefined) {
      client.write('-ERR USER, then PASS\r\n');
      return true;
    }
    const known = users.get(user);
    if (!known || !timingSafeEqual(known, digest(argument))) {
      client.end('-ERR [AUTH] invalid login\r\n');
      return false;
    }
    client.pause();
    logIn(client, user, argument);
    return false;
  });
});

if (!Number.isInteger(backendPort) || backendPort < 1 || backendPort > 65535) {
  console.error(`login-floor: bad backend port ${process.argv[2]}`);
  process.exit(1);
}
// Killed by the bench: exit rather than die, as the gateway does.
process.once('SIGTERM', () => process.exit(0));
proxy.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: (proxy.address() as AddressInfo).port }));
