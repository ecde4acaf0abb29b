import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { runCli, waitForOutput } from '../helpers/cli';
import { startPop3 } from '../helpers/line-servers';
import { RawClient, refusedPort } from '../helpers/net';
import { selfSignedCert } from '../helpers/tls-cert';
import { until } from '../helpers/until';

jest.setTimeout(30_000);

type Rule = { subject: string; service: string; allow: boolean };

const ALLOW_POP3: Rule = { subject: 'anonymous', service: 'pop3', allow: true };

/** A gateway config: one pop3 adapter, the servers given, the rules given. */
function config(options: { pop3: string; servers: number[]; access: Rule[]; onAccessChange?: 'close' | 'finish' }): string {
  return [
    'http: { host: 127.0.0.1, port: 0 }',
    'log: { level: info }',
    'health: { enabled: false }',
    'shutdownGraceMs: 200',
    ...(options.onAccessChange ? [`onAccessChange: ${options.onAccessChange}`] : []),
    'adapters:',
    `  pop3: ${options.pop3}`,
    'servers:',
    '  pop3:',
    ...options.servers.map((port) => `    - { host: 127.0.0.1, port: ${port} }`),
    'access:',
    ...options.access.map((rule) => `  - ${JSON.stringify(rule)}`),
    '',
  ].join('\n');
}

/** Occurrences of `pattern` (global) in the gateway's output so far. */
function count(output: () => string, pattern: RegExp): number {
  return output().match(pattern)?.length ?? 0;
}

/** A gateway run with the real CLI from `text`, its pop3 port read from what it prints, and a pid file. */
async function startGateway(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-reload-'));
  const file = join(dir, 'gateway.yaml');
  const pidFile = join(dir, 'roamgate.pid');
  writeFileSync(file, text);
  const cli = runCli(['serve', '--config', file, '--pid-file', pidFile]);
  const pop3 = Number((await waitForOutput(cli.output, /pop3 adapter on 127\.0\.0\.1:(\d+)/))[1]);
  const pidWritten = () => {
    try {
      return readFileSync(pidFile, 'utf8').trim() === String(cli.child.pid);
    } catch {
      return false;
    }
  };
  await until(pidWritten, 'the pid file');
  const reloads = () => count(cli.output, /"event":"reload(ed|-failed)"/g);
  /** Writes the new config, sends SIGHUP, and waits for the gateway's one log line about it; returns that line. */
  const reload = async (next: string, how: 'signal' | 'cli' = 'signal'): Promise<string> => {
    const before = reloads();
    writeFileSync(file, next);
    if (how === 'signal') cli.child.kill('SIGHUP');
    else {
      const command = runCli(['reload', '--pid-file', pidFile]);
      expect(await command.exited).toBe(0);
      expect(command.output()).toMatch(`sent SIGHUP to ${cli.child.pid}`);
    }
    await until(
      () => reloads() > before,
      () => `a reload log line in ${cli.output()}`,
      10_000,
    );
    return cli
      .output()
      .split('\n')
      .filter((line) => /"event":"reload(ed|-failed)"/.test(line))[before];
  };
  return { cli, pop3, dir, file, pidFile, reload };
}

/** A POP3 client through the gateway, past the server's greeting and one STAT. */
async function pop3Session(port: number, banner: string): Promise<RawClient> {
  const client = await RawClient.open(port);
  await client.waitFor((text) => text.includes(`+OK ${banner}`));
  client.send('STAT\r\n');
  await client.waitFor((text) => text.includes('+OK 0 0'));
  return client;
}

/** Sends another STAT on an open session and waits for its answer: the relay still carries bytes both ways. */
async function statAgain(client: RawClient): Promise<void> {
  const answers = count(() => client.received, /\+OK 0 0/g);
  client.send('STAT\r\n');
  await client.waitFor((text) => (text.match(/\+OK 0 0/g)?.length ?? 0) > answers);
}

describe('reload (SIGHUP, roamgate reload) with real processes', () => {
  const stops: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function servers() {
    const first = await startPop3('first upstream', {});
    const second = await startPop3('second upstream', {});
    stops.push(first.close, second.close);
    return { first, second };
  }

  async function gateway(text: string) {
    const started = await startGateway(text);
    stops.push(() => void started.cli.child.kill('SIGKILL'));
    return started;
  }

  test('a relay open across a reload that changes the table and adds a rule still allowing it is untouched', async () => {
    const { first, second } = await servers();
    const gw = await gateway(config({ pop3: '{ port: 0 }', servers: [first.port], access: [ALLOW_POP3] }));
    const client = await pop3Session(gw.pop3, 'first upstream');
    const denyOthers = { subject: 'anonymous', service: '*', allow: false };
    const line = await gw.reload(config({ pop3: '{ port: 0 }', servers: [second.port], access: [ALLOW_POP3, denyOthers] }), 'cli');
    expect(line).toMatch(/"msg":"reloaded: servers, access"/);
    await statAgain(client);
    expect(first.received.filter((text) => text === 'STAT')).toHaveLength(2);
    // The next connection goes by the new table.
    (await pop3Session(gw.pop3, 'second upstream')).close();
    client.send('QUIT\r\n');
    await client.closed;
    expect(client.received).toMatch(/\+OK bye/);
  });

  test('a rule that now denies the open relay closes it (onAccessChange: close), and the next connection is refused', async () => {
    const { first } = await servers();
    const gw = await gateway(config({ pop3: '{ port: 0 }', servers: [first.port], access: [ALLOW_POP3] }));
    const client = await pop3Session(gw.pop3, 'first upstream');
    const line = await gw.reload(config({ pop3: '{ port: 0 }', servers: [first.port], access: [{ ...ALLOW_POP3, allow: false }] }));
    expect(line).toMatch(/"msg":"reloaded: access \(1 relay closed\)"/);
    await client.closed;
    const refused = await RawClient.open(gw.pop3);
    await refused.waitFor((text) => text.startsWith('-ERR'));
    refused.close();
  });

  test('with onAccessChange: finish the denied relay is left to finish', async () => {
    const { first } = await servers();
    const gw = await gateway(config({ pop3: '{ port: 0 }', servers: [first.port], access: [ALLOW_POP3], onAccessChange: 'finish' }));
    const client = await pop3Session(gw.pop3, 'first upstream');
    const deny = [{ ...ALLOW_POP3, allow: false }];
    const line = await gw.reload(config({ pop3: '{ port: 0 }', servers: [first.port], access: deny, onAccessChange: 'finish' }));
    expect(line).toMatch(/"msg":"reloaded: access"/);
    await statAgain(client);
    const refused = await RawClient.open(gw.pop3);
    await refused.waitFor((text) => text.startsWith('-ERR'));
    refused.close();
    client.send('QUIT\r\n');
    await client.closed;
    expect(client.received).toMatch(/\+OK bye/);
  });

  test('a port change: the new port listens, the old one stops accepting and its open relay finishes normally', async () => {
    const { first } = await servers();
    const gw = await gateway(config({ pop3: '{ port: 0 }', servers: [first.port], access: [ALLOW_POP3] }));
    const client = await pop3Session(gw.pop3, 'first upstream');
    const next = await refusedPort();
    const line = await gw.reload(config({ pop3: `{ port: ${next} }`, servers: [first.port], access: [ALLOW_POP3] }));
    expect(line).toContain(`"msg":"reloaded: adapters.pop3 port 0->${next}"`);
    (await pop3Session(next, 'first upstream')).close();
    await expect(RawClient.open(gw.pop3)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await statAgain(client);
    client.send('QUIT\r\n');
    await client.closed;
    expect(client.received).toMatch(/\+OK bye/);
    expect(gw.cli.child.exitCode).toBeNull();
  });

  test.each([
    [
      'a bad option',
      (port: number) => `adapters:\n  pop3: { port: abc }\nservers: { pop3: [ { host: 127.0.0.1, port: ${port} } ] }\n`,
      /adapters\.pop3\.port/,
    ],
    ['broken YAML', () => 'adapters: [\n', /cannot read/],
    ['a servers file that is not there', () => 'serversFile: /nonexistent/servers.yaml\n', /serversFile/],
  ])('%s keeps the running config (old port, old rules) and the log says why', async (_name, broken, why) => {
    const { first } = await servers();
    const gw = await gateway(config({ pop3: '{ port: 0 }', servers: [first.port], access: [ALLOW_POP3] }));
    const line = await gw.reload(broken(first.port));
    expect(line).toMatch(/"level":50/);
    expect(line).toMatch(/"event":"reload-failed"/);
    expect(JSON.parse(line).reason).toMatch(why);
    (await pop3Session(gw.pop3, 'first upstream')).close();
    expect(gw.cli.child.exitCode).toBeNull();
  });

  test('a certificate renewed in place is served to the next TLS connection; the open one keeps going', async () => {
    const { first } = await servers();
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-reload-cert-'));
    const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
    const writeCert = () => {
      const made = selfSignedCert();
      writeFileSync(files.cert, made.cert);
      writeFileSync(files.key, made.key);
    };
    writeCert();
    const tlsPort = await refusedPort();
    const pop3 = `{ port: 0, tlsPort: ${tlsPort}, tls: { cert: ${files.cert}, key: ${files.key} } }`;
    const text = config({ pop3, servers: [first.port], access: [ALLOW_POP3] });
    const gw = await gateway(text);
    const before = await tlsSession(tlsPort);
    writeCert();
    const line = await gw.reload(text);
    expect(line).toMatch(/"msg":"reloaded: adapters.pop3 certificate"/);
    const after = await tlsSession(tlsPort);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    await before.stat();
    before.close();
    after.close();
  });

  test('roamgate reload exits 2 with a clear message when the gateway is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-reload-pid-'));
    const gone = runCli(['--version']);
    await gone.exited;
    writeFileSync(join(dir, 'stale.pid'), `${gone.child.pid}\n`);
    const stale = runCli(['reload', '--pid-file', join(dir, 'stale.pid')]);
    expect(await stale.exited).toBe(2);
    expect(stale.output()).toMatch(new RegExp(`no process ${gone.child.pid} \\(from .*stale\\.pid\\): is the gateway running\\?`));
    const missing = runCli(['reload', '--pid-file', join(dir, 'missing.pid')]);
    expect(await missing.exited).toBe(2);
    expect(missing.output()).toMatch(/cannot read .*missing\.pid \(ENOENT\): is the gateway running\?/);
    const byPid = runCli(['reload', '--pid', String(gone.child.pid)]);
    expect(await byPid.exited).toBe(2);
    expect(byPid.output()).toMatch(`no process ${gone.child.pid}: is the gateway running?`);
    writeFileSync(join(dir, 'garbage.pid'), 'roamgate\n');
    const garbage = runCli(['reload', '--pid-file', join(dir, 'garbage.pid')]);
    expect(await garbage.exited).toBe(2);
    expect(garbage.output()).toMatch(/"roamgate" is not a process id/);
    const neither = runCli(['reload']);
    expect(await neither.exited).toBe(2);
    expect(neither.output()).toMatch(/reload needs --pid PID or --pid-file FILE/);
  });
});

/** A POP3 session over implicit TLS (any certificate accepted: the test compares them), with the certificate's fingerprint. */
async function tlsSession(port: number): Promise<{ fingerprint: string; stat(): Promise<void>; close(): void }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  await until(
    () => received.includes('+OK first upstream'),
    () => `the greeting over TLS, got ${JSON.stringify(received)}`,
  );
  const stat = async () => {
    const answers = received.match(/\+OK 0 0/g)?.length ?? 0;
    socket.write('STAT\r\n');
    await until(() => (received.match(/\+OK 0 0/g)?.length ?? 0) > answers, 'a STAT answer over TLS');
  };
  return { fingerprint: socket.getPeerCertificate().fingerprint256, stat, close: () => socket.destroy() };
}
