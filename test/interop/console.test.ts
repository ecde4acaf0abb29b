import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hashPassword } from '../../plugin/password';
import { launchBrowser, type Browser } from '../helpers/browser';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { refusedPort } from '../helpers/net';
import { startServers, stopServers } from './helpers';

jest.setTimeout(120_000);

/**
 * The operator console in Chromium, against a real POP3 server (dovecot) and a real client (python's poplib): an
 * admin logs in, watches alice's POP3 session appear among the live relays, revokes her lease and sees the relay go
 * and the client cut, then adds a deny rule (the page states which open relay it closes first) and sees her next
 * connection refused. Each page is saved as a screenshot under ARTIFACTS.
 */

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'console');
/** alice's terminal: her lease is bound to this address, and poplib connects from it. */
const ALICE = '127.0.0.3';
const VISITOR = '127.0.0.5';
const PEER_SECRET = 'console-interop-peer-secret-0123456789';

/**
 * One poplib session from ALICE, held open: it logs in (USER/PASS, relayed to dovecot), says `ready <messages>`, then
 * answers each line on stdin with a STAT (`ok <messages>`) until the connection fails (`cut <error>`). A connection
 * refused at once says `refused <error>`.
 */
const POPLIB_SESSION = `
import poplib, socket, sys
class FromAlice(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, (sys.argv[2], 0))
try:
    pop = FromAlice('127.0.0.1', int(sys.argv[1]), timeout=10)
    pop.user('alice')
    pop.pass_('alice-pw')
except Exception as error:
    print('refused', error, flush=True)
    sys.exit(0)
print('ready', pop.stat()[0], flush=True)
for line in sys.stdin:
    try:
        print('ok', pop.stat()[0], flush=True)
    except Exception as error:
        print('cut', type(error).__name__, error, flush=True)
        break
`;

/** A running poplib session: `next()` is its next line. */
class PoplibSession {
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (this.waiting) this.waiting(line);
      else this.lines.push(line);
    });
  }
  static start(port: number): PoplibSession {
    return new PoplibSession(spawn('python3', ['-c', POPLIB_SESSION, String(port), ALICE]));
  }
  next(timeoutMs = 15_000): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('poplib said nothing')), timeoutMs);
      this.waiting = (said) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(said);
      };
    });
  }
  /** Sends a STAT through the session; resolves with what poplib said. */
  stat(): Promise<string> {
    this.child.stdin.write('stat\n');
    return this.next();
  }
  stop(): void {
    this.child.kill();
  }
}

/** POST /login (JSON) from `address`; resolves with the status. */
function loginFrom(gw: TestGateway, address: string, username: string, password: string): Promise<number> {
  const port = (gw.http!.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress: address,
        method: 'POST',
        path: '/roamgate/login',
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ username, password }));
  });
}

describe('the operator console in Chromium, with dovecot and poplib', () => {
  let env: Record<string, string>;
  let home: TestGateway;
  let gw: TestGateway;
  let browser: Browser | undefined;
  const sessions: PoplibSession[] = [];
  let console_: string;

  beforeAll(async () => {
    env = startServers();
    mkdirSync(ARTIFACTS, { recursive: true });
    process.stdout.write(`console screenshots: ${ARTIFACTS}\n`);
    home = await startGateway(
      {
        realm: 'home.example',
        users: [{ id: 'carol', passwordHash: await hashPassword('carol-pw') }],
        access: [{ subject: 'authenticated', service: '*', allow: true }],
        peers: { 'visited.example': { secret: PEER_SECRET } },
      },
      true,
    );
    const homeUrl = `http://127.0.0.1:${(home.http!.address() as AddressInfo).port}/roamgate`;
    gw = await startGateway(
      {
        realm: 'visited.example',
        users: [
          { id: 'root', passwordHash: await hashPassword('root-pw'), attributes: { role: 'admin' } },
          { id: 'alice', passwordHash: await hashPassword('alice-pw') },
        ],
        access: [{ subject: 'authenticated', service: 'pop3', allow: true }],
        servers: { pop3: [{ host: '127.0.0.1', port: Number(env.POP3_PORT_A) }] },
        adapters: { pop3: { port: 0 } },
        peers: {
          'home.example': { url: homeUrl, secret: PEER_SECRET },
          'down.example': { url: `http://127.0.0.1:${await refusedPort()}/roamgate`, secret: PEER_SECRET },
        },
        health: { enabled: true, intervalMs: 1000 },
      },
      true,
    );
    console_ = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate/console`;
    expect(await loginFrom(gw, ALICE, 'alice', 'alice-pw')).toBe(201);
    // The peers page has something to show: one home that answers, one that cannot be reached.
    await loginFrom(gw, VISITOR, 'carol@home.example', 'carol-pw');
    await loginFrom(gw, VISITOR, 'dave@down.example', 'dave-pw');
    browser = await launchBrowser();
    await browser.page.setViewportSize({ width: 1000, height: 700 });
  });

  afterAll(async () => {
    for (const session of sessions) session.stop();
    await browser?.close();
    await gw?.close();
    await home?.close();
    stopServers();
  });

  const shot = (name: string) => browser!.page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

  function poplib(): PoplibSession {
    const session = PoplibSession.start(gw.ports.pop3);
    sessions.push(session);
    return session;
  }

  test('log in, watch a POP3 relay appear, revoke its lease, see the relay gone and poplib cut; a deny rule refuses the next', async () => {
    const { page } = browser!;
    // Not logged in: the console sends the browser to the login page, and back after.
    await page.goto(`${console_}/servers`);
    await page.locator('#username').waitFor();
    await page.fill('#username', 'root');
    await page.fill('#password', 'root-pw');
    await Promise.all([page.waitForURL(`${console_}/servers`), page.click('button[type=submit]')]);
    await page.locator('tbody td.healthy', { hasText: 'healthy' }).waitFor({ timeout: 10_000 });
    await shot('servers');

    await page.goto(`${console_}/relays`);
    await page.locator('td.empty', { hasText: 'No open relay' }).waitFor();
    const first = poplib();
    expect(await first.next()).toMatch(/^ready \d+$/);
    // The page is not reloaded: its live table shows the relay within a refresh or two.
    const row = page.locator('tbody tr', { hasText: 'alice' });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toMatch(/alice\s*pop3\s*127\.0\.0\.3:\d+\s*127\.0\.0\.1:\d+/);
    expect(await first.stat()).toMatch(/^ok \d+$/);
    await shot('relays');

    await page.goto(`${console_}/leases`);
    const lease = page.locator('tbody tr', { hasText: 'alice' });
    await shot('leases');
    await Promise.all([page.waitForURL(`${console_}/leases`), lease.getByRole('button', { name: 'Revoke' }).click()]);
    await page.goto(`${console_}/relays`);
    await page.locator('td.empty', { hasText: 'No open relay' }).waitFor();
    expect(await first.stat()).toMatch(/^cut /);

    // alice logs in again and reads her mail; the admin denies her POP3, and the rules page says what that closes.
    expect(await loginFrom(gw, ALICE, 'alice', 'alice-pw')).toBe(201);
    const second = poplib();
    expect(await second.next()).toMatch(/^ready \d+$/);
    await page.goto(`${console_}/rules`);
    await page.fill('input[name=subject]', 'user:alice');
    await page.fill('input[name=service]', 'pop3');
    await page.selectOption('select[name=effect]', 'deny');
    await page.fill('input[name=reason]', 'no mail for alice today');
    await Promise.all([page.waitForURL(`${console_}/rules/preview`), page.getByRole('button', { name: 'Show the effect…' }).click()]);
    expect(await page.locator('#effect').textContent()).toMatch(/^This closes 1 open relay: alice pop3 from 127\.0\.0\.3:\d+\.$/);
    await shot('rules');
    await Promise.all([page.waitForURL(`${console_}/rules`), page.getByRole('button', { name: 'Confirm' }).click()]);
    expect(await page.locator('tbody tr', { hasText: 'user:alice' }).textContent()).toContain('deny');
    expect(await second.stat()).toMatch(/^cut /);
    expect(await poplib().next()).toMatch(/^refused .*-ERR.*no mail for alice today/);

    await page.goto(`${console_}/audit?actor=root`);
    for (const type of ['rule.added', 'lease.revoked']) await page.locator('tbody td', { hasText: type }).first().waitFor();
    await shot('audit');
    await page.goto(`${console_}/peers`);
    expect(await page.locator('tbody tr', { hasText: 'home.example' }).textContent()).toContain('HTTP 200, signed');
    expect(await page.locator('tbody tr', { hasText: 'down.example' }).textContent()).toContain('cannot be reached');
    await shot('peers');
  });

  test('on a phone-sized screen every page fits its width (wide tables scroll in their own box)', async () => {
    const { page } = browser!;
    await page.setViewportSize({ width: 390, height: 844 });
    for (const name of ['servers', 'relays', 'leases', 'rules', 'audit', 'peers']) {
      await page.goto(`${console_}/${name}`);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    }
    await shot('phone-peers');
  });
});
