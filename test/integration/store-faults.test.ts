import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../../plugin/password';
import { roamgate } from '../../plugin/roamgate';
import { openSqliteStore } from '../../store/sqlite-store';
import { runCli, waitForOutput } from '../helpers/cli';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { startPop3 } from '../helpers/line-servers';
import { listenTcp, RawClient } from '../helpers/net';
import { idle, until } from '../helpers/until';
import { IMMUTABLE_FLAG_WORKS, makeImmutable, makeUnwritable, UNWRITABLE_BY } from '../helpers/unwritable';

/*
 * The store side of the fault suite: the store's files made unwritable, deleted or
 * corrupted under a running gateway with live logins and relays, and the -shm disturbed
 * under a gateway process (which died of SIGBUS). Each test shows what the clients see
 * and what the store keeps.
 */

jest.setTimeout(30_000);

const ADMIN = 'store-faults-admin-token-0123';
const PASSWORDS = { carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' };
const TEMPORARY_LOGIN_FAILURE = '-ERR [SYS/TEMP] the login cannot be checked right now; try again later';

let hashes: Record<string, string>;
beforeAll(async () => {
  hashes = Object.fromEntries(await Promise.all(Object.entries(PASSWORDS).map(async ([id, pw]) => [id, await hashPassword(pw)])));
});

async function call(url: string, init: { token?: string; body?: unknown } = {}) {
  const res = await fetch(url, {
    method: init.body ? 'POST' : 'GET',
    headers: {
      ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
      ...(init.body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json().catch(() => null)) as Record<string, unknown>,
  };
}

/**
 * Logs in over POP3 in the client's own protocol, from 127.0.0.2: not the address of the
 * API logins' leases, which would identify it. Returns the client and the answer to PASS.
 */
async function pop3Login(port: number, user: string, password: string): Promise<{ client: RawClient; answer: string }> {
  const client = await RawClient.open(port, '127.0.0.2');
  await client.waitFor((text) => text.startsWith('+OK'));
  client.send(`USER ${user}\r\n`);
  await client.waitFor((text) => text.split('\r\n').length > 2);
  const before = client.received.length;
  client.send(`PASS ${password}\r\n`);
  const text = await client.waitFor((all) => all.slice(before).includes('\r\n'));
  return { client, answer: text.slice(before).split('\r\n')[0]! };
}

/** Sends a line through an open relay to the echo server and waits for it back. */
async function echoes(relay: RawClient, line: string): Promise<void> {
  relay.send(`${line}\r\n`);
  await relay.waitFor((text) => text.includes(line));
}

/** A gateway on a store file of its own, with users carol, dave and erin in the store, a POP3 server and an echo server behind it. */
async function gatewayOnStore() {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-store-faults-'));
  const path = join(dir, 'store.db');
  const store = openSqliteStore(path, { checkIntervalMs: 50 });
  for (const id of Object.keys(PASSWORDS))
    await store.users.put({ id, passwordHash: hashes[id]!, attributes: {}, disabled: false, createdAt: 1, updatedAt: 1 });
  const pop3 = await startPop3('upstream pop3', PASSWORDS);
  const echo = await listenTcp((socket) => {
    socket.write('220 echo\r\n');
    socket.on('data', (chunk) => socket.write(chunk));
  });
  const gw: TestGateway = await startGateway(
    {
      store,
      adminToken: ADMIN,
      shutdownGraceMs: 100,
      // Every login asks the store: none is answered from the login cache.
      login: { cacheSeconds: 0 },
      access: [
        { subject: 'anonymous', service: 'smtp', allow: true },
        { subject: 'authenticated', service: '*', allow: true },
      ],
      adapters: { smtp: { port: 0 }, pop3: { port: 0, login: { allowCleartext: true } } },
      servers: { smtp: [{ host: '127.0.0.1', port: echo.port }], pop3: [{ host: '127.0.0.1', port: pop3.port }] },
    },
    true,
  );
  const api = `http://127.0.0.1:${(gw.http!.address() as { port: number }).port}/roamgate`;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await gw.close();
      await store.close();
      await pop3.close();
      await echo.close();
    })());
  return { dir, path, store, gw, api, pop3, close };
}
type Running = Awaited<ReturnType<typeof gatewayOnStore>>;

/**
 * Opens live relays and checks logins work, applies `fault`, then checks what every test
 * here expects: one loud error line, not ready, the store's refusals as temporary errors in
 * each client's protocol, and the relays opened before still relaying. Returns the relays.
 */
async function faultWithLiveTraffic(running: Running, fault: () => void, problem: string) {
  const { gw, api, store } = running;
  const smtpRelay = await RawClient.open(gw.ports.smtp!);
  await echoes(smtpRelay, 'before the fault');
  const carol = await pop3Login(gw.ports.pop3!, 'carol', PASSWORDS.carol);
  expect(carol.answer).toBe('+OK Logged in');
  expect(running.pop3.logins).toEqual(['carol']);
  expect((await call(`${api}/login`, { body: { username: 'erin', password: PASSWORDS.erin } })).status).toBe(201);

  fault();
  await until(
    () => gw.logger.lines.some((line) => line.level === 'error' && line.obj.event === 'store-unusable'),
    () => `an error line about the store; logged: ${JSON.stringify(gw.logger.lines.map((line) => line.msg))}`,
  );
  // Not ready, as a /readyz would read it.
  expect(store.health()).toMatchObject({ ok: false, problem });

  // What needs the store is refused as a temporary failure, in each client's protocol.
  const login = await call(`${api}/login`, { body: { username: 'erin', password: PASSWORDS.erin } });
  expect(login).toMatchObject({ status: 503, retryAfter: '5', body: { problem } });
  expect(login.body.error).toMatch(/^the gateway cannot use its store now: .*; try again later$/);
  expect(JSON.stringify(login.body)).not.toContain(running.dir);
  expect((await call(`${api}/audit`, { token: ADMIN })).status).toBe(503);
  const dave = await pop3Login(gw.ports.pop3!, 'dave', PASSWORDS.dave);
  expect(dave.answer).toBe(TEMPORARY_LOGIN_FAILURE);
  await dave.client.closed;

  // Relays already open keep going: they need no store.
  await echoes(smtpRelay, 'during the fault');
  carol.client.send('STAT\r\n');
  await carol.client.waitFor((text) => text.endsWith('+OK 0 0\r\n'));

  await idle(300, 'several checks find the same problem: no second error line');
  const errors = gw.logger.lines.filter((line) => line.level === 'error' && line.obj.event === 'store-unusable');
  expect(errors).toHaveLength(1);
  expect(errors[0]!.msg).toContain('The gateway is not ready');
  return { smtpRelay, carol: carol.client };
}

// The gateway of the test running on a store file, closed and removed after it.
let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  if (running) rmSync(running.dir, { recursive: true, force: true });
  running = undefined;
});

(UNWRITABLE_BY ? test : test.skip)(
  `store made unwritable (${UNWRITABLE_BY ?? 'nothing can, as root without CAP_LINUX_IMMUTABLE'}): refused while it is; writable again, the held audit events are written`,
  async () => {
    running = await gatewayOnStore();
    const { gw, api, path, store } = running;
    const undo: Array<() => void> = [];
    try {
      const relays = await faultWithLiveTraffic(
        running,
        () => undo.push(makeUnwritable(path), makeUnwritable(join(path, '..'))),
        'unwritable',
      );
      expect(gw.logger.lines.find((line) => line.obj.event === 'store-unusable')!.msg).toMatch(
        /is not writable by this process \((EACCES|EPERM)\)/,
      );
      // A relay that ends now is recorded: its audit event is held in memory.
      relays.smtpRelay.close();
      await gw.logger.waitForRecords(2);
    } finally {
      for (const restore of undo.reverse()) restore();
    }
    await until(() => store.health().ok, 'the store usable again');
    expect(gw.logger.lines.some((line) => line.obj.event === 'store-usable')).toBe(true);
    expect((await call(`${api}/login`, { body: { username: 'erin', password: PASSWORDS.erin } })).status).toBe(201);
    // What the store keeps: the connections of the outage, written once it could take them.
    const audit = await call(`${api}/audit?type=connection`, { token: ADMIN });
    expect(audit.status).toBe(200);
    const services = (audit.body.events as Array<{ detail: { service: string; outcome: string } }>).map((event) => event.detail);
    expect(services).toEqual(expect.arrayContaining([expect.objectContaining({ service: 'smtp', outcome: 'relayed' })]));
  },
);

test('store files deleted while running: refused, not written into a file nobody will open again; the restart starts empty, as the log said', async () => {
  running = await gatewayOnStore();
  const { gw, path } = running;
  await faultWithLiveTraffic(
    running,
    () => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix);
    },
    'vanished',
  );
  expect(gw.logger.lines.find((line) => line.obj.event === 'store-unusable')!.msg).toMatch(
    /was deleted or moved while the gateway runs .*lost at restart/,
  );
  await running.close();
  const after = openSqliteStore(path);
  expect(await after.users.list()).toEqual([]);
  await after.close();
});

test('store header overwritten while running: refused; the gateway will not start on the file, naming it and the fix', async () => {
  running = await gatewayOnStore();
  const { path } = running;
  await faultWithLiveTraffic(
    running,
    () => {
      // As SQLite does every 1000 pages: the -wal copied into the file, so that the file alone holds the header.
      const other = new Database(path);
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.close();
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.alloc(100, 0x41), 0, 100, 0);
      closeSync(fd);
    },
    'corrupt',
  );
  await running.close();
  expect(existsSync(path)).toBe(true);
  expect(() => roamgate({ store: { path } })).toThrow(
    expect.objectContaining({
      code: 'ROAMGATE_INVALID_OPTIONS',
      message: expect.stringMatching(/^store\.path: .*restore it from a backup/),
    }),
  );
});

(UNWRITABLE_BY ? test : test.skip)(
  `a store that cannot be written at start (its -wal, ${UNWRITABLE_BY}): serve exits with status 2 naming the file and the fix, instead of 500s later`,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-start-'));
    const path = join(dir, 'state.db');
    const store = openSqliteStore(path);
    await store.users.put({ id: 'erin', passwordHash: hashes.erin!, attributes: {}, disabled: false, createdAt: 1, updatedAt: 1 });
    // Left by a process that did not close the store: the -wal and -shm stay.
    const leftBehind = new Database(path);
    leftBehind.prepare('SELECT count(*) FROM users').get();
    await store.close();
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      ['http: { host: 127.0.0.1, port: 0 }', 'store: { path: state.db }', 'adapters: { smtp: { port: 0 } }', ''].join('\n'),
    );
    const undo = makeUnwritable(`${path}-wal`);
    try {
      const cli = runCli(['serve', '--config', config]);
      expect(await cli.exited).toBe(2);
      expect(cli.output()).toMatch(
        new RegExp(
          `^roamgate: ${config}: store\\.path: ${path}-wal is not writable by this process \\((EACCES|EPERM)\\): .*(chown|chattr)`,
        ),
      );
    } finally {
      undo();
      leftBehind.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

describe('a gateway process whose -shm is disturbed (it died of SIGBUS, with no log line)', () => {
  async function serve() {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-shm-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      [
        'http: { host: 127.0.0.1, port: 0 }',
        'log: { level: info }',
        'store: { path: state.db, checkIntervalMs: 100 }',
        'health: { enabled: false }',
        `users: [{ id: erin, passwordHash: "${hashes.erin}" }]`,
        'access: [{ subject: authenticated, service: "*", allow: true }]',
        'adapters: { smtp: { port: 0 } }',
        '',
      ].join('\n'),
    );
    const cli = runCli(['serve', '--config', config]);
    const api = (await waitForOutput(cli.output, /management API on (http:\/\/127\.0\.0\.1:\d+\/roamgate)/))[1]!;
    // A gateway killed by SIGBUS just closes its sockets: say so rather than "fetch failed".
    const login = () =>
      call(`${api}/login`, { body: { username: 'erin', password: PASSWORDS.erin } }).catch(async (error: unknown) => {
        await Promise.race([cli.exited, idle(1000, 'a dying process exits within a second')]);
        throw new Error(`the gateway is gone (exit code ${cli.child.exitCode}, signal ${cli.child.signalCode})`, { cause: error });
      });
    const alive = () => cli.child.exitCode === null && cli.child.signalCode === null;
    return { dir, shm: join(dir, 'state.db-shm'), path: join(dir, 'state.db'), cli, login, alive };
  }

  test('-shm truncated: the gateway gives it its size back before SQLite touches it, says so, and loses nothing', async () => {
    const gateway = await serve();
    try {
      expect((await gateway.login()).status).toBe(201);
      truncateSync(gateway.shm, 0);
      expect((await gateway.login()).status).toBe(201);
      expect(gateway.alive()).toBe(true);
      await waitForOutput(gateway.cli.output, /"event":"store-unusable".*was truncated by another program/);
      await waitForOutput(gateway.cli.output, /"event":"store-usable"/);
      gateway.cli.child.kill('SIGTERM');
      expect(await gateway.cli.exited).toBe(0);
      const store = openSqliteStore(gateway.path);
      expect(await store.leases.listLive(Date.now())).toHaveLength(2);
      await store.close();
    } finally {
      gateway.cli.child.kill('SIGKILL');
      rmSync(gateway.dir, { recursive: true, force: true });
    }
  });

  (IMMUTABLE_FLAG_WORKS ? test : test.skip)(
    '-shm made immutable (chattr +i, as root): refused, never touched; writable again, usable; stopped while immutable, it exits cleanly',
    async () => {
      const gateway = await serve();
      let undo: () => void = () => undefined;
      try {
        expect((await gateway.login()).status).toBe(201);
        undo = makeImmutable(gateway.shm);
        expect(await gateway.login()).toMatchObject({ status: 503, body: { problem: 'unwritable' } });
        expect(gateway.alive()).toBe(true);
        await waitForOutput(
          gateway.cli.output,
          /"level":50.*"event":"store-unusable".*state\.db-shm is not writable by this process \(EPERM\)/,
        );
        undo();
        await waitForOutput(gateway.cli.output, /"event":"store-usable"/);
        expect((await gateway.login()).status).toBe(201);
        undo = makeImmutable(gateway.shm);
        gateway.cli.child.kill('SIGTERM');
        expect(await gateway.cli.exited).toBe(0);
        expect(gateway.cli.output()).toContain('the database was left open, since closing it would crash the process (SIGBUS)');
      } finally {
        undo();
        gateway.cli.child.kill('SIGKILL');
        rmSync(gateway.dir, { recursive: true, force: true });
      }
    },
  );
});
