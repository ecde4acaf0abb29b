import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { startPop3 } from '../helpers/line-servers';
import { RawClient, refusedPort } from '../helpers/net';

jest.setTimeout(30_000);

let upstream: Awaited<ReturnType<typeof startPop3>>;
let renewed: Awaited<ReturnType<typeof startPop3>>;
let hashes: { one: string; two: string };
beforeAll(async () => {
  upstream = await startPop3('upstream', { alice: 'first-pw' });
  renewed = await startPop3('renewed upstream', { alice: 'second-pw' });
  hashes = { one: await hashPassword('first-pw'), two: await hashPassword('second-pw') };
});
afterAll(async () => {
  await upstream.close();
  await renewed.close();
});

/** Logs in over POP3 and returns the gateway's answer to PASS. */
async function pop3Login(port: number, user: string, password: string): Promise<string> {
  const client = await RawClient.open(port);
  try {
    await client.waitFor((received) => received.includes('\r\n'));
    client.send(`USER ${user}\r\nPASS ${password}\r\n`);
    const text = await client.waitFor((received) => (received.match(/\r\n/g) ?? []).length >= 3);
    return text.split('\r\n')[2];
  } finally {
    client.close();
  }
}

/** The gateway's options: in-protocol POP3 logins for config users, everything else as given. */
function options(extra: Partial<RoamgateOptions> = {}): RoamgateOptions {
  return {
    health: { enabled: false },
    users: [{ id: 'alice', passwordHash: hashes.one }],
    access: [{ subject: 'authenticated', service: 'pop3', allow: true }],
    adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
    servers: { pop3: [{ host: '127.0.0.1', port: upstream.port }] },
    ...extra,
  };
}

describe('gw.reload: each part applies to the next connection', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test('a config user whose password changed: the remembered login is forgotten, the new password works at once', async () => {
    gw = await startGateway(options());
    expect(await pop3Login(gw.ports.pop3, 'alice', 'first-pw')).toMatch(/^\+OK/);
    const servers = { pop3: [{ host: '127.0.0.1', port: renewed.port }] };
    const result = await gw.gateway.reload(options({ users: [{ id: 'alice', passwordHash: hashes.two }], servers }));
    expect(result).toEqual({ changed: ['servers', 'users'], restartNeeded: [], relaysClosed: 0 });
    // Without forgetting, the login cache (300 s by default) would still let the old password in.
    expect(await pop3Login(gw.ports.pop3, 'alice', 'first-pw')).toMatch(/^-ERR.*wrong user name or password/);
    expect(await pop3Login(gw.ports.pop3, 'alice', 'second-pw')).toMatch(/^\+OK/);
    expect(renewed.logins).toEqual(['alice']);
  });

  test('the login throttle: a raised limit lets the next attempt through', async () => {
    const tight = { login: { perAddress: { failures: 2, windowSeconds: 900 } } };
    gw = await startGateway(options(tight));
    for (let attempt = 0; attempt < 2; attempt++) expect(await pop3Login(gw.ports.pop3, 'alice', 'wrong')).toMatch(/^-ERR/);
    expect(await pop3Login(gw.ports.pop3, 'alice', 'first-pw')).toMatch(/too many failed logins/);
    const result = await gw.gateway.reload(options({ login: { perAddress: { failures: 20, windowSeconds: 900 } } }));
    expect(result.changed).toEqual(['login.perAddress']);
    expect(await pop3Login(gw.ports.pop3, 'alice', 'first-pw')).toMatch(/^\+OK/);
  });

  test('peers: a home added is asked from the next login on; one removed is an unknown realm at once', async () => {
    const url = `http://127.0.0.1:${await refusedPort()}/roamgate`;
    const other = { 'other.example': { secret: 'o'.repeat(32), url, timeoutMs: 500 } };
    const withHome = { ...other, 'home.example': { secret: 's'.repeat(32), url, timeoutMs: 500 } };
    gw = await startGateway(options({ realm: 'visit.example', peers: other }));
    expect(await pop3Login(gw.ports.pop3, 'bob@home.example', 'pw')).toMatch(/unknown realm home\.example/);
    expect((await gw.gateway.reload(options({ realm: 'visit.example', peers: withHome }))).changed).toEqual(['peers']);
    // Asked now: its home is out of reach, which is a temporary failure, not an unknown realm.
    expect(await pop3Login(gw.ports.pop3, 'bob@home.example', 'pw')).toMatch(/^-ERR \[SYS\/TEMP\]/);
    await gw.gateway.reload(options({ realm: 'visit.example', peers: other }));
    expect(await pop3Login(gw.ports.pop3, 'bob@home.example', 'pw')).toMatch(/unknown realm home\.example/);
  });

  test('an adapter added listens, one removed stops accepting; what needs a restart is named and kept', async () => {
    gw = await startGateway(options());
    const pop3 = gw.ports.pop3;
    const nntp = await refusedPort();
    const next = options({ adapters: { nntp: { port: nntp } }, mountPath: '/elsewhere' });
    const result = await gw.gateway.reload(next);
    expect(result.changed).toEqual(['adapters.nntp added', 'adapters.pop3 removed']);
    expect(result.restartNeeded).toEqual(['mountPath']);
    const client = await RawClient.open(nntp);
    // No nntp server in the table: the client hears the refusal in NNTP.
    await client.waitFor((text) => /^4\d\d /.test(text) || /^5\d\d /.test(text));
    client.close();
    await expect(RawClient.open(pop3)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(gw.logger.lines.some((line) => line.obj.event === 'reload-restart-needed')).toBe(true);
  });

  test('a port that cannot be bound fails the reload before anything changed', async () => {
    gw = await startGateway(options());
    const taken = gw.ports.pop3;
    const next = options({ adapters: { pop3: { port: 0, login: { allowCleartext: true } }, nntp: { port: taken } }, access: [] });
    await expect(gw.gateway.reload(next)).rejects.toMatchObject({
      code: 'ROAMGATE_INVALID_OPTIONS',
      message: /adapters\.nntp: cannot listen/,
    });
    // The rules were not touched: alice still gets in.
    expect(await pop3Login(gw.ports.pop3, 'alice', 'first-pw')).toMatch(/^\+OK/);
    expect(gw.logger.lines.find((line) => line.obj.event === 'reload-failed')?.obj.reason).toMatch(/adapters\.nntp: cannot listen/);
  });
});
