import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreDirectory } from '../../plugin/directory';
import { hashPassword, verifyPassword } from '../../plugin/password';
import { openSqliteStore } from '../../store/sqlite-store';

// The CLI is tested as users run it: the built bin (npm test builds first).
const BIN = join(__dirname, '..', '..', 'dist', 'bin', 'roamgate.js');
/** The test's environment without a password: each test says where its password comes from. */
const { ROAMGATE_PASSWORD: _inherited, ...environment } = process.env;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with no terminal (stdin is a pipe) and without ROAMGATE_PASSWORD unless `env` sets it. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...environment, ...env } });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

/**
 * Runs `command` on a pseudo-terminal (util-linux `script`, with the terminal
 * echoing input as terminals do), and types each answer once the output so far
 * matches its prompt. Resolves with everything the terminal showed.
 */
function onTerminal(
  command: string,
  dialogue: Array<[RegExp, string]>,
  timeoutMs = 8000,
): Promise<{ status: number | null; screen: string }> {
  const child = spawn('script', ['--quiet', '--return', '--flush', '--echo', 'always', '--command', command, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: environment,
  });
  let screen = '';
  let step = 0;
  const answer = () => {
    while (step < dialogue.length && dialogue[step][0].test(screen)) {
      child.stdin.write(dialogue[step][1]);
      step++;
    }
  };
  const onOutput = (chunk: Buffer) => {
    screen += chunk.toString();
    answer();
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  answer();
  const timer = setTimeout(() => child.kill(), timeoutMs);
  return new Promise((resolve) =>
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, screen });
    }),
  );
}

// Each run of the CLI loads the whole plugin (about half a second); independent runs go in parallel.
jest.setTimeout(15_000);

const dir = mkdtempSync(join(tmpdir(), 'roamgate-users-'));
let files = 0;
function tempFile(content: string, name = `file-${++files}`): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A config file in its own directory whose store.path is relative to it; returns both paths. */
function gatewayConfig(extra = ''): { config: string; store: string } {
  const own = mkdtempSync(join(dir, 'gw-'));
  const config = join(own, 'gateway.yaml');
  writeFileSync(config, `store: { path: users.db }\n${extra}`);
  return { config, store: join(own, 'users.db') };
}

/** Checks a password the way a login does: through the directory, over the store the CLI wrote. */
async function verify(storePath: string, id: string, password: string) {
  const store = openSqliteStore(storePath);
  try {
    return await new StoreDirectory([], store).verify(id, password);
  } finally {
    await store.close();
  }
}

/** The shell command that runs the built CLI with `args`. */
const shellCommand = (args: string) => `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} ${args}`;

describe('roamgate users', () => {
  test('add, list, passwd and remove round trip through the store, and logins see each change', async () => {
    const carolHash = await hashPassword('carol-config-password');
    const { config, store } = gatewayConfig(
      `users:\n  - { id: carol, passwordHash: '${carolHash}', attributes: { role: admin }, disabled: true }\n`,
    );
    const alicePassword = 'alice password one';
    const passwordFile = tempFile(`${alicePassword}\nnot this line\n`);

    const [addAlice, addBob] = await Promise.all([
      cli([
        'users',
        'add',
        'alice',
        '--attr',
        'role=admin',
        '--attr',
        'department=sales',
        '--attr',
        'motto=hello world',
        '--config',
        config,
        '--password-file',
        passwordFile,
      ]),
      cli(['users', 'add', '--config', config, 'bob.smith@example'], { ROAMGATE_PASSWORD: 'bob-from-the-environment' }),
    ]);
    expect(addAlice).toMatchObject({ status: 0, stderr: '' });
    expect(addAlice.stdout).toMatch(/^roamgate: added user alice/);
    expect(addBob).toMatchObject({ status: 0, stderr: '' });
    // store.path is relative to the config file, not to the directory the CLI ran in.
    expect(existsSync(store)).toBe(true);

    expect(await verify(store, 'alice', alicePassword)).toEqual({
      id: 'alice',
      attributes: { role: 'admin', department: 'sales', motto: 'hello world' },
    });
    expect(await verify(store, 'alice', 'not this line')).toBe(false);
    expect(await verify(store, 'bob.smith@example', 'bob-from-the-environment')).toEqual({ id: 'bob.smith@example', attributes: {} });

    const [list, again] = await Promise.all([
      cli(['users', 'list', '--config', config]),
      cli(['users', 'add', 'alice', '--config', config], { ROAMGATE_PASSWORD: 'another password' }),
    ]);
    expect(list).toMatchObject({ status: 0, stderr: '' });
    expect(
      list.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(/ {2,}/)),
    ).toEqual([
      ['alice', 'store', 'enabled', 'department=sales', 'motto="hello world"', 'role=admin'],
      ['bob.smith@example', 'store', 'enabled'],
      ['carol', 'config', 'disabled', 'role=admin'],
    ]);
    expect(list.stdout).not.toMatch(/scrypt/);

    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^roamgate: user alice already exists in the store/);
    expect(await verify(store, 'alice', alicePassword)).not.toBe(false);

    const [passwd, remove] = await Promise.all([
      cli(['users', 'passwd', 'alice', '--config', config], { ROAMGATE_PASSWORD: 'alice password two' }),
      cli(['users', 'remove', 'bob.smith@example', '--config', config]),
    ]);
    expect(passwd).toMatchObject({ status: 0, stderr: '' });
    expect(await verify(store, 'alice', 'alice password two')).toEqual({
      id: 'alice',
      attributes: { role: 'admin', department: 'sales', motto: 'hello world' },
    });
    expect(await verify(store, 'alice', alicePassword)).toBe(false);

    expect(remove).toMatchObject({ status: 0, stderr: '' });
    expect(await verify(store, 'bob.smith@example', 'bob-from-the-environment')).toBe(false);

    const [listAfter, removeAgain, passwdGone] = await Promise.all([
      cli(['users', 'list', '--config', config]),
      cli(['users', 'remove', 'bob.smith@example', '--config', config]),
      cli(['users', 'passwd', 'bob.smith@example', '--config', config], { ROAMGATE_PASSWORD: 'whatever password' }),
    ]);
    expect(listAfter.stdout).toMatch(/^alice {2}.*\ncarol {2}/);
    expect(listAfter.stdout).not.toMatch(/bob/);
    for (const result of [removeAgain, passwdGone]) {
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^roamgate: no user bob\.smith@example in the store/);
    }

    // Every change is in the audit trail, without the password or its hash.
    const opened = openSqliteStore(store);
    const events = await opened.audit.list();
    await opened.close();
    expect(events.map((event) => `${event.type} ${String(event.detail.user)} by ${event.actor}`).sort()).toEqual([
      'user.added alice by cli',
      'user.added bob.smith@example by cli',
      'user.password-changed alice by cli',
      'user.removed bob.smith@example by cli',
    ]);
    expect(JSON.stringify(events)).not.toMatch(/scrypt|password (one|two)|bob-from/);

    // No password ever reaches the output.
    for (const result of [addAlice, addBob, list, again, passwd, remove, removeAgain, passwdGone]) {
      expect(result.stdout + result.stderr).not.toMatch(/alice password|bob-from-the-environment|another password|whatever password/);
    }
  });

  test('disable stops logins and enable restores them; config users and unknown users are refused', async () => {
    const { config, store } = gatewayConfig(`users:\n  - { id: carol, passwordHash: '${await hashPassword('carol-config-password')}' }\n`);
    expect(await cli(['users', 'add', 'dave', '--config', config], { ROAMGATE_PASSWORD: 'dave password' })).toMatchObject({ status: 0 });
    expect(await cli(['users', 'disable', 'dave', '--config', config])).toEqual({
      status: 0,
      stdout: 'roamgate: disabled user dave\n',
      stderr: '',
    });
    expect(await verify(store, 'dave', 'dave password')).toBe(false);
    expect(await cli(['users', 'disable', 'dave', '--config', config])).toEqual({
      status: 0,
      stdout: 'roamgate: user dave is already disabled\n',
      stderr: '',
    });
    expect((await cli(['users', 'list', '--config', config])).stdout).toMatch(/^dave +store +disabled$/m);
    expect(await cli(['users', 'enable', 'dave', '--config', config])).toEqual({
      status: 0,
      stdout: 'roamgate: enabled user dave\n',
      stderr: '',
    });
    expect(await verify(store, 'dave', 'dave password')).toEqual({ id: 'dave', attributes: {} });

    const configured = await cli(['users', 'disable', 'carol', '--config', config]);
    expect(configured.status).toBe(1);
    expect(configured.stderr).toMatch(/^roamgate: user carol is defined in the users: section of .*; set disabled: true there\n$/);
    const unknown = await cli(['users', 'enable', 'nobody', '--config', config]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^roamgate: no user nobody in the store/);

    const opened = openSqliteStore(store);
    const events = (await opened.audit.list()).map((event) => `${event.type} ${String(event.detail.user)}`);
    await opened.close();
    expect(events).toEqual(expect.arrayContaining(['user.disabled dave', 'user.enabled dave']));
  });

  test('users from the config file cannot be added, changed or removed through the store', async () => {
    const { config, store } = gatewayConfig(`users:\n  - { id: carol, passwordHash: '${await hashPassword('carol-config-password')}' }\n`);
    const [list, ...results] = await Promise.all([
      cli(['users', 'list', '--config', config]),
      cli(['users', 'add', 'carol', '--config', config], { ROAMGATE_PASSWORD: 'carol store password' }),
      cli(['users', 'passwd', 'carol', '--config', config], { ROAMGATE_PASSWORD: 'carol store password' }),
      cli(['users', 'remove', 'carol', '--config', config]),
    ]);
    for (const result of results) {
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^roamgate: user carol is defined in the users: section of .*gateway\.yaml/);
    }
    expect(existsSync(store)).toBe(false);
    expect(list).toMatchObject({ status: 0, stdout: 'carol  config  enabled\n' });
  });

  const withConfig = '--config';
  test.concurrent.each([
    ['a bad id', ['users', 'add', 'bad id', withConfig], /^roamgate: user id "bad id": must be 1-64 letters/],
    ['a bad attribute name', ['users', 'add', 'dave', '--attr', 'bad key=1', withConfig], /^roamgate: attribute name "bad key"/],
    [
      'an attribute value over 256 characters',
      ['users', 'add', 'dave', '--attr', `note=${'x'.repeat(257)}`, withConfig],
      /^roamgate: attribute note value: .*256/,
    ],
    ['an --attr without =', ['users', 'add', 'dave', '--attr', 'role', withConfig], /^roamgate: --attr "role": must be NAME=VALUE/],
    ['an unknown option', ['users', 'add', 'dave', '--admin', withConfig], /^roamgate: users add: Unknown option '--admin'/],
    ['no --config', ['users', 'list'], /^roamgate: users list needs --config FILE\nusage: roamgate users add/],
  ])('%s is a usage error (exit 2) naming the problem, and changes nothing', async (_name, args, message) => {
    const { config, store } = gatewayConfig();
    const result = await cli(
      args.flatMap((arg) => (arg === withConfig ? [withConfig, config] : [arg])),
      { ROAMGATE_PASSWORD: 'dave password' },
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
    expect(existsSync(store)).toBe(false);
  });

  test.concurrent.each([
    [
      'store.path :memory: is refused, since changes would be lost',
      'memory.yaml',
      'store: { path: ":memory:" }\n',
      ['add', 'dave'],
      /: the store is in memory \(store\.path :memory:.*set store: \{ path: FILE \}/,
    ],
    [
      'no store section (in memory by default) is refused',
      'no-store.yaml',
      'adapters: {}\n',
      ['list'],
      /: the store is in memory \(store\.path :memory:.*set store: \{ path: FILE \}/,
    ],
    [
      'a broken file is refused naming the field',
      'broken.yaml',
      'store: { path: x.db }\nusers:\n  - { id: eve, passwordHash: plain-text }\n',
      ['list'],
      /broken\.yaml: users\.0\.passwordHash: must be a scrypt hash/,
    ],
  ])('config: %s (exit 2)', async (_name, fileName, content, args, message) => {
    const config = tempFile(content, fileName);
    const result = await cli(['users', ...args, '--config', config], { ROAMGATE_PASSWORD: 'dave password' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^roamgate: /);
    expect(result.stderr).toMatch(message);
  });

  test('passwords: too short is refused with the rule; no source and no terminal names the options', async () => {
    const { config, store } = gatewayConfig();
    const [short, shortFile, none] = await Promise.all([
      cli(['users', 'add', 'dave', '--config', config], { ROAMGATE_PASSWORD: 'seven77' }),
      cli(['users', 'hash', '--password-file', tempFile('1234567\n')]),
      cli(['users', 'add', 'dave', '--config', config]),
    ]);
    for (const result of [short, shortFile]) {
      expect(result.status).toBe(2);
      expect(result.stderr).toBe('roamgate: the password must be at least 8 characters\n');
    }
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(
      /^roamgate: no password given and no terminal to ask on: use --password-file FILE .* or set ROAMGATE_PASSWORD/,
    );
    expect(await verify(store, 'dave', 'seven77')).toBe(false);
    expect(short.stderr + shortFile.stderr).not.toMatch(/seven77|1234567/);
  });

  test('hash prints a hash of the --password-file password (before ROAMGATE_PASSWORD), and nothing else', async () => {
    const result = await cli(['users', 'hash', '--password-file', tempFile('from the file\n')], {
      ROAMGATE_PASSWORD: 'from the environment',
    });
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(/^scrypt\$[^\s]+\n$/);
    expect(await verifyPassword('from the file', result.stdout.trim())).toBe(true);
  });

  describe('on a terminal', () => {
    test('the harness shows typed input when a program does not turn echo off', async () => {
      const { screen } = await onTerminal('head -n 1 >/dev/null', [[/^/, 'typed-and-echoed\r']]);
      expect(screen).toMatch(/typed-and-echoed/);
    });

    test('hash asks twice without echo; the hash printed verifies', async () => {
      const { config } = gatewayConfig();
      const password = 'typed-secret-9';
      // A mistyped last character, erased with Backspace as on a real terminal.
      const { status, screen } = await onTerminal(shellCommand(`users hash --config ${JSON.stringify(config)}`), [
        [/Password: $/, `${password}X\x7f\r`],
        [/Type it again: $/, `${password}\r`],
      ]);
      expect(status).toBe(0);
      expect(screen).not.toMatch(/typed-secret/);
      const hash = /(scrypt\$\S+)/.exec(screen)?.[1];
      expect(hash).toBeDefined();
      expect(await verifyPassword(password, hash!)).toBe(true);
    });

    test('add asks twice and refuses two different passwords', async () => {
      const { config, store } = gatewayConfig();
      const { status, screen } = await onTerminal(shellCommand(`users add dave --config ${JSON.stringify(config)}`), [
        [/New password for dave: $/, 'first-typed-password\r'],
        [/Type it again: $/, 'second-typed-password\r'],
      ]);
      expect(status).toBe(2);
      expect(screen).toMatch(/roamgate: the two passwords typed do not match/);
      expect(screen).not.toMatch(/typed-password/);
      expect(await verify(store, 'dave', 'first-typed-password')).toBe(false);
    });
  });
});
