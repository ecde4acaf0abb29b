import type { Socket } from 'node:net';
import { RoamgateError } from '../../errors';
import { connectFirst, connectWithTimeout } from '../../net/connect-server';
import type { ServerInfo } from '../../server-info';
import { startBlackHole } from '../helpers/fault-servers';
import { listenTcp, refusedPort } from '../helpers/net';

/*
 * Trying a service's servers in order (net/connect-server.ts), over real
 * sockets on 127.0.0.1: a plain server is connected without a promise of its
 * own, a caller's `open` through its promise; both report each server tried.
 */

jest.setTimeout(20_000);

const CONNECT_MS = 300;

const server = (port: number): ServerInfo => ({ host: '127.0.0.1', port, priority: 10 });

describe('connectFirst', () => {
  const cleanups: Array<() => Promise<void>> = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    while (cleanups.length) await cleanups.pop()!();
  });

  async function listening() {
    const listener = await listenTcp((socket) => socket.write('hello\r\n'));
    cleanups.push(listener.close);
    return listener;
  }

  test('fails over past a port Node rejects, a refused server and a black hole to the first that answers, reporting each', async () => {
    const hole = await startBlackHole();
    cleanups.push(hole.close);
    const good = await listening();
    const refused = await refusedPort();
    const reports: Array<[number, string | null]> = [];
    const candidates = [server(70_000), server(refused), server(hole.port), server(good.port)];
    const reached = await connectFirst('smtp', candidates, {
      connectTimeoutMs: CONNECT_MS,
      report: (tried, failure) => reports.push([tried.port, failure]),
    });
    sockets.push(reached.socket);
    expect(reached.server).toBe(candidates[3]);
    expect(reports).toEqual([
      [70_000, expect.stringMatching(/^server failed: ERR_SOCKET_BAD_PORT/)],
      [refused, 'connect failed: ECONNREFUSED'],
      [hole.port, `connect timed out after ${CONNECT_MS} ms`],
      [good.port, null],
    ]);
    const greeting = await new Promise<string>((resolve) => reached.socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    expect(greeting).toBe('hello\r\n');
  });

  test('names the service, never a server, when none answers: refused, timed out, or none configured', async () => {
    const hole = await startBlackHole();
    cleanups.push(hole.close);
    const refused = await refusedPort();
    const options = { connectTimeoutMs: CONNECT_MS };
    await expect(connectFirst('pop3', [server(refused), server(refused)], options)).rejects.toMatchObject({
      code: 'ROAMGATE_UPSTREAM_REFUSED',
      message: 'pop3 service unavailable: could not reach all 2 servers',
    });
    await expect(connectFirst('pop3', [server(hole.port)], options)).rejects.toMatchObject({
      code: 'ROAMGATE_UPSTREAM_TIMEOUT',
      message: 'pop3 service unavailable: the server did not answer in time',
    });
    await expect(connectFirst('pop3', [], options)).rejects.toMatchObject({
      code: 'ROAMGATE_NO_SERVER',
      message: 'no pop3 server is configured for you',
    });
  });

  test('a report that throws does not end the dial: the failover goes on and the server that answers is returned', async () => {
    const good = await listening();
    const refused = await refusedPort();
    const report = () => {
      throw new Error('a broken health report');
    };
    const reached = await connectFirst('smtp', [server(refused), server(good.port)], { connectTimeoutMs: CONNECT_MS, report });
    sockets.push(reached.socket);
    expect(reached.server.port).toBe(good.port);
  });

  test("a caller's open: a server refusing the user ends the dial at once, other failures fail over", async () => {
    const good = await listening();
    const opened: number[] = [];
    const open = (tried: ServerInfo): Promise<Socket> => {
      opened.push(tried.port);
      if (tried.port === 1) throw new Error('thrown at once');
      if (tried.port === 2) return Promise.reject(new RoamgateError('ROAMGATE_ACCESS_DENIED', 'the server refused the user'));
      return connectWithTimeout(tried.host, tried.port, CONNECT_MS);
    };
    const reached = await connectFirst('imap', [server(1), server(good.port), server(2)], { connectTimeoutMs: CONNECT_MS, open });
    sockets.push(reached.socket);
    expect(reached.server.port).toBe(good.port);
    opened.length = 0;
    await expect(connectFirst('imap', [server(2), server(good.port)], { connectTimeoutMs: CONNECT_MS, open })).rejects.toMatchObject({
      code: 'ROAMGATE_ACCESS_DENIED',
    });
    expect(opened).toEqual([2]);
  });
});

describe('connectWithTimeout', () => {
  test('refused and timed-out connects fail with the reason', async () => {
    await expect(connectWithTimeout('127.0.0.1', await refusedPort(), CONNECT_MS)).rejects.toMatchObject({
      code: 'ROAMGATE_UPSTREAM_REFUSED',
      message: 'connect failed: ECONNREFUSED',
    });
    const hole = await startBlackHole();
    try {
      const started = Date.now();
      await expect(connectWithTimeout('127.0.0.1', hole.port, CONNECT_MS)).rejects.toMatchObject({ code: 'ROAMGATE_UPSTREAM_TIMEOUT' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(CONNECT_MS - 20);
    } finally {
      await hole.close();
    }
  });
});
