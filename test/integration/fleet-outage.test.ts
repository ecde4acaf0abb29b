import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../../plugin/password';
import { runCli } from '../helpers/cli';
import { callApi, startFleet } from '../helpers/fleet';
import { startPop3 } from '../helpers/line-servers';
import { RawClient } from '../helpers/net';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { until } from '../helpers/until';

jest.setTimeout(120_000);

const ADMIN = 'outage-admin-token-0123456789abcdef';
/** How long the database is away. */
const OUTAGE_MS = 10_000;
/** The longest any client may wait for an answer during the outage (ms): a temporary failure, never a hang. */
const ANSWER_WITHIN_MS = 4000;

let postgres: PostgresServer;
let upstream: Awaited<ReturnType<typeof startPop3>>;
beforeAll(async () => {
  postgres = await startPostgres();
  upstream = await startPop3('the outage upstream', { alice: 'alice-pw', carol: 'carol-pw' });
}, 60_000);
afterAll(async () => {
  await upstream?.close();
  await postgres?.close();
});

/** A POP3 dialogue through the gateway from `source`; resolves to the first line of every answer, or 'no answer' / 'closed'. */
async function pop3(port: number, source: string, lines: string[]): Promise<string[]> {
  const client = await RawClient.open(port, source);
  const answers: string[] = [];
  try {
    const answered = async (count: number) => {
      try {
        await client.waitFor((text) => (text.match(/\r\n/g) ?? []).length >= count, ANSWER_WITHIN_MS);
        return true;
      } catch {
        return false;
      }
    };
    if (!(await answered(1))) return ['no answer'];
    for (const [index, line] of lines.entries()) {
      client.send(`${line}\r\n`);
      if (!(await answered(index + 2))) break;
    }
    answers.push(...client.received.split('\r\n').filter(Boolean));
    return answers;
  } finally {
    client.close();
  }
}

test('PostgreSQL stopped for 10 s under load and started again: open relays go on, known leases work, what needs the database is refused as temporary at once, nobody exits, nothing written before is lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-outage-'));
  const url = await postgres.createDatabase();
  const yaml = [
    'http: { host: 127.0.0.1, port: 0 }',
    'log: { level: warn }',
    `adminToken: ${ADMIN}`,
    'session: { secret: outage-session-secret-0123456789abcdef }',
    'health: { enabled: false }',
    'login: { requireRights: false, cacheSeconds: 0 }',
    'users:',
    `  - { id: alice, passwordHash: "${await hashPassword('alice-pw')}" }`,
    'access:',
    '  - { subject: authenticated, service: pop3, allow: true }',
    'adapters:',
    '  pop3: { port: 0, login: { allowCleartext: true } }',
    'servers:',
    `  pop3: [{ host: 127.0.0.1, port: ${upstream.port} }]`,
  ];
  const fleet = await startFleet(dir, ['a', 'b'], { url }, yaml, ['pop3']);
  try {
    const [a, b] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]];
    // carol lives in the database (her logins need it); alice in the config file (hers do not).
    writeFileSync(join(dir, 'carol.pw'), 'carol-pw\n');
    expect(await runCli(['users', 'add', 'carol', '--config', join(dir, 'a.yaml'), '--password-file', join(dir, 'carol.pw')]).exited).toBe(
      0,
    );
    const login = await callApi(`${a.api}/login`, { body: { username: 'alice', password: 'alice-pw' } });
    expect(login.status).toBe(201);
    const lease = login.body.lease as { id: string };
    await until(
      async () => ((await callApi(`${b.api}/leases`, { token: ADMIN })).body.leases as unknown[]).length === 1,
      'the lease on B',
      2000,
    );
    // The audit trail is written in batches: wait for the login's event to be in the database.
    let auditBefore: Array<{ id: number; type: string }> = [];
    await until(
      async () => {
        auditBefore = (await callApi(`${b.api}/audit?limit=1000`, { token: ADMIN })).body.events as typeof auditBefore;
        return auditBefore.some((event) => event.type === 'login.success');
      },
      () => `the login in the audit trail (have ${auditBefore.map((event) => event.type)})`,
      5000,
      100,
    );

    // A relay open across the outage (alice by her lease on 127.0.0.1).
    const open = await RawClient.open(a.ports.pop3!);
    await open.waitFor((text) => text.includes('\r\n'));
    open.send('USER alice\r\nPASS alice-pw\r\n');
    await open.waitFor((text) => text.includes('logged in'));

    await postgres.stop();
    const stoppedAt = Date.now();
    const seen: Record<string, Record<string, number>> = { apiLogin: {}, leaseRelay: {}, storeUserPop3: {}, openRelay: {}, readyz: {} };
    const note = (what: string, outcome: string) => (seen[what]![outcome] = (seen[what]![outcome] ?? 0) + 1);
    const slowest: Record<string, number> = {};
    const readiness: Array<[number, string]> = [];
    const timed = async (what: string, run: () => Promise<string>) => {
      const started = Date.now();
      note(what, await run());
      slowest[what] = Math.max(slowest[what] ?? 0, Date.now() - started);
    };
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      await Promise.all([
        // A login through the API needs the database (the lease is written there): 503 at once.
        timed('apiLogin', async () =>
          String((await callApi(`${b.api}/login`, { body: { username: 'carol', password: 'carol-pw', bindAddress: false } })).status),
        ),
        // A new connection from alice's address: her lease is known to A, the table and the rules are in memory.
        timed('leaseRelay', async () => (await pop3(a.ports.pop3!, '127.0.0.1', ['STAT']))[0]!.slice(0, 3)),
        // carol logging in in POP3 from another address: her password is in the database, so a temporary failure.
        timed('storeUserPop3', async () => {
          const answers = await pop3(b.ports.pop3!, '127.0.0.2', ['USER carol', 'PASS carol-pw']);
          return answers[2] ?? answers[answers.length - 1]!;
        }),
        timed('openRelay', async () => {
          const before = open.received.length;
          open.send('STAT\r\n');
          await open.waitFor((text) => text.length > before && text.endsWith('\r\n'), ANSWER_WITHIN_MS);
          return open.received.slice(before).trim();
        }),
        timed('readyz', async () => {
          const status = String((await fetch(`${a.api}/readyz`)).status);
          readiness.push([Date.now() - stoppedAt, status]);
          return status;
        }),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    process.stdout.write(
      `during a ${OUTAGE_MS / 1000} s PostgreSQL outage the clients saw: ${JSON.stringify(seen)}; slowest answer (ms): ${JSON.stringify(slowest)}\n`,
    );
    for (const member of fleet.members) expect(member.cli.child.exitCode).toBeNull();
    expect(Object.keys(seen.apiLogin!)).toEqual(['503']);
    expect(Object.keys(seen.leaseRelay!)).toEqual(['+OK']);
    expect(Object.keys(seen.openRelay!)).toEqual(['+OK 0 0']);
    // Not ready from the first failed call on (the store learns of the outage by trying), and not ready until it is back.
    const firstNotReady = readiness.findIndex(([, status]) => status === '503');
    expect(readiness[firstNotReady]![0]).toBeLessThan(2000);
    expect(readiness.slice(firstNotReady).every(([, status]) => status === '503')).toBe(true);
    for (const answer of Object.keys(seen.storeUserPop3!)) expect(answer).toMatch(/^-ERR \[SYS\/TEMP\]/);
    for (const [what, ms] of Object.entries(slowest)) expect([what, ms < ANSWER_WITHIN_MS]).toEqual([what, true]);

    await postgres.start();
    const backAt = Date.now();
    for (const member of fleet.members)
      await until(async () => (await fetch(`${member.api}/readyz`)).status === 200, `${member.name} ready again`, 15_000, 100);
    process.stdout.write(`both gateways ready again ${Date.now() - backAt} ms after PostgreSQL was back\n`);
    // (alice's lease still holds 127.0.0.1: carol's is bound to no address.)
    expect((await callApi(`${b.api}/login`, { body: { username: 'carol', password: 'carol-pw', bindAddress: false } })).status).toBe(201);
    const leases = (await callApi(`${b.api}/leases`, { token: ADMIN })).body.leases as Array<{ id: string }>;
    expect(leases.map((each) => each.id)).toContain(lease.id);
    const auditAfter = (await callApi(`${b.api}/audit?limit=1000`, { token: ADMIN })).body.events as Array<{ id: number }>;
    expect(auditAfter.map((event) => event.id)).toEqual(expect.arrayContaining(auditBefore.map((event) => event.id)));
    // The relay opened before the outage is still alive.
    open.send('QUIT\r\n');
    await open.closed;
    expect(open.received).toContain('+OK bye');
    expect(a.cli.output()).toMatch(/store/);
  } finally {
    await fleet.stop();
  }
});
