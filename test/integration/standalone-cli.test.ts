import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { runCli as run, waitForOutput } from '../helpers/cli';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

describe('roamgate serve --config FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-cli-'));

  test.each([
    ['a bad port', 'adapters:\n  smtp: { port: abc }\n', /adapters\.smtp\.port/],
    ['an unknown section', 'adaptors: {}\n', /adaptors: Unrecognized key/],
    ['a bad server', 'servers:\n  pop3: [ { host: 127.0.0.1, port: 99999 } ]\n', /servers\.pop3\.0\.port/],
    ['a bad http section', 'http: { port: -1 }\n', /http\.port/],
    ['broken YAML', 'adapters: [\n', /cannot read/],
  ])('%s exits non-zero with a message naming the field', async (_name, content, pattern) => {
    const file = join(dir, `bad-${Math.random()}.yaml`);
    writeFileSync(file, content);
    const cli = run(['serve', '--config', file]);
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(pattern);
    expect(cli.output()).toMatch(/^roamgate: /);
  });

  test('serve without --config prints the usage and exits 2', async () => {
    const cli = run(['serve']);
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(/usage: roamgate serve --config FILE/);
  });

  test('a good file serves the API and the adapters (servers file relative to the config), and SIGTERM closes cleanly', async () => {
    const upstream = await startSmtpUpstream('cli upstream');
    writeFileSync(join(dir, 'servers.yaml'), `smtp:\n  - { host: 127.0.0.1, port: ${upstream.port} }\n`);
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'http: { host: 127.0.0.1, port: 0 }',
        'mount: /gw',
        'log: { level: warn }',
        'serversFile: servers.yaml',
        'adapters:',
        '  smtp: { port: 0 }',
        'access:',
        '  - { subject: anonymous, service: smtp, allow: true }',
        '',
      ].join('\n'),
    );
    const cli = run(['serve', '--config', file]);
    try {
      const api = await waitForOutput(cli.output, /management API on (http:\/\/127\.0\.0\.1:\d+\/gw)/);
      const smtp = await waitForOutput(cli.output, /smtp adapter on 127\.0\.0\.1:(\d+)/);
      const discover = await fetch(`${api[1]}/discover`).then((res) => res.json());
      expect(discover).toEqual({ mode: 'gateway', services: { smtp: [{ host: '127.0.0.1', port: Number(smtp[1]) }] } });
      const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: Number(smtp[1]), secure: false, ignoreTLS: true });
      await mailer.sendMail({ from: 'a@example.test', to: 'b@example.test', subject: 'through the CLI', text: 'hello' });
      expect(upstream.messages).toHaveLength(1);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      expect(cli.output()).toMatch(/SIGTERM, closing/);
    } finally {
      cli.child.kill('SIGKILL');
      await upstream.close();
    }
  });
});
