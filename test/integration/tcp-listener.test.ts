import { execFileSync } from 'node:child_process';
import { type AddressInfo, connect, createServer, type Server, Socket } from 'node:net';
import { type ConnectionOver, TcpListener, type TcpListenerOptions, untilSettled } from '../../adapters/tcp-listener';
import { until } from '../helpers/until';

/**
 * TCP_NODELAY as the kernel holds it on one of this process's sockets: python
 * borrows the descriptor (pidfd_getfd, Linux 5.6+) and asks getsockopt. Node
 * itself can set the option but never read it back.
 */
function kernelNoDelay(socket: Socket): number {
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  const script = [
    'import ctypes, os, socket, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'pidfd = os.pidfd_open(int(sys.argv[1]))',
    'fd = libc.syscall(438, pidfd, int(sys.argv[2]), 0)  # pidfd_getfd',
    "if fd < 0: raise OSError(ctypes.get_errno(), 'pidfd_getfd')",
    's = socket.socket(fileno=fd)',
    'print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))',
    's.close()',
  ].join('\n');
  return Number(execFileSync('python3', ['-c', script, String(process.pid), String(fd)], { encoding: 'utf8' }).trim());
}

/**
 * A listener on 127.0.0.1 whose handler hands over each accepted socket and holds it until the test ends
 * (`release`), or for as long as `holdEach` says.
 */
function listener(options: Partial<TcpListenerOptions>, holdEach?: (socket: Socket) => Promise<void>) {
  const accepted: Socket[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tcp = new TcpListener({
    host: '127.0.0.1',
    port: 0,
    maxClients: 100,
    maxClientsPerAddress: 100,
    loopbackExempt: true,
    excessReply: 'busy\r\n',
    addressExcessReply: 'busy\r\n',
    handle: untilSettled(async (socket) => {
      accepted.push(socket);
      await (holdEach ? holdEach(socket) : held);
    }),
    ...options,
  });
  return { tcp, accepted, release };
}

async function acceptOne(tcp: TcpListener, accepted: Socket[], port: number): Promise<{ client: Socket; server: Socket }> {
  const before = accepted.length;
  const client = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  while (accepted.length === before) await new Promise((resolve) => setImmediate(resolve));
  expect(tcp.connections).toBeGreaterThan(0);
  return { client, server: accepted[accepted.length - 1]! };
}

const linux = process.platform === 'linux' ? describe : describe.skip;

linux('TcpListener: TCP_NODELAY for protocols of short lines', () => {
  test('noDelay: set once on the listening socket; every accepted socket has it from the kernel, without a system call of its own', async () => {
    const setNoDelay = jest.spyOn(Socket.prototype, 'setNoDelay');
    const { tcp, accepted, release } = listener({ noDelay: true });
    try {
      const { port } = await tcp.listen();
      const first = await acceptOne(tcp, accepted, port);
      const second = await acceptOne(tcp, accepted, port);
      expect(kernelNoDelay(first.server)).toBe(1);
      expect(kernelNoDelay(second.server)).toBe(1);
      expect(setNoDelay.mock.contexts.filter((socket) => accepted.includes(socket as Socket))).toHaveLength(0);
      first.client.destroy();
      second.client.destroy();
    } finally {
      setNoDelay.mockRestore();
      release();
      await tcp.close(0);
    }
  });

  test('without noDelay the accepted sockets keep Nagle (the generic listener default)', async () => {
    const { tcp, accepted, release } = listener({});
    try {
      const { port } = await tcp.listen();
      const { client, server } = await acceptOne(tcp, accepted, port);
      expect(kernelNoDelay(server)).toBe(0);
      client.destroy();
    } finally {
      release();
      await tcp.close(0);
    }
  });

  test('a listener handed the port by a reload keeps TCP_NODELAY on what it accepts', async () => {
    const old = listener({});
    const next = listener({ noDelay: true });
    try {
      const { port } = await old.tcp.listen();
      old.tcp.handOver(next.tcp);
      const { client, server } = await acceptOne(next.tcp, next.accepted, port);
      expect(kernelNoDelay(server)).toBe(1);
      client.destroy();
    } finally {
      old.release();
      next.release();
      await old.tcp.close(0);
      await next.tcp.close(0);
    }
  });
});

describe('TcpListener: close() drains the live connections, then cuts what is left', () => {
  /** A listener whose handler ends when its socket closes, as the adapters' handlers do. */
  async function draining() {
    const { tcp, accepted } = listener({}, (socket) => new Promise((resolve) => socket.once('close', () => resolve())));
    const { port } = await tcp.listen();
    return { tcp, accepted, port };
  }

  test('with nothing live it returns at once', async () => {
    const { tcp } = await draining();
    expect(tcp.connections).toBe(0);
    await tcp.close(60_000);
  });

  test('close() waits for connections that end within the grace period', async () => {
    const { tcp, accepted, port } = await draining();
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push((await acceptOne(tcp, accepted, port)).client);
    expect(tcp.connections).toBe(3);
    let closed = false;
    const closing = tcp.close(60_000).then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    for (const client of clients) client.end();
    await closing;
    expect(tcp.connections).toBe(0);
    expect(accepted.every((socket) => socket.destroyed)).toBe(true);
  });

  test('what is still open after the grace period is cut, and close() (called twice) returns for both callers', async () => {
    const { tcp, accepted, port } = await draining();
    const { client } = await acceptOne(tcp, accepted, port);
    const { client: other } = await acceptOne(tcp, accepted, port);
    const clientClosed = new Promise((resolve) => client.once('close', resolve));
    other.end();
    const started = Date.now();
    await Promise.all([tcp.close(200), tcp.close(200)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(tcp.connections).toBe(0);
    await clientClosed;
  });

  test('a connection that ended before close() is not waited for; the listener takes new ones until close()', async () => {
    const { tcp, accepted, port } = await draining();
    const { client } = await acceptOne(tcp, accepted, port);
    client.end();
    while (tcp.connections > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const { client: second } = await acceptOne(tcp, accepted, port);
    second.destroy();
    while (tcp.connections > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const started = Date.now();
    await tcp.close(60_000);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('TcpListener: a handler tells the listener when its connection is over', () => {
  /** A listener whose handler keeps each connection's ConnectionOver for the test to call; one place per address, loopback counted. */
  async function ticketed(handle?: TcpListenerOptions['handle']) {
    const overs: ConnectionOver[] = [];
    const tcp = new TcpListener({
      host: '127.0.0.1',
      port: 0,
      maxClients: 100,
      maxClientsPerAddress: 1,
      loopbackExempt: false,
      excessReply: 'busy\r\n',
      addressExcessReply: 'address busy\r\n',
      handle: handle ?? ((_socket, over) => void overs.push(over)),
    });
    const { port } = await tcp.listen();
    return { tcp, overs, port };
  }

  /** Connects and reads until the server closes or `ms` pass: what the listener said. */
  async function firstWords(port: number, ms = 300): Promise<string> {
    const client = connect({ host: '127.0.0.1', port });
    let said = '';
    client.on('data', (chunk) => {
      said += chunk.toString('latin1');
    });
    await new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      setTimeout(resolve, ms);
    });
    client.destroy();
    return said;
  }

  test('done() frees the place, once however often it is called', async () => {
    const { tcp, overs, port } = await ticketed();
    try {
      const first = connect({ host: '127.0.0.1', port });
      while (overs.length === 0) await new Promise((resolve) => setImmediate(resolve));
      expect(tcp.connections).toBe(1);
      expect(await firstWords(port)).toBe('address busy\r\n');
      overs[0]!.done();
      overs[0]!.done();
      expect(tcp.connections).toBe(0);
      const second = connect({ host: '127.0.0.1', port });
      while (overs.length === 1) await new Promise((resolve) => setImmediate(resolve));
      expect(tcp.connections).toBe(1);
      // The first done() twice gave back one place, not two: the address is full again.
      expect(await firstWords(port)).toBe('address busy\r\n');
      first.destroy();
      second.destroy();
      overs[1]!.done();
    } finally {
      await tcp.close(0);
    }
  });

  test('a handler that throws has its place freed, and the error reaches whoever handed the connection over', async () => {
    let calls = 0;
    const { tcp, port, overs } = await ticketed((_socket, over) => {
      if (calls++ === 0) throw new Error('handler bug');
      overs.push(over);
    });
    const server = (tcp as unknown as { server: Server }).server;
    const plain = createServer();
    try {
      // The connection is handed to the listener as net.Server hands it one, by its 'connection' event.
      const accepted = new Promise<Socket>((resolve) => plain.once('connection', resolve));
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      const client = connect({ host: '127.0.0.1', port: (plain.address() as AddressInfo).port });
      const socket = await accepted;
      expect(() => server.emit('connection', socket)).toThrow('handler bug');
      expect(tcp.connections).toBe(0);
      socket.destroy();
      client.destroy();
      // The address's place was given back: the next client gets its handler, not a refusal.
      expect(await firstWords(port, 100)).toBe('');
      expect(overs).toHaveLength(1);
      overs[0]!.done();
    } finally {
      plain.close();
      await tcp.close(0);
    }
  });

  test('untilSettled: a handler returning a promise frees its place when the promise settles', async () => {
    let finish: () => void = () => undefined;
    const { tcp, port } = await ticketed(
      untilSettled(
        () =>
          new Promise<void>((resolve) => {
            finish = resolve;
          }),
      ),
    );
    try {
      const client = connect({ host: '127.0.0.1', port });
      while (tcp.connections === 0) await new Promise((resolve) => setImmediate(resolve));
      finish();
      await until(() => tcp.connections === 0, 'the place freed');
      client.destroy();
    } finally {
      await tcp.close(0);
    }
  });
});
