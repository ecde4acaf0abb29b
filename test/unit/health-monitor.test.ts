import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { HEALTHY_REPORT_RESOLUTION_MS, HealthMonitor, probeServer } from '../../sources/health-monitor';
import type { ServerEntry } from '../../sources/server-info-source';
import { until } from '../helpers/until';

/** Test servers on 127.0.0.1:0 and every socket they accepted, all closed after the tests. */
const servers: Server[] = [];
const accepted: Socket[] = [];

/** Starts a server that does `onConnection` with each client; resolves to its port. */
async function serve(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Greets with `greeting`; records what the client sends and closes on QUIT. */
function greeter(greeting: string | Buffer, received: string[] = []) {
  return (socket: Socket) => {
    socket.write(greeting);
    socket.on('data', (data) => {
      received.push(data.toString('latin1'));
      if (/QUIT\r\n/.test(received.join(''))) socket.end();
    });
  };
}

afterAll(async () => {
  for (const socket of accepted) socket.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('probeServer', () => {
  test.each<[string, string, string]>([
    ['smtp', '220 ready', '220 ready\r\n'],
    ['smtp', 'a multi-line greeting', '220-mx.example.org\r\n220 ESMTP\r\n'],
    ['pop3', '+OK', '+OK POP3 ready\r\n'],
    ['nntp', '200', '200 news ready\r\n'],
    ['nntp', '201 (read-only)', '201 read-only\n'],
  ])('%s answering %s is healthy, and the probe says QUIT', async (service, _name, greeting) => {
    const received: string[] = [];
    const port = await serve(greeter(greeting, received));
    expect(await probeServer(service, '127.0.0.1', port, 2000)).toBeNull();
    await until(() => received.join('') === 'QUIT\r\n', "the probe's QUIT", 2000);
  });

  test('a greeting split across packets is still read', async () => {
    const port = await serve((socket) => {
      socket.setNoDelay(true);
      socket.write('22');
      setTimeout(() => socket.write('0 slow\r\n'), 30);
    });
    expect(await probeServer('smtp', '127.0.0.1', port, 2000)).toBeNull();
  });

  test.each<[string, string, string]>([
    ['smtp', '554 go away\r\n', 'unexpected greeting: 554 go away'],
    ['pop3', '-ERR not now\r\n', 'unexpected greeting: -ERR not now'],
    ['nntp', '400 service unavailable\r\n', 'unexpected greeting: 400 service unavailable'],
    ['pop3', '220 mx.example.org ESMTP\r\n', 'unexpected greeting: 220 mx.example.org ESMTP'],
  ])('%s answering %j is unhealthy', async (service, greeting, reason) => {
    const port = await serve(greeter(greeting));
    expect(await probeServer(service, '127.0.0.1', port, 2000)).toBe(reason);
  });

  test('an unexpected greeting is quoted at most 80 characters long', async () => {
    const port = await serve(greeter(`554 ${'x'.repeat(200)}\r\n`));
    expect(await probeServer('smtp', '127.0.0.1', port, 2000)).toBe(`unexpected greeting: 554 ${'x'.repeat(76)}`);
  });

  test('a greeting line past the limit is unhealthy', async () => {
    const port = await serve(greeter('220 ' + 'x'.repeat(5000)));
    expect(await probeServer('smtp', '127.0.0.1', port, 2000)).toBe('greeting line too long');
  });

  test('a server that never greets times out', async () => {
    const port = await serve(() => undefined);
    const started = Date.now();
    expect(await probeServer('smtp', '127.0.0.1', port, 200)).toBe('no greeting within 200 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  test('a server that closes before greeting is unhealthy', async () => {
    const port = await serve((socket) => socket.end());
    expect(await probeServer('pop3', '127.0.0.1', port, 2000)).toBe('closed before greeting');
  });

  test('a closed port is refused', async () => {
    expect(await probeServer('smtp', '127.0.0.1', await closedPort(), 2000)).toBe('connect failed: ECONNREFUSED');
  });

  test('a service without a greeting is healthy once connected, without waiting for data', async () => {
    const port = await serve(() => undefined);
    expect(await probeServer('http-proxy', '127.0.0.1', port, 2000)).toBeNull();
  });

  test('a service without a greeting on a closed port is refused', async () => {
    expect(await probeServer('http-proxy', '127.0.0.1', await closedPort(), 2000)).toBe('connect failed: ECONNREFUSED');
  });
});

describe('HealthMonitor.report', () => {
  afterEach(() => jest.useRealTimers());

  test('a server reported healthy again within the resolution keeps its record; later, or failing, it is recorded again', () => {
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['nextTick', 'setImmediate'] });
    const changes: string[] = [];
    const monitor = new HealthMonitor(
      { resolve: async () => [] },
      { intervalMs: 1000, timeoutMs: 100, onChange: (_server, status) => changes.push(status.state) },
    );
    const server = { host: '10.0.0.1', port: 25 };
    monitor.report('smtp', server, null);
    jest.advanceTimersByTime(HEALTHY_REPORT_RESOLUTION_MS - 1);
    monitor.report('smtp', server, null);
    expect(monitor.statusOf('smtp', server)).toEqual({ state: 'healthy', checkedAt: 1_000_000 });
    jest.advanceTimersByTime(1);
    monitor.report('smtp', server, null);
    expect(monitor.statusOf('smtp', server)).toEqual({ state: 'healthy', checkedAt: 1_000_000 + HEALTHY_REPORT_RESOLUTION_MS });
    monitor.report('smtp', server, 'connect failed: ECONNREFUSED');
    expect(monitor.statusOf('smtp', server)).toMatchObject({ state: 'unhealthy', reason: 'connect failed: ECONNREFUSED' });
    monitor.report('smtp', server, null);
    expect(monitor.statusOf('smtp', server).state).toBe('healthy');
    expect(changes).toEqual(['healthy', 'unhealthy', 'healthy']);
  });
});

describe('HealthMonitor.counts', () => {
  test('without a list, counts the servers checked in each state by service, a server once however often reported', async () => {
    const monitor = new HealthMonitor({ resolve: async () => [] }, { intervalMs: 1000, timeoutMs: 100 });
    expect(await monitor.counts()).toEqual([]);
    monitor.report('smtp', { host: '10.0.0.1', port: 25 }, null);
    monitor.report('smtp', { host: '10.0.0.2', port: 25 }, null);
    monitor.report('smtp', { host: '10.0.0.2', port: 25 }, null);
    monitor.report('smtp', { host: '10.0.0.3', port: 25 }, 'connect failed: ECONNREFUSED');
    monitor.report('pop3', { host: '10.0.0.1', port: 110 }, 'no greeting within 100 ms');
    expect(await monitor.counts()).toEqual(
      expect.arrayContaining([
        { service: 'smtp', state: 'healthy', count: 2 },
        { service: 'smtp', state: 'unhealthy', count: 1 },
        { service: 'pop3', state: 'unhealthy', count: 1 },
      ]),
    );
    expect(await monitor.counts()).toHaveLength(3);
  });

  test('with a list, counts only the servers listed now: one not checked yet is unknown, one removed is gone', async () => {
    let listed: ServerEntry[] = [
      { id: 'a', origin: 'static', service: 'smtp', host: '10.0.0.1', port: 25, priority: 10 },
      { id: 'b', origin: 'static', service: 'smtp', host: '10.0.0.2', port: 25, priority: 10 },
    ];
    const monitor = new HealthMonitor({ resolve: async () => [], list: async () => listed }, { intervalMs: 1000, timeoutMs: 100 });
    monitor.report('smtp', { host: '10.0.0.1', port: 25 }, null);
    expect(await monitor.counts()).toEqual(
      expect.arrayContaining([
        { service: 'smtp', state: 'healthy', count: 1 },
        { service: 'smtp', state: 'unknown', count: 1 },
      ]),
    );
    listed = [listed[1]];
    expect(await monitor.counts()).toEqual([{ service: 'smtp', state: 'unknown', count: 1 }]);
  });
});
