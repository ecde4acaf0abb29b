import { startGateway, type TestGateway } from '../helpers/gateway';
import { startPop3 } from '../helpers/line-servers';
import { RawClient } from '../helpers/net';

/** The hardening limits are gateway options: validated by roamgate() and applied by its adapters. */
describe('limit options reach the adapters', () => {
  let gw: TestGateway | undefined;
  let pop3: Awaited<ReturnType<typeof startPop3>>;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    pop3 = await startPop3('+OK upstream ready', { alice: 'secret' });
  });
  afterAll(async () => {
    await pop3.close();
  });
  afterEach(async () => {
    for (const each of clients.splice(0)) each.socket.destroy();
    await gw?.close();
    gw = undefined;
  });

  const open = async (port: number) => {
    const raw = await RawClient.open(port);
    clients.push(raw);
    return raw;
  };

  test('adapters.pop3.maxClientsPerAddress with loopbackExempt: false refuses the address past its cap', async () => {
    gw = await startGateway({
      adapters: { pop3: { port: 0, maxClientsPerAddress: 1, loopbackExempt: false } },
      servers: { pop3: [{ host: '127.0.0.1', port: pop3.port }] },
      access: [{ subject: 'anonymous', service: 'pop3', allow: true }],
    });
    const first = await open(gw.ports.pop3);
    await first.waitFor((text) => text.includes('+OK upstream ready'));
    const second = await open(gw.ports.pop3);
    await second.closed;
    expect(second.received).toMatch(/^-ERR \[SYS\/TEMP\] too many connections from your address \(limit 1\)/);
  });

  test('adapters.pop3.login.preLoginDeadlineMs cuts a client that never finishes logging in', async () => {
    gw = await startGateway({
      adapters: { pop3: { port: 0, login: { allowCleartext: true, preLoginDeadlineMs: 300 } } },
      servers: { pop3: [{ host: '127.0.0.1', port: pop3.port }] },
    });
    const slow = await open(gw.ports.pop3);
    await slow.waitFor((text) => text.startsWith('+OK'));
    const started = Date.now();
    const trickle = setInterval(() => slow.socket.writable && slow.socket.write('C'), 50);
    await slow.closed;
    clearInterval(trickle);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(slow.received).toMatch(/-ERR \[SYS\/TEMP\] .*\r\n$/);
  });

  test('adapters.http-proxy.headersTimeoutMs answers 408 to a head that does not arrive in time', async () => {
    gw = await startGateway({ adapters: { 'http-proxy': { port: 0, headersTimeoutMs: 300 } } });
    const slow = await open(gw.ports['http-proxy']);
    slow.socket.write('GET http://example.test/ HTTP/1.1\r\n');
    await slow.closed;
    expect(slow.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('bad limits are refused naming their path', async () => {
    await expect(startGateway({ adapters: { smtp: { port: 0, maxClientsPerAddress: 0 } } })).rejects.toThrow(
      /adapters\.smtp\.maxClientsPerAddress/,
    );
    await expect(startGateway({ tunnel: { maxTunnelsPerLease: -1 } })).rejects.toThrow(/tunnel\.maxTunnelsPerLease/);
  });
});
