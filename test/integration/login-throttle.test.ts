import request from 'supertest';
import { DEFAULT_LOGIN_PER_USER_DELAY_MS } from '../../plugin/defaults';
import { hashPassword } from '../../plugin/password';
import { ManualClock } from '../helpers/clock';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { startPop3 } from '../helpers/line-servers';
import { RawClient } from '../helpers/net';

jest.setTimeout(90_000);

const ADMIN = 'admin-token-for-tests-0123456789';
const RULES = [{ subject: 'authenticated', service: 'pop3', allow: true }];

let users: Array<{ id: string; passwordHash: string; attributes: Record<string, string> }>;
let upstream: Awaited<ReturnType<typeof startPop3>>;
beforeAll(async () => {
  users = [
    { id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} },
    { id: 'bob', passwordHash: await hashPassword('bob-pw'), attributes: { role: 'admin' } },
  ];
  upstream = await startPop3('upstream', { alice: 'alice-pw', bob: 'bob-pw' });
});
afterAll(() => upstream.close());

/** Logs in over POP3 from `source` (a loopback address) and returns the gateway's answer to PASS. */
async function pop3Login(port: number, source: string, user: string, password: string): Promise<string> {
  const client = await RawClient.open(port, source);
  try {
    await client.waitFor((received) => received.includes('\r\n'), 20_000);
    client.send(`USER ${user}\r\nPASS ${password}\r\n`);
    // Greeting, the answer to USER, the answer to PASS.
    const text = await client.waitFor((received) => (received.match(/\r\n/g) ?? []).length >= 3, 20_000);
    return text.split('\r\n')[2];
  } finally {
    client.close();
  }
}

async function pop3Gateway(extra: Parameters<typeof startGateway>[0] = {}): Promise<TestGateway> {
  return startGateway({
    users,
    adminToken: ADMIN,
    access: RULES,
    adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
    servers: { pop3: [{ host: '127.0.0.1', port: upstream.port }] },
    ...extra,
  });
}

describe('login throttle, through in-protocol POP3 logins on real sockets', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  test('20 clients at a time logging in as one user with the right password, every password checked: none is refused', async () => {
    // cacheSeconds 0: every login pays the password check, so many are in flight at once (as after the cache expires).
    gw = await pop3Gateway({ login: { cacheSeconds: 0 } });
    const port = gw.ports.pop3;
    const total = 200;
    const answers: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        answers.push(await pop3Login(port, '127.0.0.1', 'alice', 'alice-pw'));
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    const refused = answers.filter((answer) => !answer.startsWith('+OK'));
    expect(refused).toEqual([]);
    expect(answers).toHaveLength(total);
  });

  test('wrong passwords for bob from one address lock bob out there only: his right password works from elsewhere, after at most the per-user pause', async () => {
    const clock = new ManualClock();
    gw = await pop3Gateway({ clock });
    const port = gw.ports.pop3;
    const attacker = '127.0.0.2';
    for (let index = 0; index < 5; index++) expect(await pop3Login(port, attacker, 'bob', `guess-${index}`)).toMatch(/^-ERR \[AUTH\]/);
    // bob's own address: five failures for him from elsewhere slow him by one step, and never refuse him.
    const started = performance.now();
    expect(await pop3Login(port, '127.0.0.3', 'bob', 'bob-pw')).toMatch(/^\+OK/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(DEFAULT_LOGIN_PER_USER_DELAY_MS - 50);
    // At the attacker's address, bob is refused (the right password too), and the refusal is audited once per wait.
    expect(await pop3Login(port, attacker, 'bob', 'bob-pw')).toMatch(/^-ERR \[AUTH\] too many failed logins, try again in \d+ s/);
    expect(await pop3Login(port, attacker, 'bob', 'bob-pw')).toMatch(/too many failed logins/);
    const audit = await request(gw.app).get('/roamgate/audit?type=login.throttled').set('Authorization', `Bearer ${ADMIN}`).expect(200);
    expect(
      audit.body.events.filter((event: { actor: string; address: string }) => event.actor === 'bob' && event.address === attacker),
    ).toHaveLength(1);
    // Other users from the attacker's address are not refused until the address has used its own allowance.
    expect(await pop3Login(port, attacker, 'alice', 'alice-pw')).toMatch(/^\+OK/);
    // The window ends: bob may log in from there again.
    clock.advance(900_000);
    expect(await pop3Login(port, attacker, 'bob', 'bob-pw')).toMatch(/^\+OK/);
  });

  test('an address that sprays wrong passwords across user names is throttled; the users themselves are not', async () => {
    gw = await pop3Gateway();
    const port = gw.ports.pop3;
    const attacker = '127.0.0.4';
    for (let index = 0; index < 20; index++) expect(await pop3Login(port, attacker, `user${index}`, 'guess')).toMatch(/^-ERR \[AUTH\]/);
    expect(await pop3Login(port, attacker, 'alice', 'alice-pw')).toMatch(/too many failed logins/);
    expect(await pop3Login(port, attacker, 'user0', 'guess')).toMatch(/too many failed logins/);
    expect(await pop3Login(port, '127.0.0.5', 'alice', 'alice-pw')).toMatch(/^\+OK/);
  });
});
