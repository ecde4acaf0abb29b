import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signRequest } from '../../protocols/peer-signature';
import { UNVERIFIED_PEER_REQUEST } from '../../plugin/routes/peer-routes';
import { runCli, waitForOutput } from '../helpers/cli';
import { until } from '../helpers/until';
import { bodyOf, deliveredMail, python, pythonFrom, startServers, stopServers } from './helpers';

jest.setTimeout(120_000);

/**
 * examples/roaming/ as it is shipped: alice's home gateway (dovecot holds her
 * mailbox, inn2 her news) and the gateway of the network she visits (opensmtpd
 * is its relay), each a `roamgate serve` process, with python's clients and the
 * local proxy in front.
 */
const EXAMPLE = join(__dirname, '..', '..', 'examples', 'roaming');
const HOME_API = 'http://127.0.0.1:8180/roamgate';
const VISITED_API = 'http://127.0.0.1:8280/roamgate';
const VISITED = { smtp: '2625', pop3: '1210', nntp: '1219' };
const SHARED_SECRET = 'change-this-home-and-visit-shared-secret-0123456789';
const VISITED_ADMIN_TOKEN = 'change-this-visited-admin-token';
// A machine at the visited network where alice logs in in her clients' own protocols.
const DESK = '127.0.0.5';

function send(url: string, method: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForApi(url: string, output: () => string): Promise<void> {
  const up = async () => (await send(`${url}/discover`, 'GET', '').catch(() => null))?.status === 200;
  await until(up, () => `${url} to come up: ${output()}`, 20_000, 100);
}

/** Server addresses of either network, as they would appear if leaked. */
const SERVER_ADDRESS = /(127\.0\.0\.1:|"port":\s*|port )(21110|21111|21119|21025)\b/;
/** The home network's servers only (the visited admin may see the visited relay). */
const HOME_SERVER_ADDRESS = /(127\.0\.0\.1:|"port":\s*|port )(21110|21111|21119)\b/;

describe('roaming walk-through: alice from home.example at visit.example, with real servers and clients', () => {
  let env: Record<string, string>;
  let work: string;
  let home: ReturnType<typeof runCli>;
  let visited: ReturnType<typeof runCli>;
  let local: ReturnType<typeof runCli> | undefined;

  beforeAll(async () => {
    env = startServers();
    // The example names the servers on the ports the interop servers use.
    expect([env.POP3_PORT_A, env.NNTP_PORT, env.SMTP_PORT]).toEqual(['21110', '21119', '21025']);
    work = mkdtempSync(join(tmpdir(), 'roamgate-roaming-'));
    for (const file of ['home.yaml', 'visited.yaml']) copyFileSync(join(EXAMPLE, file), join(work, file));
    home = runCli(['serve', '--config', join(work, 'home.yaml')]);
    visited = runCli(['serve', '--config', join(work, 'visited.yaml')]);
    await waitForApi(HOME_API, home.output);
    await waitForApi(VISITED_API, visited.output);
  });

  afterAll(async () => {
    for (const process of [local, visited, home]) {
      if (process && process.child.exitCode === null) {
        process.child.kill('SIGTERM');
        await process.exited;
      }
    }
    stopServers();
  });

  test('at a visited machine, poplib logs in as alice@home.example and reads her home mailbox exactly as dovecot serves it', async () => {
    const viaVisited = await pythonFrom<{ greeting: string; count: number; messages: string[][] }>(
      DESK,
      'pop3',
      '127.0.0.1',
      VISITED.pop3,
      'alice@home.example',
      'alice-pw',
    );
    const direct = await python<{ count: number; messages: string[][] }>('pop3', '127.0.0.1', env.POP3_PORT_A, 'alice', 'alice-pw');
    expect(viaVisited.count).toBeGreaterThan(0);
    expect(viaVisited.messages).toEqual(direct.messages);
    // The visited gateway greets; dovecot's greeting never reaches the client.
    expect(viaVisited.greeting).not.toMatch(/Dovecot/);
  });

  test('smtplib sends through the visited relay (opensmtpd), logged in as alice@home.example', async () => {
    const messageId = `<roaming-${Date.now()}@visit.example>`;
    const file = join(work, 'mail.eml');
    writeFileSync(
      file,
      `From: alice@home.example\r\nTo: bob@example.test\r\nSubject: from the visited network\r\nMessage-ID: ${messageId}\r\n\r\nsent while visiting\r\n`,
    );
    const sent = await pythonFrom<{ refused?: object; exception?: string }>(
      DESK,
      'smtp-auth',
      '127.0.0.1',
      VISITED.smtp,
      'alice@home.example',
      'alice-pw',
      'alice@home.example',
      'bob@example.test',
      file,
    );
    expect(sent).toEqual(expect.objectContaining({ refused: {} }));
    expect(bodyOf(await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId)).toString()).toBe('sent while visiting\n');
  });

  test('nntplib reads her home news (inn2) through the visited gateway', async () => {
    const viaVisited = await pythonFrom<{ name?: string; article?: string[]; exception?: string }>(
      DESK,
      'nntp-auth-read',
      '127.0.0.1',
      VISITED.nntp,
      'alice@home.example',
      'alice-pw',
      'local.test',
      env.NNTP_SEED_MSGID,
    );
    const direct = await python<{ article: string[] }>('nntp-read', '127.0.0.1', env.NNTP_PORT, 'local.test', env.NNTP_SEED_MSGID);
    expect(viaVisited.name).toBe('local.test');
    expect(viaVisited.article).toEqual(direct.article);
  });

  test('through the local proxy (roamgate local, gateway mode): unmodified clients read home mail and news and send through the visited relay', async () => {
    const state = join(work, 'local-state');
    local = runCli(
      [
        'local',
        '--gateway',
        VISITED_API,
        '--user',
        'alice@home.example',
        '--state-dir',
        state,
        '--listen',
        'smtp=0',
        '--listen',
        'pop3=0',
        '--listen',
        'imap=0',
        '--listen',
        'nntp=0',
        '--listen',
        'http-proxy=0',
        '--listen',
        'pac=0',
      ],
      { ...process.env, ROAMGATE_PASSWORD: 'alice-pw' },
    );
    await waitForOutput(local.output, /roamgate: ready/, 20_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${local!.output()}`);
    });
    const port = (service: string) => new RegExp(`^roamgate: ${service} +127\\.0\\.0\\.1:(\\d+) gateway`, 'm').exec(local!.output())![1];

    // The mail client logs in to its mailbox as it would at home: the login goes through both gateways to dovecot.
    const mail = await python<{ count: number; messages: string[][] }>('pop3', '127.0.0.1', port('pop3'), 'alice', 'alice-pw');
    const direct = await python<{ messages: string[][] }>('pop3', '127.0.0.1', env.POP3_PORT_A, 'alice', 'alice-pw');
    expect(mail.messages).toEqual(direct.messages);

    const news = await python<{ name?: string }>('nntp-read', '127.0.0.1', port('nntp'), 'local.test', env.NNTP_SEED_MSGID);
    expect(news.name).toBe('local.test');

    const messageId = `<roaming-local-${Date.now()}@visit.example>`;
    const file = join(work, 'local.eml');
    writeFileSync(
      file,
      `From: alice@home.example\r\nTo: bob@example.test\r\nSubject: via the local proxy\r\nMessage-ID: ${messageId}\r\n\r\nfrom the laptop\r\n`,
    );
    expect(await python('smtp', '127.0.0.1', port('smtp'), 'alice@home.example', 'bob@example.test', file)).toEqual(
      expect.objectContaining({ refused: {} }),
    );
    expect(bodyOf(await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId)).toString()).toBe('from the laptop\n');

    // Nothing the terminal was told names a server of either network.
    expect(local.output()).not.toMatch(SERVER_ADDRESS);
  });

  test('refusals: unknown realm, wrong home password, forged and replayed peer requests', async () => {
    const unknown = await pythonFrom<{ command?: string; error?: string }>(
      DESK,
      'pop3-login',
      '127.0.0.1',
      VISITED.pop3,
      'alice@nowhere.example',
      'alice-pw',
    );
    expect(unknown).toMatchObject({
      command: 'PASS',
      error: '-ERR [AUTH] unknown realm nowhere.example: this gateway trusts no home gateway for it',
    });

    const wrong = await pythonFrom<{ command?: string; error?: string }>(
      DESK,
      'pop3-login',
      '127.0.0.1',
      VISITED.pop3,
      'alice@home.example',
      'not-alice-pw',
    );
    expect(wrong).toMatchObject({ command: 'PASS', error: expect.stringMatching(/^-ERR \[AUTH\] /) });

    const path = '/roamgate/federation/verify';
    const body = JSON.stringify({ username: 'alice', password: 'alice-pw' });
    const forged = await send(
      `${HOME_API}/federation/verify`,
      'POST',
      body,
      signRequest('a-guess-at-the-secret-that-is-long-enough-000', { peer: 'visit.example', method: 'POST', path, body }, Date.now()),
    );
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.text)).toEqual({ error: UNVERIFIED_PEER_REQUEST });

    const signed = signRequest(SHARED_SECRET, { peer: 'visit.example', method: 'POST', path, body }, Date.now());
    const first = await send(`${HOME_API}/federation/verify`, 'POST', body, signed);
    expect(first.status).toBe(200);
    expect(first.text).not.toMatch(SERVER_ADDRESS);
    const replayed = await send(`${HOME_API}/federation/verify`, 'POST', body, signed);
    expect(replayed.status).toBe(409);
    expect(replayed.text).toMatch(/replayed request/);
  });

  test("a visited rule denying alice's department news: nntplib sees 502 with the reason", async () => {
    const rule = await send(
      `${VISITED_API}/access/rules`,
      'POST',
      JSON.stringify({ subject: 'department=sales', service: 'nntp', allow: false, reason: 'news is closed to sales visitors here' }),
      { authorization: `Bearer ${VISITED_ADMIN_TOKEN}` },
    );
    expect(rule.status).toBe(201);
    const refused = await pythonFrom<{ exception?: string; message?: string }>(
      DESK,
      'nntp-auth-read',
      '127.0.0.1',
      VISITED.nntp,
      'alice@home.example',
      'alice-pw',
      'local.test',
      env.NNTP_SEED_MSGID,
    );
    expect(refused.exception).toBe('NNTPPermanentError');
    expect(refused.message).toBe('502 news is closed to sales visitors here');
  });

  test('nothing the visited gateway stores or answers holds a home server address', async () => {
    const login = await send(`${VISITED_API}/login`, 'POST', JSON.stringify({ username: 'alice@home.example', password: 'alice-pw' }));
    expect(login.status).toBe(201);
    const { token } = JSON.parse(login.text) as { token: string };
    const discover = await send(`${VISITED_API}/discover`, 'GET', '', { authorization: `Bearer ${token}` });
    const leases = await send(`${VISITED_API}/leases`, 'GET', '', { authorization: `Bearer ${VISITED_ADMIN_TOKEN}` });
    const audit = await send(`${VISITED_API}/audit?limit=1000`, 'GET', '', { authorization: `Bearer ${VISITED_ADMIN_TOKEN}` });
    expect(leases.text).toContain('alice@home.example');
    // The terminal's answer names no server of either network; the visited admin's views name none of home's.
    expect(discover.text).not.toMatch(SERVER_ADDRESS);
    for (const answer of [leases, audit]) expect(answer.text).not.toMatch(HOME_SERVER_ADDRESS);
    for (const file of ['visited.db', 'visited.db-wal']) {
      const path = join(work, file);
      if (existsSync(path)) expect(readFileSync(path).toString('latin1')).not.toMatch(/(21110|21111|21119)\b/);
    }
  });

  test('home down: home-routed services refuse with the reason, the visited relay keeps working', async () => {
    home.child.kill('SIGTERM');
    await home.exited;
    const pop = await pythonFrom<{ command?: string; error?: string }>(
      DESK,
      'pop3-login',
      '127.0.0.1',
      VISITED.pop3,
      'alice@home.example',
      'alice-pw',
    );
    expect(pop.error).toBe('-ERR [SYS/TEMP] home gateway home.example cannot be reached; pop3 from there is unavailable');

    const messageId = `<roaming-home-down-${Date.now()}@visit.example>`;
    const file = join(work, 'down.eml');
    writeFileSync(
      file,
      `From: alice@home.example\r\nTo: bob@example.test\r\nSubject: home is down\r\nMessage-ID: ${messageId}\r\n\r\nstill sending\r\n`,
    );
    const sent = await pythonFrom<{ refused?: object }>(
      DESK,
      'smtp-auth',
      '127.0.0.1',
      VISITED.smtp,
      'alice@home.example',
      'alice-pw',
      'alice@home.example',
      'bob@example.test',
      file,
    );
    expect(sent).toEqual(expect.objectContaining({ refused: {} }));
    expect(bodyOf(await deliveredMail(env.SMTP_MAILDIR, 'bob', messageId)).toString()).toBe('still sending\n');
  });
});
