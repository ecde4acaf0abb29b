import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OLD_SPACE_FLOOR_MB } from '../../bin/heap-tuning';
import { hashPassword } from '../../plugin/password';
import { runCli, waitForOutput } from '../helpers/cli';
import { callApi, startFleet, type FleetStore } from '../helpers/fleet';
import { startPop3 } from '../helpers/line-servers';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { RawClient } from '../helpers/net';
import { until } from '../helpers/until';

jest.setTimeout(90_000);

const ADMIN = 'fleet-admin-token-0123456789abcdef';
const SECRET = 'fleet-registration-secret-0123456789';

let upstream: Awaited<ReturnType<typeof startPop3>>;
let yaml: string[];
beforeAll(async () => {
  upstream = await startPop3('the fleet upstream', { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' });
  yaml = [
    'http: { host: 127.0.0.1, port: 0 }',
    'log: { level: warn }',
    `adminToken: ${ADMIN}`,
    `registration: { secret: ${SECRET} }`,
    'session: { secret: fleet-session-secret-0123456789abcdef }',
    'health: { enabled: false }',
    'login: { requireRights: false }',
    'users:',
    `  - { id: alice, passwordHash: "${await hashPassword('alice-pw')}" }`,
    `  - { id: bob, passwordHash: "${await hashPassword('bob-pw')}" }`,
    'access:',
    '  - { subject: authenticated, service: pop3, allow: true }',
    'adapters:',
    // Six connections per address for the whole fleet (loopback counted: the tests' clients are on it).
    '  pop3: { port: 0, login: { allowCleartext: true }, maxClientsPerAddress: 6, loopbackExempt: false }',
    'servers:',
    `  pop3: [{ host: 127.0.0.1, port: ${upstream.port} }]`,
  ];
});
afterAll(() => upstream.close());

/** One PostgreSQL server (Debian's) for the whole file: each fleet gets a database of its own. */
let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);
afterAll(() => postgres?.close());

/** The stores a fleet is tried on. */
const stores: Array<[string, () => Promise<FleetStore>]> = [
  ['one SQLite file', async () => ({ path: join(mkdtempSync(join(tmpdir(), 'roamgate-fleet-')), 'fleet.db') })],
  ['PostgreSQL', async () => ({ url: await postgres.createDatabase() })],
];

describe.each(stores)('three gateway processes on %s', (_kind, storeOf) => {
  let fleet: Awaited<ReturnType<typeof startFleet>>;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roamgate-fleet-cfg-'));
    fleet = await startFleet(dir, ['a', 'b', 'c'], await storeOf(), yaml, ['pop3']);
  });
  afterAll(() => fleet?.stop());
  // One address, one user: each test starts with no lease on 127.0.0.1.
  afterEach(async () => {
    if (!fleet) return;
    // Revoked wherever listed (a lease issued an instant ago may not have reached the others yet), until none is left.
    const left = async () => {
      let count = 0;
      for (const member of fleet.members) {
        for (const lease of (await callApi(`${member.api}/leases`, { token: ADMIN })).body.leases as Array<{ id: string }>) {
          count++;
          await callApi(`${member.api}/leases/${lease.id}`, { method: 'DELETE', token: ADMIN });
        }
      }
      return count === 0;
    };
    await until(left, 'no lease left', 3000, 100);
  });

  test('a login on A is a lease on B; a revoke on B cuts a live POP3 relay on A within 1 s; a rule added on C refuses the next connection on A', async () => {
    const [a, b, c] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0], (typeof fleet.members)[0]];
    const login = await callApi(`${a.api}/login`, { body: { username: 'alice', password: 'alice-pw' } });
    expect(login.status).toBe(201);
    const leaseId = (login.body.lease as { id: string }).id;
    // B knows the lease: its admin lists it, and it identifies alice on B's adapter.
    await until(
      async () =>
        ((await callApi(`${b.api}/leases`, { token: ADMIN })).body.leases as Array<{ id: string }>).some((lease) => lease.id === leaseId),
      'the lease issued on A listed on B',
      2000,
    );

    const client = await RawClient.open(a.ports.pop3!);
    await client.waitFor((text) => text.includes('\r\n'));
    client.send('USER alice\r\nPASS alice-pw\r\nSTAT\r\n');
    await client.waitFor((text) => text.includes('+OK 0 0'));
    const revokedAt = Date.now();
    expect((await callApi(`${b.api}/leases/${leaseId}`, { method: 'DELETE', token: ADMIN })).status).toBe(204);
    await client.closed;
    const cutMs = Date.now() - revokedAt;
    process.stdout.write(`fleet (${_kind}): a revoke on B cut the relay on A after ${cutMs} ms\n`);
    expect(cutMs).toBeLessThan(1000);

    // A rule added on C: alice may no longer use pop3; A refuses her next connection in POP3.
    const again = await callApi(`${a.api}/login`, { body: { username: 'alice', password: 'alice-pw' } });
    expect(again.status).toBe(201);
    const rule = await callApi(`${c.api}/access/rules`, {
      token: ADMIN,
      body: { subject: 'user:alice', service: 'pop3', allow: false, reason: 'alice is off pop3' },
    });
    expect(rule.status).toBe(201);
    const ruleAt = Date.now();
    let answer = '';
    await until(
      async () => {
        const next = await RawClient.open(a.ports.pop3!);
        try {
          // A connection A admitted just before the rule reached it is cut by the rule without a word: look again.
          answer = await Promise.race([next.waitFor((text) => text.includes('\r\n')), next.closed.then(() => next.received)]);
        } catch (error) {
          // What A said meanwhile, to tell a stalled gateway from a slow test machine.
          throw new Error(`${(error as Error).message}\nA's output: ${a.cli.output()}`);
        } finally {
          next.close();
        }
        return answer.startsWith('-ERR');
      },
      () => `A refusing alice after the rule on C (last answer ${answer})`,
      2000,
      50,
    );
    process.stdout.write(`fleet (${_kind}): a rule added on C refused the next connection on A after ${Date.now() - ruleAt} ms\n`);
    expect(answer).toContain('alice is off pop3');
  });

  test('a login page session made on A is good on B, and ended on A it is gone on B', async () => {
    const [a, b] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]];
    const cookieOf = (res: Response) => /^(roamgate\.sid=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
    const page = await fetch(`${a.api}/login`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const done = await fetch(`${a.api}/login`, {
      method: 'POST',
      headers: { cookie: cookieOf(page)!, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'bob', password: 'bob-pw', _csrf: csrf }).toString(),
    });
    expect(done.status).toBe(200);
    const cookie = cookieOf(done) ?? cookieOf(page)!;
    expect((await fetch(`${b.api}/leases`, { headers: { cookie } })).status).toBe(200);
    const token = ((await (await fetch(`${a.api}/csrf`, { headers: { cookie } })).json()) as { csrfToken: string }).csrfToken;
    expect((await fetch(`${a.api}/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': token } })).status).toBe(204);
    expect((await fetch(`${b.api}/leases`, { headers: { cookie } })).status).toBe(401);
  });

  test("a registration on A is in B and C's tables within 1 s", async () => {
    const [a, b, c] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0], (typeof fleet.members)[0]];
    const registered = await callApi(`${a.api}/servers/register`, {
      body: { secret: SECRET, service: 'pop3', host: '127.0.0.1', port: 4110, ttlSeconds: 3600 },
    });
    expect(registered.status).toBe(201);
    for (const other of [b, c])
      await until(
        async () =>
          ((await callApi(`${other.api}/servers`, { token: ADMIN })).body.servers as Array<{ port: number }>).some((s) => s.port === 4110),
        `the registration on A in ${other.name}'s table`,
        1000,
        50,
      );
  });

  test("a local proxy on B's event stream hears of a lease revoked on A, and of a server registered on A", async () => {
    const [a, b] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]];
    const login = await callApi(`${a.api}/login`, { body: { username: 'bob', password: 'bob-pw' } });
    expect(login.status).toBe(201);
    const token = login.body.token as string;
    const leaseId = (login.body.lease as { id: string }).id;
    // The stream is opened on B with the lease A issued, as a local proxy that found B would.
    let events = '';
    await until(
      async () => (await fetch(`${b.api}/leases`, { headers: { Authorization: `Bearer ${token}` } })).status === 200,
      'the lease known on B',
      2000,
    );
    const stream = await fetch(`${b.api}/events`, { headers: { Authorization: `Bearer ${token}` } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const reading = (async () => {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) events += Buffer.from(chunk.value).toString();
    })();
    await until(() => events.includes('event: ping'), 'the first ping', 2000);
    const registered = await callApi(`${a.api}/servers/register`, {
      body: { secret: SECRET, service: 'pop3', host: '127.0.0.1', port: 4111, ttlSeconds: 3600 },
    });
    expect(registered.status).toBe(201);
    await until(
      () => events.includes('event: servers'),
      () => `a servers event on B (got ${events})`,
      1000,
    );
    expect((await callApi(`${a.api}/leases/${leaseId}`, { method: 'DELETE', token: ADMIN })).status).toBe(204);
    await reading;
    expect(events).toContain('event: lease\ndata: {"state":"revoked"}');
  });

  test('a real local proxy following B hears that A revoked its lease: its client is cut, and it logs in again (through B)', async () => {
    const [a, b] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]];
    writeFileSync(join(dir, 'bob.pw'), 'bob-pw\n');
    const listen = ['smtp', 'pop3', 'imap', 'nntp', 'http-proxy', 'pac'].flatMap((name) => ['--listen', `${name}=0`]);
    const env = { ...process.env };
    delete env.ROAMGATE_PASSWORD;
    const local = runCli(
      [
        'local',
        '--gateway',
        b.api,
        '--user',
        'bob',
        '--password-file',
        join(dir, 'bob.pw'),
        '--state-dir',
        join(dir, 'local-state'),
        ...listen,
      ],
      env,
    );
    try {
      await waitForOutput(local.output, /roamgate: ready/, 20_000);
      const port = Number(/roamgate: pop3 +127\.0\.0\.1:(\d+) /.exec(local.output())![1]);
      const client = await RawClient.open(port);
      await client.waitFor((text) => text.includes('\r\n'));
      client.send('USER bob\r\nPASS bob-pw\r\nSTAT\r\n');
      await client.waitFor((text) => text.includes('+OK 0 0'));
      // The lease B issued, as A knows it (through the change feed).
      let bobs: Array<{ id: string; userId: string }> = [];
      await until(
        async () => {
          const leases = (await callApi(`${a.api}/leases`, { token: ADMIN })).body.leases as typeof bobs;
          bobs = leases.filter((lease) => lease.userId === 'bob');
          return bobs.length === 1;
        },
        "bob's lease known on A",
        2000,
        50,
      );
      const revokedAt = Date.now();
      expect((await callApi(`${a.api}/leases/${bobs[0]!.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(204);
      await client.closed;
      await waitForOutput(local.output, /revoked the lease of bob/, 2000);
      process.stdout.write(
        `fleet (${_kind}): a revoke on A reached the local proxy on B and cut its client after ${Date.now() - revokedAt} ms\n`,
      );
      await waitForOutput(local.output, /logged in as bob[^\n]*\n(.|\n)*logged in as bob/, 5000);
    } finally {
      local.child.kill('SIGTERM');
      await local.exited;
    }
  });

  test('a user disabled by `roamgate users disable` (another process) loses their relay on A within 1 s', async () => {
    const [a] = fleet.members as [(typeof fleet.members)[0]];
    const passwordFile = join(dir, 'carol.pw');
    writeFileSync(passwordFile, 'carol-pw\n');
    const config = join(dir, 'a.yaml');
    const added = runCli(['users', 'add', 'carol', '--config', config, '--password-file', passwordFile]);
    expect(await added.exited).toBe(0);
    const login = await callApi(`${a.api}/login`, { body: { username: 'carol', password: 'carol-pw' } });
    expect(login.status).toBe(201);
    const client = await RawClient.open(a.ports.pop3!);
    await client.waitFor((text) => text.includes('\r\n'));
    client.send('USER carol\r\nPASS carol-pw\r\nSTAT\r\n');
    await client.waitFor((text) => text.includes('+OK 0 0'));
    const disabled = runCli(['users', 'disable', 'carol', '--config', config]);
    expect(await disabled.exited).toBe(0);
    // The CLI has written and exited: from here, A has a second.
    const disabledAt = Date.now();
    await client.closed;
    const cutMs = Date.now() - disabledAt;
    process.stdout.write(`fleet (${_kind}): carol disabled by another process, her relay on A cut ${cutMs} ms after it exited\n`);
    expect(cutMs).toBeLessThan(1000);
  });

  test('the per-address cap holds for the fleet: three connections held on A and three on B, the seventh is refused on either', async () => {
    const [a, b] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]];
    const held: RawClient[] = [];
    try {
      for (const member of [a, a, a, b, b, b]) {
        const client = await RawClient.open(member.ports.pop3!, '127.0.0.5');
        await client.waitFor((text) => text.includes('\r\n'));
        held.push(client);
      }
      for (const member of [a, b]) {
        let answer = '';
        await until(
          async () => {
            const next = await RawClient.open(member.ports.pop3!, '127.0.0.5');
            answer = await next.waitFor((text) => text.includes('\r\n'));
            next.close();
            return /too many connections from your address/.test(answer);
          },
          () => `${member.name} refusing the seventh (last answer ${answer})`,
          2000,
          50,
        );
      }
      // Another address is not held to 127.0.0.5's places.
      const other = await RawClient.open(a.ports.pop3!, '127.0.0.6');
      expect(await other.waitFor((text) => text.includes('\r\n'))).not.toMatch(/too many/);
      other.close();
    } finally {
      for (const client of held) client.close();
    }
    // Given back: once the others hear it, a new connection from 127.0.0.5 is let in again.
    await until(
      async () => {
        const next = await RawClient.open(b.ports.pop3!, '127.0.0.5');
        const answer = await next.waitFor((text) => text.includes('\r\n'));
        next.close();
        return !/too many/.test(answer);
      },
      'a place for 127.0.0.5 again',
      2000,
      50,
    );
  });

  test('six wrong passwords spread over A and B are throttled as one: the sixth is refused wherever it goes', async () => {
    const [a, b] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]];
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const member = attempt % 2 === 0 ? a : b;
      statuses.push((await callApi(`${member.api}/login`, { body: { username: 'mallory', password: `guess-${attempt}` } })).status);
      // Sequential guesses, each heard by the other gateway before the next (the feed's delay).
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    // B saw three of them itself; the fleet saw six: five allowed (per user and address), the sixth refused.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await callApi(`${a.api}/login`, { body: { username: 'mallory', password: 'again' } })).status).toBe(429);
  });

  test('wrong registration secrets spread over A, B and C are counted as one: past the allowance (10) every gateway answers 429', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++) {
      const member = fleet.members[attempt % 3]!;
      const body = { secret: `wrong-secret-${attempt}-0123456789`, service: 'pop3', host: '127.0.0.1', port: 4112, ttlSeconds: 60 };
      statuses.push((await callApi(`${member.api}/servers/register`, { body })).status);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(statuses).toEqual([...Array(10).fill(403), 429]);
    for (const member of fleet.members)
      expect(
        (
          await callApi(`${member.api}/servers/register`, {
            body: { secret: SECRET, service: 'pop3', host: '127.0.0.1', port: 4112, ttlSeconds: 60 },
          })
        ).status,
      ).toBe(429);
  });
});

describe.each(stores)('`serve --workers 2` on %s', (_kind, storeOf) => {
  let fleet: Awaited<ReturnType<typeof startFleet>>;
  beforeAll(async () => {
    // Round robin, so that the relays below are spread over both workers for certain (by default the kernel picks).
    process.env.NODE_CLUSTER_SCHED_POLICY = 'rr';
    fleet = await startFleet(mkdtempSync(join(tmpdir(), 'roamgate-workers-')), ['w'], await storeOf(), yaml, ['pop3'], ['--workers', '2']);
  });
  afterAll(async () => {
    delete process.env.NODE_CLUSTER_SCHED_POLICY;
    await fleet?.stop();
  });

  test('a revoke cuts relays held by both workers within 1 s, a rule added refuses the next connections on both', async () => {
    const [w] = fleet.members as [(typeof fleet.members)[0]];
    const login = await callApi(`${w.api}/login`, { body: { username: 'alice', password: 'alice-pw' } });
    expect(login.status).toBe(201);
    const leaseId = (login.body.lease as { id: string }).id;
    // Node's cluster hands connections to the workers in turn: four relays, two on each.
    const clients = [];
    for (let n = 0; n < 4; n++) {
      const client = await RawClient.open(w.ports.pop3!);
      await client.waitFor((text) => text.includes('\r\n'));
      client.send('USER alice\r\nPASS alice-pw\r\nSTAT\r\n');
      await client.waitFor((text) => text.includes('+OK 0 0'));
      clients.push(client);
    }
    const revokedAt = Date.now();
    expect((await callApi(`${w.api}/leases/${leaseId}`, { method: 'DELETE', token: ADMIN })).status).toBe(204);
    await Promise.all(clients.map((client) => client.closed));
    const cutMs = Date.now() - revokedAt;
    process.stdout.write(`workers (${_kind}): a revoke cut 4 relays on 2 workers after ${cutMs} ms\n`);
    expect(cutMs).toBeLessThan(1000);

    expect((await callApi(`${w.api}/login`, { body: { username: 'alice', password: 'alice-pw' } })).status).toBe(201);
    const rule = await callApi(`${w.api}/access/rules`, {
      token: ADMIN,
      body: { subject: 'user:alice', service: 'pop3', allow: false, reason: 'alice is off pop3' },
    });
    expect(rule.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let n = 0; n < 4; n++) {
      const next = await RawClient.open(w.ports.pop3!);
      expect(await next.waitFor((text) => text.includes('\r\n'))).toMatch(/^-ERR .*alice is off pop3/);
      next.close();
    }
  });

  test('a worker killed is logged and started again; SIGTERM to the primary drains every worker and exits 0', async () => {
    const [w] = fleet.members as [(typeof fleet.members)[0]];
    const workers = () =>
      execFileSync('pgrep', ['-P', String(w.cli.child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map(Number);
    const before = workers();
    expect(before).toHaveLength(2);
    // The workers relay: they run with V8's old-space floor (bin/heap-tuning.ts).
    const floor = `--initial-old-space-size=${OLD_SPACE_FLOOR_MB}`;
    const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const pid of before) expect(commandLine(pid)).toContain(floor);
    process.kill(before[0]!, 'SIGKILL');
    await until(
      () => /"event":"worker-exit"/.test(w.cli.output()),
      () => `the primary logging the exit: ${w.cli.output()}`,
      5000,
    );
    await until(
      () => {
        try {
          const now = workers();
          return now.length === 2 && !now.includes(before[0]!);
        } catch {
          return false;
        }
      },
      'a new worker in its place',
      5000,
      50,
    );
    // The worker started in its place has the floor too.
    for (const pid of workers()) expect(commandLine(pid)).toContain(floor);
    // The gateway still serves.
    const answer = await RawClient.open(w.ports.pop3!);
    expect(await answer.waitFor((text) => text.includes('\r\n'))).toMatch(/^[+-]/);
    answer.close();
    w.cli.child.kill('SIGTERM');
    expect(await w.cli.exited).toBe(0);
    expect(() => workers()).toThrow();
  });
});
