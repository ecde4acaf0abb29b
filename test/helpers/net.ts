import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { until } from './until';

/** A port on 127.0.0.1 where nothing listens (connects are refused). */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Listens on 127.0.0.1:0 with a connection handler; returns the server and its port. */
export async function listenTcp(
  onConnection: (socket: Socket) => void,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A raw line-protocol conversation: connect, then read until a predicate holds. */
export class RawClient {
  private data = '';
  readonly closed: Promise<void>;
  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (this.data += chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }
  /** Connects to 127.0.0.1:port, optionally from another loopback address (to act as another terminal). */
  static open(port: number, localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }
  /** Everything received so far. */
  get received(): string {
    return this.data;
  }
  async waitFor(predicate: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
    await until(
      () => predicate(this.data),
      () => `the expected text; received so far: ${JSON.stringify(this.data)}`,
      timeoutMs,
    );
    return this.data;
  }
  send(text: string | Buffer): void {
    this.socket.write(text);
  }
  close(): void {
    this.socket.destroy();
  }
}
