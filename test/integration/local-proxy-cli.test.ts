import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { runCli, waitForOutput } from '../helpers/cli';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { listenTcp } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

const ADMIN = 'local-cli-admin-token-0123456789';
const EPHEMERAL = ['smtp', 'pop3', 'imap', 'nntp', 'http-proxy', 'pac'].flatMap((name) => ['--listen', `${name}=0`]);

jest.setTimeout(15_000);

/** The environment without a password in it, so nothing leaks in from the developer's shell. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.ROAMGATE_PASSWORD;
  return env;
}

describe('roamgate local (the CLI)', () => {
  let gw: TestGateway;
  let gatewayUrl: string;
  let smtp: Awaited<ReturnType<typeof startSmtpUpstream>>;
  let dir: string;
  let passwordFile: string;

  beforeAll(async () => {
    smtp = await startSmtpUpstream('cli-hidden.internal');
    gw = await startGateway(
      {
        adminToken: ADMIN,
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
        servers: { smtp: [{ host: '127.0.0.1', port: smtp.port }] },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    gatewayUrl = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
  });
  afterAll(async () => {
    await gw.close();
    await smtp.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'roamgate-local-cli-'));
    passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'alice-pw\n', { mode: 0o600 });
  });

  test('runs from a config file, says where each service goes, relays, tells `local status`, logs in again after a revocation, and stops on SIGTERM', async () => {
    const config = join(dir, 'local.yaml');
    writeFileSync(
      config,
      `gateway: ${gatewayUrl}\nuser: alice\npasswordFile: password\nlisten: { smtp: 0, pop3: 0, imap: 0, nntp: 0, http-proxy: 0, pac: 0 }\n`,
    );
    const cli = runCli(['local', '--config', config, '--state-dir', join(dir, 'state')], cleanEnv());
    try {
      await waitForOutput(cli.output, /roamgate: ready/);
      const output = cli.output();
      expect(output).toContain(`roamgate: gateway ${gatewayUrl}\n`);
      expect(output).toMatch(/roamgate: logged in as alice at http:\/\/127\.0\.0\.1:\d+\/roamgate \(lease valid until .*\)\n/);
      expect(output).toMatch(/roamgate: browsers: set the automatic proxy configuration URL to http:\/\/127\.0\.0\.1:\d+\/proxy\.pac/);
      const port = Number(/roamgate: smtp +127\.0\.0\.1:(\d+) +gateway -> through the gateway /.exec(output)![1]);
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
      await transport.sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject: 'from the CLI', text: 'hello' });
      expect(smtp.messages.at(-1)!.raw.toString()).toContain('Subject: from the CLI');

      // roamgate local status: what the running proxy wrote in its state directory.
      const status = runCli(['local', 'status', '--state-dir', join(dir, 'state')], cleanEnv());
      expect(await status.exited).toBe(0);
      const lines = status.stdout().split('\n');
      expect(lines[0]).toMatch(/^roamgate local is running \(pid \d+, since .*\); as of .*:$/);
      expect(lines[1]).toBe(`gateway    ${gatewayUrl} (gateway mode)`);
      expect(lines[2]).toMatch(/^lease {6}live of alice, until \d{4}-\d\d-\d\dT/);
      expect(lines).toContain(`smtp       ${`127.0.0.1:${port}`.padEnd(15)} -> gateway through the gateway ${gatewayUrl}`);
      const json = runCli(['local', 'status', '--json', '--state-dir', join(dir, 'state')], cleanEnv());
      expect(await json.exited).toBe(0);
      expect(JSON.parse(json.stdout())).toMatchObject({
        running: true,
        state: 'running',
        mode: 'gateway',
        lease: { state: 'live', user: 'alice' },
      });

      // A revoked lease: its connections are cut, and roamgate local logs in again by itself.
      const leaseId = JSON.parse(readFileSync(join(dir, 'state', 'leases.json'), 'utf8'))[gatewayUrl].id as string;
      await request(gw.app).delete(`/roamgate/leases/${leaseId}`).set('Authorization', `Bearer ${ADMIN}`).expect(204);
      await waitForOutput(cli.output, /roamgate: the gateway revoked the lease of alice and cut its connections; logging in again\n/);
      await waitForOutput(cli.output, /revoked the lease of alice[\s\S]*roamgate: logged in as alice at /);
      await transport.sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject: 'after the revocation', text: 'hello' });
      expect(smtp.messages.at(-1)!.raw.toString()).toContain('Subject: after the revocation');

      expect(cli.output()).not.toContain(String(smtp.port));
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      expect(cli.output()).toMatch(/roamgate: SIGTERM, stopping .*\nroamgate: stopped\n$/);
      const stopped = runCli(['local', 'status', '--state-dir', join(dir, 'state')], cleanEnv());
      expect(await stopped.exited).toBe(1);
      expect(stopped.stdout()).toMatch(/^roamgate local is not running \(its last status, .*\):\n/);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  test('a port in use: names the port and what to pass instead, exit 2', async () => {
    const taken = await listenTcp(() => undefined);
    try {
      const cli = runCli(
        [
          'local',
          '--gateway',
          gatewayUrl,
          '--user',
          'alice',
          '--state-dir',
          join(dir, 'state'),
          ...EPHEMERAL,
          '--listen',
          `smtp=${taken.port}`,
        ].filter((arg, index, all) => !(arg === 'smtp=0' || (arg === '--listen' && all[index + 1] === 'smtp=0'))),
        cleanEnv(),
      );
      expect(await cli.exited).toBe(2);
      expect(cli.output()).toBe(
        `roamgate: smtp: port ${taken.port} on 127.0.0.1 (given for smtp) is in use by another program: stop that program, or pass --listen smtp=PORT with another port (e.g. --listen smtp=2525)\n`,
      );
    } finally {
      await taken.close();
    }
  });

  test('no password and no terminal to ask on: says where a password may come from, exit 2', async () => {
    const cli = runCli(['local', '--gateway', gatewayUrl, '--user', 'alice', '--state-dir', join(dir, 'state'), ...EPHEMERAL], cleanEnv());
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(
      /roamgate: no password given and no terminal to ask on: use --password-file FILE \(first line\) or set ROAMGATE_PASSWORD\n$/,
    );
  });

  test('the login refused: says so, exit 1', async () => {
    writeFileSync(passwordFile, 'not-alices-password\n');
    const cli = runCli(
      [
        'local',
        '--gateway',
        gatewayUrl,
        '--user',
        'alice',
        '--password-file',
        passwordFile,
        '--state-dir',
        join(dir, 'state'),
        ...EPHEMERAL,
      ],
      cleanEnv(),
    );
    expect(await cli.exited).toBe(1);
    expect(cli.output()).toMatch(
      /roamgate: the gateway at http:\S+ refused the login of alice: wrong user name or password \(check --user, and --password-file or ROAMGATE_PASSWORD\)\n$/,
    );
  });

  test('--forget-network removes a pinned key', async () => {
    const state = join(dir, 'state');
    mkdirSync(state);
    writeFileSync(
      join(state, 'networks.json'),
      JSON.stringify({ office: { publicKey: 'AAAA', pinnedAt: '2024-01-01T00:00:00.000Z', url: 'http://10.0.0.1/roamgate' } }),
    );
    const cli = runCli(['local', '--forget-network', 'office', '--state-dir', state], cleanEnv());
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toBe('roamgate: forgot the key of network "office"; the key it answers with next is pinned\n');
    expect(JSON.parse(readFileSync(join(state, 'networks.json'), 'utf8'))).toEqual({});
  });

  test('a bad flag names the flag', async () => {
    const cli = runCli(['local', '--discovery-address', 'not-an-ip', '--state-dir', join(dir, 'state')], cleanEnv());
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(/^roamgate: --discovery-address: must be an IPv4 address\nusage: roamgate local /);
  });
});
