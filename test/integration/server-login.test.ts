import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { completeServerLogin } from '../../adapters/server-login';
import { createPop3ServerDialogue } from '../../protocols/pop3/server-dialogue';

/**
 * The login towards a server over real sockets: whatever the server sends in
 * the same chunk as its last login reply, whole lines and a partial one, is
 * handed to the relay in order, not swallowed by the login.
 */
describe('completeServerLogin', () => {
  let server: Server;
  const open: Socket[] = [];

  afterEach(async () => {
    for (const socket of open) socket.destroy();
    open.length = 0;
    if (server?.listening) await new Promise((resolve) => server.close(resolve));
  });

  /** A POP3 server that answers PASS with `passReply` (in one write). */
  async function pop3Server(passReply: string): Promise<number> {
    server = createServer((socket) => {
      open.push(socket);
      socket.write('+OK ready\r\n');
      socket.on('data', (chunk) => {
        const text = chunk.toString('latin1');
        if (text.startsWith('USER ')) socket.write('+OK\r\n');
        else if (text.startsWith('PASS ')) socket.write(passReply);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  }

  async function logIn(port: number): Promise<Socket> {
    const socket = connect(port, '127.0.0.1');
    open.push(socket);
    await once(socket, 'connect');
    const dialogue = createPop3ServerDialogue({ credentials: { username: 'alice', password: 'pw' }, startTls: false });
    return completeServerLogin(socket, dialogue, { host: '127.0.0.1', port, priority: 0 }, 2000);
  }

  async function readAll(socket: Socket, bytes: number): Promise<string> {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.resume();
    while (text.length < bytes) await once(socket, 'data');
    return text;
  }

  test('lines and a partial line after the last login reply go to the relay, in order', async () => {
    const port = await pop3Server('+OK logged in\r\n* one\r\n* two\r\npart');
    const ready = await logIn(port);
    expect(ready.isPaused()).toBe(true);
    expect(await readAll(ready, '* one\r\n* two\r\npart'.length)).toBe('* one\r\n* two\r\npart');
  });

  test('nothing after the last login reply: nothing is put back', async () => {
    const port = await pop3Server('+OK logged in\r\n');
    const ready = await logIn(port);
    expect(ready.readableLength).toBe(0);
  });
});
