import fc from 'fast-check';
import { describeServerFault, isPostgresUrl, maskPostgresUrl, postgresTarget } from '../../store/postgres-connection';
import { fromColumnText, toColumnText } from '../../store/postgres-session';

describe('the escape of U+0000 for PostgreSQL text', () => {
  // Lone surrogates are not text (the contract leaves them out); everything else, weighted towards U+0000-U+0002.
  const text = fc.string({
    unit: fc.oneof(
      fc.constantFrom('\u0000', '\u0001', '\u0002', 'a'),
      fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((code) => String.fromCodePoint(code < 0xd800 ? code : code + 0x800)),
    ),
    maxLength: 16,
  });
  const utf8Order = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));

  test('property: what is escaped comes back exactly, and holds no U+0000', () => {
    fc.assert(
      fc.property(text, (value) => {
        expect(toColumnText(value)).not.toContain('\u0000');
        expect(fromColumnText(toColumnText(value))).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: the escape keeps the order of UTF-8 bytes (what COLLATE "C" sorts by)', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(utf8Order(toColumnText(a), toColumnText(b))).toBe(utf8Order(a, b));
      }),
      { numRuns: 2000 },
    );
  });

  test.each([
    ['', ''],
    ['alice', 'alice'],
    ['a\u0000b', 'a\u0001\u0001b'],
    ['\u0001', '\u0001\u0002'],
    ['\u0001\u0000', '\u0001\u0002\u0001\u0001'],
  ])('%j is kept as %j', (value, column) => {
    expect(toColumnText(value)).toBe(column);
    expect(fromColumnText(column)).toBe(value);
  });
});

describe('PostgreSQL URLs in messages', () => {
  test.each([
    ['postgres://roamgate:s3cret@db.example.org:6432/gw', 'postgres://roamgate:***@db.example.org:6432/gw'],
    ['postgresql://u:p%40ss@h/db?sslmode=require', 'postgresql://u:***@h/db?sslmode=require'],
    ['postgres://h/db?user=u&password=s3cret', 'postgres://h/db?user=u&password=***'],
    ['postgres://u@h/db', 'postgres://u@h/db'],
    ['not a url s3cret', '(a store.url that is not a URL)'],
  ])('%s is shown as %s', (url, masked) => {
    expect(maskPostgresUrl(url)).toBe(masked);
  });

  test('only postgres:// and postgresql:// URLs are taken', () => {
    expect(['postgres://h/db', 'postgresql://h/db', 'mysql://h/db', 'postgres', ''].map(isPostgresUrl)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  test('the target: host, port, database and user, with defaults; never the password', () => {
    expect(postgresTarget('postgres://roamgate:pw@db.example.org/gw')).toEqual({
      host: 'db.example.org',
      port: 5432,
      database: 'gw',
      user: 'roamgate',
      masked: 'postgres://roamgate:***@db.example.org/gw',
    });
    expect(postgresTarget('postgres:///gw?host=/run/postgresql&user=gw')).toMatchObject({ host: '/run/postgresql', database: 'gw' });
  });

  test('what failed, by error, each naming the host and the fix', () => {
    const target = postgresTarget('postgres://roamgate:pw@db.example.org:5433/gw');
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5433'), { code: 'ECONNREFUSED' });
    expect(describeServerFault(target, refused, 2000)).toBe(
      'PostgreSQL at db.example.org:5433 refused the connection (ECONNREFUSED): start the server, or check the host and port in store.url',
    );
    expect(describeServerFault(target, new Error('timeout exceeded when trying to connect'), 2000)).toMatch(
      /^PostgreSQL at db\.example\.org:5433 did not answer within 2000 ms/,
    );
    expect(
      describeServerFault(target, Object.assign(new Error('getaddrinfo ENOTFOUND db.example.org'), { code: 'ENOTFOUND' }), 2000),
    ).toMatch(/^cannot find the host db\.example\.org \(ENOTFOUND\)/);
    expect(describeServerFault(target, new Error('Connection terminated unexpectedly'), 2000)).toMatch(
      /^lost the connection to PostgreSQL at/,
    );
  });
});
