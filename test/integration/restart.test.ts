import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../../plugin/password';
import { runCli, waitForOutput } from '../helpers/cli';
import { callApi as call } from '../helpers/fleet';
import { RawClient, listenTcp } from '../helpers/net';

jest.setTimeout(30_000);

const ADMIN = 'restart-admin-token-0123456789';
const SECRET = 'restart-registration-secret-0123';

/** Gateways started here: one a failed expectation left running is killed after the test (else Jest could never exit). */
const started = new Set<ReturnType<typeof runCli>>();
afterEach(() => {
  for (const cli of started) if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
  started.clear();
});

async function start(config: string) {
  const cli = runCli(['serve', '--config', config]);
  started.add(cli);
  const api = (await waitForOutput(cli.output, /management API on (http:\/\/127\.0\.0\.1:\d+\/roamgate)/))[1];
  const smtpPort = Number((await waitForOutput(cli.output, /smtp adapter on 127\.0\.0\.1:(\d+)/))[1]);
  return { cli, api, smtpPort };
}

async function stop(running: Awaited<ReturnType<typeof start>>) {
  running.cli.child.kill('SIGTERM');
  expect(await running.cli.exited).toBe(0);
}

/** Logs in on the login page as a browser would; returns the session cookie (name=value). */
async function pageLogin(api: string, username: string, password: string): Promise<string> {
  const cookieOf = (res: Response) => /^(roamgate\.sid=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const page = await fetch(`${api}/login`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const pageCookie = cookieOf(page)!;
  const done = await fetch(`${api}/login`, {
    method: 'POST',
    headers: { cookie: pageCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password, _csrf: csrf }).toString(),
  });
  expect(done.status).toBe(200);
  return cookieOf(done) ?? pageCookie;
}

test('a gateway stopped and started on the same SQLite file keeps the lease, the login page session, the API rule and the registration, and they work', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-restart-'));
  const registered = await listenTcp((socket) => socket.end('220 the registered server\r\n'));
  const config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    [
      'http: { host: 127.0.0.1, port: 0 }',
      'log: { level: warn }',
      'store: { path: state.db }',
      `adminToken: ${ADMIN}`,
      `registration: { secret: ${SECRET} }`,
      'session: { secret: restart-session-secret-0123456789abcdef }',
      'health: { enabled: false }',
      // The rights come from an API rule added below: the login before it must still get its lease.
      'login: { requireRights: false }',
      'users:',
      `  - { id: alice, passwordHash: "${await hashPassword('alice-pw')}", attributes: { department: sales } }`,
      'adapters:',
      '  smtp: { port: 0 }',
      '',
    ].join('\n'),
  );
  try {
    const first = await start(config);
    const login = await call(`${first.api}/login`, { body: { username: 'alice', password: 'alice-pw' } });
    expect(login.status).toBe(201);
    const token = login.body.token as string;
    const rule = await call(`${first.api}/access/rules`, {
      token: ADMIN,
      body: { subject: 'user:alice', service: 'smtp', allow: true, reason: 'alice may send' },
    });
    expect(rule.status).toBe(201);
    const registration = await call(`${first.api}/servers/register`, {
      body: { secret: SECRET, service: 'smtp', host: '127.0.0.1', port: registered.port, ttlSeconds: 3600 },
    });
    expect(registration.status).toBe(201);
    const session = await pageLogin(first.api, 'alice', 'alice-pw');
    const mine = async (api: string) => fetch(`${api}/leases`, { headers: { cookie: session } });
    expect((await mine(first.api)).status).toBe(200);
    await stop(first);

    const second = await start(config);
    try {
      // Her two leases: the API login's and the login page's.
      const aliceLease = expect.objectContaining({ userId: 'alice', address: '127.0.0.1' });
      expect((await call(`${second.api}/leases`, { token })).body.leases).toEqual([aliceLease, aliceLease]);
      // The login page session is still alice's (kept in the store, the cookie signed with the same secret).
      const afterRestart = await mine(second.api);
      expect(afterRestart.status).toBe(200);
      expect(((await afterRestart.json()) as { leases: unknown[] }).leases).toEqual([aliceLease, aliceLease]);
      expect((await call(`${second.api}/access/rules`, { token: ADMIN })).body.rules).toEqual([
        expect.objectContaining({ id: rule.body.id, subject: 'user:alice', origin: 'api' }),
      ]);
      expect((await call(`${second.api}/servers`, { token: ADMIN })).body.servers).toEqual([
        expect.objectContaining({ origin: 'registered', port: registered.port }),
      ]);
      // And they work together: this address is alice's by her lease, the API rule lets her use smtp,
      // and the registered server is the one she reaches.
      const client = await RawClient.open(second.smtpPort);
      await client.closed;
      expect(client.received).toBe('220 the registered server\r\n');
    } finally {
      await stop(second);
    }
  } finally {
    await registered.close();
  }
});
