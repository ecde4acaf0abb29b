import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { parse as parseYaml } from 'yaml';
import { hashPassword } from '../../plugin/password';
import { runCli as run, waitForOutput } from '../helpers/cli';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

const ROOT = join(__dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ADMIN_TOKEN = 'admin-token-from-the-environment';
const REGISTRATION_SECRET = 'registration-secret-from-a-file';
const PEER_SECRET = 'peer-secret-from-a-file-0123456789abcdef';
const SERVER_PASSWORD = 'server-password-from-the-env';

describe('roamgate --version, <command> --help, check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-cli-ops-'));
  const write = (name: string, lines: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };

  test('--version prints the version in package.json', async () => {
    const cli = run(['--version']);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toBe(`${VERSION}\n`);
  });

  test.each([
    [['serve', '--help'], /usage: roamgate serve --config FILE/],
    [['check', '--help'], /usage: roamgate check --config FILE/],
    [['users', '--help'], /roamgate users add ID/],
    [['users', 'add', '--help'], /roamgate users add ID/],
    [['users', 'list', '-h'], /users list {12}every user/],
    [['users', 'hash', '--help'], /users hash/],
    [['local', '--help'], /roamgate local \[--gateway URL\]/],
    [['local', '--forget-network', 'x', '--help'], /--forget-network NAME/],
    [['local', 'status', '--help'], /roamgate local status/],
    [['store', '--help'], /roamgate store copy --from FILE --to URL/],
    [['store', 'copy', '--help'], /roamgate store copy --from FILE --to URL/],
    [['reload', '--help'], /roamgate reload --pid PID/],
  ])('%j prints its help on stdout and exits 0', async (args, pattern) => {
    const cli = run(args);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toMatch(pattern);
    expect(cli.stderr()).toBe('');
  });

  test('check prints the effective config of examples/gateway.yaml, defaults filled in, secrets masked', async () => {
    const cli = run(['check', '--config', join(ROOT, 'examples', 'gateway.yaml')]);
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe('');
    const effective = parseYaml(cli.stdout());
    expect(effective.adminToken).toBe('***');
    expect(effective.registration.secret).toBe('***');
    expect(effective.health).toEqual({ enabled: true, intervalMs: 10_000, timeoutMs: 3000 });
    expect(effective.adapters.smtp).toMatchObject({ port: 2525, host: '127.0.0.1', connectTimeoutMs: expect.any(Number) });
    expect(effective.http).toEqual({ host: '127.0.0.1', port: 8080, trustProxy: false });
    expect(effective.servers.smtp).toEqual([{ host: '127.0.0.1', port: 25025, priority: 10 }]);
    expect(cli.stdout()).not.toMatch(/change-this/);
  });

  test('check reads secrets from the environment and files, and never prints them', async () => {
    writeFileSync(join(dir, 'registration.secret'), `${REGISTRATION_SECRET}\n`);
    writeFileSync(join(dir, 'peer.secret'), PEER_SECRET);
    const file = write('secrets.yaml', [
      'adminToken: { env: RG_TEST_ADMIN_TOKEN }',
      'registration: { secret: { file: registration.secret } }',
      'realm: home.example',
      'peers:',
      '  visit.example: { secret: { file: peer.secret } }',
      'session: { secret: { env: RG_TEST_SESSION_SECRET } }',
      'web: { assertionSecret: { env: RG_TEST_SESSION_SECRET } }',
      'store: { url: { env: RG_TEST_STORE_URL } }',
      'servers:',
      '  pop3: [ { host: 127.0.0.1, port: 110, credentials: { username: relay, password: { env: RG_TEST_SERVER_PASSWORD } } } ]',
    ]);
    const env = {
      ...process.env,
      RG_TEST_ADMIN_TOKEN: ADMIN_TOKEN,
      RG_TEST_SESSION_SECRET: 'session-secret-from-the-environment-0123',
      RG_TEST_SERVER_PASSWORD: SERVER_PASSWORD,
      RG_TEST_STORE_URL: `postgres://roamgate:${SERVER_PASSWORD}@127.0.0.1:5432/roamgate`,
    };
    const cli = run(['check', '--config', file], env);
    expect(await cli.exited).toBe(0);
    const effective = parseYaml(cli.stdout());
    expect(effective.peers['visit.example'].secret).toBe('***');
    expect(effective.session.secret).toBe('***');
    expect(effective.web.assertionSecret).toBe('***');
    expect(effective.servers.pop3[0].credentials).toEqual({ username: 'relay', password: '***' });
    expect(effective.store.url).toBe('***');
    for (const secret of [ADMIN_TOKEN, REGISTRATION_SECRET, PEER_SECRET, SERVER_PASSWORD, 'session-secret-from']) {
      expect(cli.output()).not.toContain(secret);
    }
  });

  test('check lists every problem with its path on stderr and exits 2; an unset variable or a missing file names it, not a value', async () => {
    const file = write('bad.yaml', [
      'http: { port: -1 }',
      'adaptors: {}',
      'adminToken: short',
      'adapters:',
      '  smtp: { port: abc }',
      '  pop3: { port: 99999 }',
      'servers:',
      '  nntp: [ { host: 127.0.0.1, port: 99999 } ]',
      'registration: { secret: { env: RG_TEST_UNSET_VARIABLE } }',
      'session: { secret: { file: no-such-secret-file } }',
      'store: { url: { file: no-such-url-file } }',
    ]);
    const env = { ...process.env, RG_TEST_UNSET_VARIABLE: '' };
    const cli = run(['check', '--config', file], env);
    expect(await cli.exited).toBe(2);
    expect(cli.stdout()).toBe('');
    const lines = cli.stderr().trimEnd().split('\n');
    expect(lines[0]).toBe(`roamgate: ${file}: 9 problems`);
    expect(lines.slice(1).map((line) => line.trim().split(':')[0])).toEqual(
      expect.arrayContaining([
        'http.port',
        'adaptors',
        'adminToken',
        'adapters.smtp.port',
        'adapters.pop3.port',
        'servers.nntp.0.port',
        'registration.secret',
        'session.secret',
        'store.url',
      ]),
    );
    expect(cli.stderr()).toContain('registration.secret: the environment variable RG_TEST_UNSET_VARIABLE is not set');
    expect(cli.stderr()).toContain(`session.secret: cannot read the secret file ${join(dir, 'no-such-secret-file')} (ENOENT)`);
    expect(cli.stderr()).not.toContain('short');
  });

  test('check reports a problem across options (the first one) after zod found none', async () => {
    const file = write('clash.yaml', ['adapters:', '  smtp: { port: 2525 }', '  pop3: { port: 2525 }']);
    const cli = run(['check', '--config', file]);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toMatch(/1 problem\n {2}adapters\.smtp\.port: 2525 is also adapters\.pop3\.port/);
  });

  test('check without --config is a usage error', async () => {
    const cli = run(['check']);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toMatch(/check needs --config FILE/);
  });
});

describe('roamgate serve: logs on stdout, secrets from the environment and files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-serve-logs-'));

  async function serveAndRelay(extra: string[], env: NodeJS.ProcessEnv) {
    const upstream = await startSmtpUpstream('logs upstream');
    writeFileSync(join(dir, 'registration.secret'), `${REGISTRATION_SECRET}\n`);
    const file = join(dir, `gateway-${Math.random()}.yaml`);
    writeFileSync(
      file,
      [
        'http: { host: 127.0.0.1, port: 0 }',
        'adminToken: { env: RG_TEST_ADMIN_TOKEN }',
        'registration: { secret: { file: registration.secret } }',
        'adapters:',
        '  smtp: { port: 0 }',
        `servers: { smtp: [ { host: 127.0.0.1, port: ${upstream.port} } ] }`,
        'access: [ { subject: anonymous, service: smtp, allow: true } ]',
        ...extra,
        '',
      ].join('\n'),
    );
    const cli = run(['serve', '--config', file], env);
    try {
      const api = (await waitForOutput(cli.stderr, /management API on (http:\/\/127\.0\.0\.1:\d+\/roamgate)/))[1];
      const smtp = Number((await waitForOutput(cli.stderr, /smtp adapter on 127\.0\.0\.1:(\d+)/))[1]);
      const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: smtp, secure: false, ignoreTLS: true });
      await mailer.sendMail({ from: 'a@example.test', to: 'b@example.test', subject: 'logs', text: 'hello' });
      const servers = await fetch(`${api}/servers`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      const wrongToken = await fetch(`${api}/servers`, { headers: { Authorization: 'Bearer not-the-admin-token' } });
      const registered = await fetch(`${api}/servers/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ secret: REGISTRATION_SECRET, service: 'smtp', host: '127.0.0.1', port: upstream.port + 1 }),
      });
      await waitForOutput(cli.stdout, /relayed|"outcome"/);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      return { cli, status: { servers: servers.status, wrongToken: wrongToken.status, registered: registered.status } };
    } finally {
      cli.child.kill('SIGKILL');
      await upstream.close();
    }
  }

  test('stdout carries only JSON lines, the lines for people go to stderr; the secrets work', async () => {
    const { cli, status } = await serveAndRelay(['log: { level: info }'], { ...process.env, RG_TEST_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(status).toEqual({ servers: 200, wrongToken: 401, registered: 201 });
    const lines = cli.stdout().trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.map((line) => JSON.parse(line).service)).toContain('smtp');
    expect(cli.stderr()).toMatch(/^roamgate: management API on /m);
    expect(cli.stderr()).toMatch(/^roamgate: SIGTERM, closing/m);
    expect(cli.output()).not.toContain(ADMIN_TOKEN);
    expect(cli.output()).not.toContain(REGISTRATION_SECRET);
  });

  test('log.pretty: true writes pino-pretty lines, not JSON', async () => {
    const { cli } = await serveAndRelay(['log: { level: info, pretty: true }'], { ...process.env, RG_TEST_ADMIN_TOKEN: ADMIN_TOKEN });
    const lines = cli.stdout().trimEnd().split('\n');
    expect(lines.some((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(roamgate\/\d+\): /.test(line))).toBe(true);
    for (const line of lines) expect(() => JSON.parse(line)).toThrow();
  });

  test("a server's credentials in the watched servers file, from a file: the gateway logs in there with them", async () => {
    const upstream = await startSmtpUpstream({ users: { relay: SERVER_PASSWORD } });
    writeFileSync(join(dir, 'relay.secret'), `${SERVER_PASSWORD}\n`);
    writeFileSync(
      join(dir, 'servers.yaml'),
      `smtp: [ { host: 127.0.0.1, port: ${upstream.port}, credentials: { username: relay, password: { file: relay.secret } } } ]\n`,
    );
    const file = join(dir, 'credentials.yaml');
    writeFileSync(
      file,
      [
        'http: { host: 127.0.0.1, port: 0 }',
        'serversFile: servers.yaml',
        'adapters: { smtp: { port: 0, login: { allowCleartext: true } } }',
        `users: [ { id: alice, passwordHash: "${await hashPassword('alice-password-1')}" } ]`,
        'access: [ { subject: authenticated, service: smtp, allow: true } ]',
        '',
      ].join('\n'),
    );
    const cli = run(['serve', '--config', file]);
    try {
      const smtp = Number((await waitForOutput(cli.stderr, /smtp adapter on 127\.0\.0\.1:(\d+)/))[1]);
      const mailer = nodemailer.createTransport({
        host: '127.0.0.1',
        port: smtp,
        secure: false,
        ignoreTLS: true,
        auth: { user: 'alice', pass: 'alice-password-1' },
      });
      await mailer.sendMail({ from: 'alice@example.test', to: 'b@example.test', subject: 'credentials', text: 'hello' });
      expect(upstream.logins).toEqual(['relay']);
      expect(cli.output()).not.toContain(SERVER_PASSWORD);
    } finally {
      cli.child.kill('SIGKILL');
      await upstream.close();
    }
    writeFileSync(
      join(dir, 'servers.yaml'),
      'smtp: [ { host: 127.0.0.1, port: 1, credentials: { username: r, password: { env: RG_TEST_UNSET } } } ]\n',
    );
    const problem = `serversFile: server file ${join(dir, 'servers.yaml')}: smtp.0.credentials.password: the environment variable RG_TEST_UNSET is not set`;
    const refused = run(['serve', '--config', file]);
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toContain(problem);
    const checked = run(['check', '--config', file]);
    expect(await checked.exited).toBe(2);
    expect(checked.stderr()).toContain(problem);
  });

  test('an unset variable stops serve with exit 2, naming the option and the variable', async () => {
    const file = join(dir, 'unset.yaml');
    writeFileSync(file, 'http: { host: 127.0.0.1, port: 0 }\nadminToken: { env: RG_TEST_NOT_SET_AT_ALL }\n');
    const env = { ...process.env };
    delete env.RG_TEST_NOT_SET_AT_ALL;
    const cli = run(['serve', '--config', file], env);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toBe(`roamgate: ${file}: adminToken: the environment variable RG_TEST_NOT_SET_AT_ALL is not set\n`);
    expect(cli.stdout()).toBe('');
  });
});
