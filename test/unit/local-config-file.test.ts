import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLocalConfigFile } from '../../local/config-file';

const dir = mkdtempSync(join(tmpdir(), 'roamgate-local-config-'));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('readLocalConfigFile', () => {
  test('YAML options; passwordFile and stateDir are relative to the file', () => {
    const path = file(
      'ok.yaml',
      'gateway: http://gw:8080/roamgate\nuser: alice\npasswordFile: secret/pw\nstateDir: state\nlisten:\n  smtp: 2525\n  http-proxy: 8080\nmode: gateway\n',
    );
    expect(readLocalConfigFile(path)).toEqual({
      options: {
        gateway: 'http://gw:8080/roamgate',
        user: 'alice',
        stateDir: join(dir, 'state'),
        listen: { smtp: 2525, 'http-proxy': 8080 },
        mode: 'gateway',
      },
      passwordFile: join(dir, 'secret', 'pw'),
    });
  });

  test('JSON works too, and an empty file is no options', () => {
    expect(readLocalConfigFile(file('ok.json', '{"user": "bob", "discovery": {"windowMs": 500}}'))).toEqual({
      options: { user: 'bob', discovery: { windowMs: 500 } },
    });
    expect(readLocalConfigFile(file('empty.yaml', ''))).toEqual({ options: {} });
  });

  test.each<[string, string, string, RegExp]>([
    [
      'a bad field, named with the file',
      'bad-field.yaml',
      'listen: { smtp: "25" }\n',
      /bad-field\.yaml: listen\.smtp: must be an integer 0-65535/,
    ],
    ['an unknown field', 'unknown.yaml', 'gatway: http://x\n', /unknown\.yaml: gatway: is not an option$/],
    [
      'a password in the file',
      'password.yaml',
      'password: hunter22\n',
      /password\.yaml: password: not accepted in a file; use passwordFile/,
    ],
    ['a list instead of a mapping', 'list.yaml', '- gateway\n', /list\.yaml: must be a mapping of options/],
    ['not YAML', 'broken.yaml', 'listen: [\n', /broken\.yaml: cannot read it: /],
  ])('%s', (_name, name, text, message) => {
    expect(() => readLocalConfigFile(file(name, text))).toThrow(message);
  });

  test('a missing file says so', () => {
    expect(() => readLocalConfigFile(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot read it: ENOENT/);
  });
});
