import { randomBytes } from 'node:crypto';
import { connect, createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { RELAY_WINDOW_BYTES, relay, type RelayResult } from '../../net/relay';
import { idle, until } from '../helpers/until';

/** What one relay() call was given and what it returned. */
interface RelayedConnection {
  /** The gateway's two sockets: towards the client, towards the server. */
  client: Socket;
  upstream: Socket;
  result: Promise<RelayResult>;
}

/**
 * relay() between real sockets on 127.0.0.1: a client connects to a gateway
 * port, the gateway connects to the server and relays; `onServer` plays the
 * server. `allowHalfOpen` applies to all four sockets; `prelude` runs on the
 * gateway's client socket before the relay starts.
 */
interface Rig {
  /** Connects a client to the gateway. */
  open(): Promise<Socket>;
  /** The next relay the gateway starts (one per client connection, in order). */
  nextRelay(): Promise<RelayedConnection>;
  /** The server's side of the next connection it accepts. */
  nextServerSocket(): Promise<Socket>;
  close(): Promise<void>;
}

async function startRig(options: {
  idleTimeoutMs: number;
  keepAlive?: { idleMs: number; armAfterMs: number };
  allowHalfOpen?: boolean;
  prelude?: (client: Socket) => Promise<unknown>;
  onServer: (socket: Socket) => void;
}): Promise<Rig> {
  const allowHalfOpen = options.allowHalfOpen ?? false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  const relays = queue<RelayedConnection>();
  const serverSockets = queue<Socket>();
  const server = createServer({ allowHalfOpen }, (socket) => {
    track(socket).on('error', () => undefined);
    serverSockets.push(socket);
    options.onServer(socket);
  });
  const serverPort = await listen(server);
  const gateway = createServer({ allowHalfOpen }, async (client) => {
    track(client).on('error', () => undefined);
    await options.prelude?.(client);
    const upstream = track(connect({ host: '127.0.0.1', port: serverPort, allowHalfOpen }));
    upstream.on('error', () => undefined);
    upstream.once('connect', () =>
      relays.push({ client, upstream, result: relay(client, upstream, options.idleTimeoutMs, options.keepAlive) }),
    );
  });
  const gatewayPort = await listen(gateway);
  return {
    open: () =>
      new Promise((resolve, reject) => {
        const socket = track(connect({ host: '127.0.0.1', port: gatewayPort, allowHalfOpen }, () => resolve(socket)));
        socket.once('error', reject);
      }),
    nextRelay: relays.next,
    nextServerSocket: serverSockets.next,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([server, gateway].map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Values pushed by callbacks, taken in order by tests. */
function queue<T>(): { push: (value: T) => void; next: () => Promise<T> } {
  const values: T[] = [];
  const waiters: Array<(value: T) => void> = [];
  return {
    push: (value) => (waiters.length ? waiters.shift()!(value) : values.push(value)),
    next: () => (values.length ? Promise.resolve(values.shift()!) : new Promise((resolve) => waiters.push(resolve))),
  };
}

/** Everything a socket receives until it closes, and when it closed. */
function collect(socket: Socket): Promise<{ data: Buffer; closedAt: number }> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve({ data: Buffer.concat(chunks), closedAt: Date.now() })));
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));

describe('relay() over real sockets', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  test('bytes pass unchanged both ways and are counted per direction', async () => {
    // The server echoes; the client sends 3 MiB (more than the window) and hangs up once it has it all back.
    rig = await startRig({ idleTimeoutMs: 5000, onServer: (socket) => socket.pipe(socket) });
    const payload = randomBytes(3 * 1024 * 1024);
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    const chunks: Buffer[] = [];
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received === payload.length) client.end();
    });
    client.write(payload);
    const result = await relayed.result;
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    expect(result).toEqual({ bytesFromClient: payload.length, bytesFromServer: payload.length, end: 'closed' });
  });

  test('bytes read from the client before the relay began are not counted', async () => {
    rig = await startRig({
      idleTimeoutMs: 5000,
      // The gateway reads the client's first line itself, as a login dialogue would.
      prelude: (client) => new Promise((resolve) => client.once('data', () => resolve(client.pause()))),
      onServer: (socket) => socket.pipe(socket),
    });
    const client = await rig.open();
    client.write('HELO\r\n');
    const relayed = await rig.nextRelay();
    client.write('NOOP\r\n');
    await new Promise((resolve) => client.once('data', resolve));
    client.end();
    expect(await relayed.result).toEqual({ bytesFromClient: 6, bytesFromServer: 6, end: 'closed' });
  });

  test('after the client half-closes, the server’s reply still reaches it before both close', async () => {
    rig = await startRig({
      idleTimeoutMs: 5000,
      allowHalfOpen: true,
      onServer: (socket) => {
        let heard = '';
        socket.setEncoding('latin1');
        socket.on('data', (text: string) => (heard += text));
        // Answer only after the client's end has arrived, and a little later still.
        socket.on('end', () => setTimeout(() => socket.end(`221 heard ${JSON.stringify(heard)}\r\n`), 50));
      },
    });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    const reply = collect(client);
    client.end('QUIT\r\n');
    const { data } = await reply;
    expect(data.toString('latin1')).toBe('221 heard "QUIT\\r\\n"\r\n');
    expect(await relayed.result).toEqual({ bytesFromClient: 6, bytesFromServer: 22, end: 'closed' });
  });

  test('a client that ended before the relay began still has its end passed on', async () => {
    rig = await startRig({
      idleTimeoutMs: 5000,
      allowHalfOpen: true,
      // The gateway reads the client's whole request, end included, before it relays.
      prelude: (client) => new Promise((resolve) => client.on('end', resolve).resume()),
      onServer: (socket) => socket.on('end', () => socket.end('221 bye\r\n')).resume(),
    });
    const client = await rig.open();
    const reply = collect(client);
    client.end('QUIT\r\n');
    const relayed = await rig.nextRelay();
    expect((await reply).data.toString('latin1')).toBe('221 bye\r\n');
    expect(await relayed.result).toEqual({ bytesFromClient: 0, bytesFromServer: 9, end: 'closed' });
  });

  test('when the server closes first, everything it sent still reaches a client that reads late', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    rig = await startRig({ idleTimeoutMs: 5000, onServer: (socket) => socket.end(payload) });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    client.pause();
    // The transfer goes as far as it can without the client: to its end, or until the server is held back.
    await until(() => relayed.upstream.readableEnded || relayed.upstream.isPaused(), 'the server side to end or be held back');
    const received = collect(client);
    client.resume();
    expect((await received).data.equals(payload)).toBe(true);
    expect(await relayed.result).toEqual({ bytesFromClient: 0, bytesFromServer: payload.length, end: 'closed' });
  });

  test('when the server side closes with a window queued for a paused client, the client still gets all of it', async () => {
    const total = 32 * 1024 * 1024;
    rig = await startRig({ idleTimeoutMs: 5000, onServer: (socket) => socket.end(Buffer.alloc(total, 3)) });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    client.pause();
    // The kernel's buffers fill first; then the gateway's side toward the client queues.
    await until(() => relayed.client.writableLength > 0, 'a queue toward the paused client');
    // The gateway drops its server side (as a cut would) while the client's side still has bytes
    // queued. What was read off the server but not yet passed on (the paused socket's own buffer) is lost with it.
    const passedOn = relayed.upstream.bytesRead - relayed.upstream.readableLength;
    relayed.upstream.destroy();
    const received = collect(client);
    client.resume();
    expect((await relayed.result).end).toBe('closed');
    expect((await received).data.length).toBe(passedOn);
  });

  // Half-open sockets and a peer that keeps sending: only a destroyed side stops it (an end would not).
  const keepSending = (socket: Socket) => {
    const timer = setInterval(() => socket.write(Buffer.alloc(16 * 1024)), 10);
    socket.on('close', () => clearInterval(timer));
  };

  test('a reset from the server destroys the client side', async () => {
    rig = await startRig({ idleTimeoutMs: 5000, allowHalfOpen: true, onServer: (socket) => socket.write('220 hello\r\n') });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    const server = await rig.nextServerSocket();
    const clientSide = collect(client);
    // The greeting has crossed, so the relay is flowing; then the server resets.
    await new Promise((resolve) => client.once('data', resolve));
    keepSending(client);
    server.resetAndDestroy();
    expect((await relayed.result).end).toBe('server-error');
    await clientSide;
  });

  test('a reset from the client destroys the server side', async () => {
    rig = await startRig({ idleTimeoutMs: 5000, allowHalfOpen: true, onServer: keepSending });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    const server = await rig.nextServerSocket();
    await new Promise((resolve) => client.once('data', resolve));
    const serverSide = collect(server);
    client.resetAndDestroy();
    expect((await relayed.result).end).toBe('client-error');
    await serverSide;
  });

  test('no traffic either way for idleTimeoutMs closes both sides', async () => {
    let greetedAt = 0;
    rig = await startRig({
      idleTimeoutMs: 200,
      onServer: (socket) => {
        greetedAt = Date.now();
        socket.write('220 hello\r\n');
      },
    });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    const server = await rig.nextServerSocket();
    const [clientSide] = await Promise.all([collect(client), closed(server)]);
    expect(clientSide.data.toString('latin1')).toBe('220 hello\r\n');
    expect(await relayed.result).toMatchObject({ end: 'idle-timeout', bytesFromServer: 11 });
    // The greeting was the last traffic: not cut before the limit (less timer granularity), nor long after.
    expect(clientSide.closedAt - greetedAt).toBeGreaterThanOrEqual(195);
    expect(clientSide.closedAt - greetedAt).toBeLessThan(1500);
  });

  test('TCP keepalive is turned on on both sockets of a relay that lasts, never on one that ends sooner; the idle limit still holds', async () => {
    const turnedOn = new Map<Socket, unknown[]>();
    const spy = jest.spyOn(Socket.prototype, 'setKeepAlive').mockImplementation(function (this: Socket, ...args: unknown[]) {
      turnedOn.set(this, args);
      return this;
    });
    try {
      const armAfterMs = 400;
      rig = await startRig({
        idleTimeoutMs: armAfterMs + 400,
        keepAlive: { idleMs: 15_000, armAfterMs },
        onServer: (socket) => socket.write('220 hello\r\n'),
      });
      const short = await rig.open();
      const shortRelay = await rig.nextRelay();
      short.end();
      await shortRelay.result;
      await rig.open();
      const longRelay = await rig.nextRelay();
      await idle(armAfterMs - 200, 'before the relay is due to turn keepalive on');
      expect(turnedOn.size).toBe(0);
      await until(() => turnedOn.size === 2, 'keepalive turned on on both sockets of the lasting relay', 2000);
      expect(turnedOn.get(longRelay.client)).toEqual([true, 15_000]);
      expect(turnedOn.get(longRelay.upstream)).toEqual([true, 15_000]);
      expect(turnedOn.has(shortRelay.client) || turnedOn.has(shortRelay.upstream)).toBe(false);
      // Turning keepalive on re-arms the idle check: the quiet relay is still cut at its limit.
      expect(await longRelay.result).toMatchObject({ end: 'idle-timeout' });
    } finally {
      spy.mockRestore();
    }
  });

  test('the idle timer does not keep the process alive', async () => {
    rig = await startRig({ idleTimeoutMs: 60_000, onServer: (socket) => socket.write('220 hello\r\n') });
    const setTimer = jest.spyOn(global, 'setTimeout');
    try {
      await rig.open();
      await rig.nextRelay();
      const idleTimers = setTimer.mock.calls.flatMap((call, i) =>
        call[1] === 60_000 ? [setTimer.mock.results[i].value as NodeJS.Timeout] : [],
      );
      expect(idleTimers).toHaveLength(1);
      expect(idleTimers[0].hasRef()).toBe(false);
    } finally {
      setTimer.mockRestore();
    }
  });

  test('a long download with nothing from the client is not cut by the idle limit', async () => {
    // 30 pieces, 30 ms apart: 0.9 s of a one-way transfer, three times the idle limit.
    const pieces = 30;
    rig = await startRig({
      idleTimeoutMs: 300,
      onServer: (socket) => {
        let sent = 0;
        const timer = setInterval(() => {
          socket.write(Buffer.alloc(1024, sent));
          if (++sent === pieces) {
            clearInterval(timer);
            socket.end();
          }
        }, 30);
        socket.on('close', () => clearInterval(timer));
      },
    });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    const { data } = await collect(client);
    expect(data.length).toBe(pieces * 1024);
    expect(await relayed.result).toEqual({ bytesFromClient: 0, bytesFromServer: pieces * 1024, end: 'closed' });
  });

  test('a slow reader holds back the server: the relay queues at most its window, and nothing is lost', async () => {
    const total = 32 * 1024 * 1024;
    rig = await startRig({ idleTimeoutMs: 5000, onServer: (socket) => socket.end(Buffer.alloc(total, 7)) });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    client.pause();
    let mostQueued = 0;
    const sampler = setInterval(() => (mostQueued = Math.max(mostQueued, relayed.client.writableLength)), 2);
    await until(() => relayed.upstream.isPaused(), 'the server to be held back');
    await idle(200, 'the server must stay held back while the client does not read');
    // The server is held back: far from all of it has been read off its socket.
    const readWhilePaused = relayed.upstream.bytesRead;
    expect(readWhilePaused).toBeLessThan(total / 2);
    let received = 0;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    client.resume();
    const result = await relayed.result;
    clearInterval(sampler);
    expect(received).toBe(total);
    expect(result).toEqual({ bytesFromClient: 0, bytesFromServer: total, end: 'closed' });
    // At most the window, plus the one read (64 KiB) that crossed it.
    expect(mostQueued).toBeGreaterThan(0);
    expect(mostQueued).toBeLessThanOrEqual(RELAY_WINDOW_BYTES + 64 * 1024);
  });

  test('when the client side is closed while the server is held back for it, the server is still read to its end', async () => {
    const total = 32 * 1024 * 1024;
    rig = await startRig({ idleTimeoutMs: 5000, onServer: (socket) => socket.end(Buffer.alloc(total, 7)) });
    const client = await rig.open();
    const relayed = await rig.nextRelay();
    client.pause();
    await until(() => relayed.upstream.isPaused(), 'the server to be held back');
    // The gateway drops its client side (as a cut would), with a window's worth still queued for it.
    relayed.client.destroy();
    // The server's side is read to its end (and discarded), so the relay ends well before the idle limit.
    const started = Date.now();
    expect(await relayed.result).toEqual({ bytesFromClient: 0, bytesFromServer: total, end: 'closed' });
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
