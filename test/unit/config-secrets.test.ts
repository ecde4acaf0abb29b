import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MASK, MAX_SECRET_FILE_BYTES, maskSecrets, resolveSecrets, resolveTableSecrets } from '../../plugin/config-secrets';

const dir = mkdtempSync(join(tmpdir(), 'roamgate-secrets-'));
writeFileSync(join(dir, 'token'), 'token-from-a-file\n');
writeFileSync(join(dir, 'crlf'), 'windows-line-end\r\n\r\n');
const env = { TOKEN: 'token-from-the-env', EMPTY: '' };

describe('resolveSecrets', () => {
  test.each([
    ['a plain value stays', { adminToken: 'plain-admin-token' }, { adminToken: 'plain-admin-token' }],
    ['env', { adminToken: { env: 'TOKEN' } }, { adminToken: 'token-from-the-env' }],
    [
      'a file relative to the config, its newline dropped',
      { registration: { secret: { file: 'token' } } },
      { registration: { secret: 'token-from-a-file' } },
    ],
    [
      'an absolute file, CRLF lines dropped',
      { session: { secret: { file: join(dir, 'crlf') } } },
      { session: { secret: 'windows-line-end' } },
    ],
    [
      'every peer',
      { peers: { a: { secret: { env: 'TOKEN' } }, b: { secret: 'plain' } } },
      { peers: { a: { secret: 'token-from-the-env' }, b: { secret: 'plain' } } },
    ],
    [
      'web.assertionSecret and store.url',
      { web: { assertionSecret: { env: 'TOKEN' } }, store: { url: { file: 'token' } } },
      { web: { assertionSecret: 'token-from-the-env' }, store: { url: 'token-from-a-file' } },
    ],
    [
      'a server password, not its user name',
      { servers: { pop3: [{ host: 'h', port: 1, credentials: { username: { env: 'TOKEN' }, password: { env: 'TOKEN' } } }] } },
      { servers: { pop3: [{ host: 'h', port: 1, credentials: { username: { env: 'TOKEN' }, password: 'token-from-the-env' } }] } },
    ],
    ['not a reference: two keys', { adminToken: { env: 'TOKEN', file: 'token' } }, { adminToken: { env: 'TOKEN', file: 'token' } }],
    ['not a secret path', { realm: { env: 'TOKEN' } }, { realm: { env: 'TOKEN' } }],
  ])('%s', (_name, data, expected) => {
    const resolved = resolveSecrets(data, dir, env);
    expect(resolved).toEqual({ data: expected, problems: [] });
  });

  test('every problem names the option and the variable or file, never a value; the input is not changed', () => {
    const data = {
      adminToken: { env: 'MISSING' },
      registration: { secret: { env: 'EMPTY' } },
      peers: { 'home.example': { secret: { file: 'no-such-file' } } },
    };
    const before = JSON.stringify(data);
    const { problems } = resolveSecrets(data, dir, env);
    expect(problems).toEqual([
      'adminToken: the environment variable MISSING is not set',
      'registration.secret: the environment variable EMPTY is not set',
      `peers.home.example.secret: cannot read the secret file ${join(dir, 'no-such-file')} (ENOENT)`,
    ]);
    expect(JSON.stringify(data)).toBe(before);
  });

  test('a file larger than MAX_SECRET_FILE_BYTES (a wrong path, a device) is refused without being read whole', () => {
    writeFileSync(join(dir, 'big'), 'x'.repeat(MAX_SECRET_FILE_BYTES + 1));
    writeFileSync(join(dir, 'just-fits'), 'y'.repeat(MAX_SECRET_FILE_BYTES));
    expect(resolveSecrets({ adminToken: { file: 'big' } }, dir, env).problems).toEqual([
      `adminToken: the secret file ${join(dir, 'big')} is larger than ${MAX_SECRET_FILE_BYTES} bytes: not a secret (a wrong path?)`,
    ]);
    expect(resolveSecrets({ adminToken: { file: '/dev/zero' } }, dir, env).problems).toHaveLength(1);
    expect(resolveSecrets({ adminToken: { file: 'just-fits' } }, dir, env).data.adminToken).toHaveLength(MAX_SECRET_FILE_BYTES);
  });
});

describe('resolveTableSecrets (a servers file)', () => {
  test('resolves each server password; problems name paths in the table', () => {
    const table = { pop3: [{ host: 'h', port: 110, credentials: { username: 'u', password: { file: 'token' } } }] };
    expect(resolveTableSecrets(table, dir, env)).toEqual({
      data: { pop3: [{ host: 'h', port: 110, credentials: { username: 'u', password: 'token-from-a-file' } }] },
      problems: [],
    });
    const unset = { nntp: [{ host: 'h', port: 119, credentials: { username: 'u', password: { env: 'MISSING' } } }] };
    expect(resolveTableSecrets(unset, dir, env).problems).toEqual([
      'nntp.0.credentials.password: the environment variable MISSING is not set',
    ]);
  });
});

describe('maskSecrets', () => {
  test('every secret and password hash becomes ***; the rest stays', () => {
    const masked = maskSecrets({
      adminToken: 'a',
      registration: { secret: 'b', defaultTtlSeconds: 60 },
      peers: { x: { secret: 'c', url: 'http://x' } },
      session: { maxAgeSeconds: 1 },
      store: { url: 'postgres://u:p@h/d' },
      servers: {
        nntp: [
          { host: 'h', port: 119, credentials: { username: 'u', password: 'p' } },
          { host: 'i', port: 119 },
        ],
      },
      users: [{ id: 'alice', passwordHash: 'scrypt$...' }],
    });
    expect(masked).toEqual({
      adminToken: MASK,
      registration: { secret: MASK, defaultTtlSeconds: 60 },
      peers: { x: { secret: MASK, url: 'http://x' } },
      session: { maxAgeSeconds: 1 },
      store: { url: MASK },
      servers: {
        nntp: [
          { host: 'h', port: 119, credentials: { username: 'u', password: MASK } },
          { host: 'i', port: 119 },
        ],
      },
      users: [{ id: 'alice', passwordHash: MASK }],
    });
  });
});
