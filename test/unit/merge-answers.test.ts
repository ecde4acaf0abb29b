import fc from 'fast-check';
import { mergeAnswers } from '../../sources/composite-source';
import { serverKey } from '../../sources/server-info-source';
import type { ServerInfo } from '../../server-info';

const server = (host: string, port: number, priority: number): ServerInfo => ({ host, port, priority });
const shown = (servers: ServerInfo[]) => servers.map((s) => `${s.host}:${s.port}/${s.priority}`);

/**
 * The merge as a plain flatten-and-dedupe (one server per host, port and `for`
 * subject, lowest priority wins, first-seen position): the fast paths must agree with it.
 */
function referenceMerge(service: string, answers: ServerInfo[][]): ServerInfo[] {
  const merged = new Map<string, ServerInfo>();
  for (const entry of answers.flat()) {
    const key = `${serverKey(service, entry)}|${entry.for ?? ''}`;
    const known = merged.get(key);
    if (!known || entry.priority < known.priority) {
      const { host, port, priority, for: subject, tls, credentials } = entry;
      merged.set(key, {
        host,
        port,
        priority,
        ...(subject === undefined ? {} : { for: subject }),
        ...(tls === undefined ? {} : { tls }),
        ...(credentials === undefined ? {} : { credentials }),
      });
    }
  }
  return [...merged.values()];
}

describe('mergeAnswers', () => {
  test.each<[string, ServerInfo[][], string[]]>([
    ['no answers', [], []],
    ['only empty answers', [[], [], []], []],
    ['one server in one answer', [[server('a', 25, 10)]], ['a:25/10']],
    ['one server among empty answers', [[], [server('a', 25, 10)], []], ['a:25/10']],
    ['one server in each of two answers', [[server('a', 25, 10)], [server('b', 25, 5)]], ['a:25/10', 'b:25/5']],
    ['the same server twice keeps the lower priority', [[server('a', 25, 10)], [server('A', 25, 5)]], ['A:25/5']],
    [
      'several servers in one answer keep their order',
      [[server('c', 25, 30), server('a', 25, 10), server('b', 25, 20)]],
      ['c:25/30', 'a:25/10', 'b:25/20'],
    ],
  ])('%s', (_name, answers, expected) => {
    expect(shown(mergeAnswers('smtp', answers))).toEqual(expected);
  });

  test('a lone server comes back as a new plain object', () => {
    const entry = { host: 'a', port: 25, priority: 10, id: 'static:smtp:a:25', service: 'smtp', origin: 'static' as const };
    const [merged] = mergeAnswers('smtp', [[entry]]);
    expect(merged).toEqual({ host: 'a', port: 25, priority: 10 });
    expect(merged).not.toBe(entry);
  });

  test('a lone server keeps its subject, TLS and credentials', () => {
    const entry: ServerInfo = { host: 'a', port: 110, priority: 10, for: 'user:alice', tls: { mode: 'starttls' }, credentials: 'none' };
    expect(mergeAnswers('pop3', [[], [entry]])).toEqual([entry]);
  });

  test('a server both the operator and a registration name is the operator’s entry, whatever the registration’s priority', () => {
    const registered = { forwardCredentials: false };
    const operators = server('a', 110, 10);
    const registration: ServerInfo = { ...server('a', 110, 0), registered };
    expect(mergeAnswers('pop3', [[operators], [registration]])).toEqual([operators]);
    expect(mergeAnswers('pop3', [[registration], [operators]])).toEqual([operators]);
    // A lone registration keeps its mark.
    expect(mergeAnswers('pop3', [[], [registration]])).toEqual([registration]);
  });

  test('the same host and port for two subjects are two servers', () => {
    const general = server('a', 110, 10);
    const alices: ServerInfo = { ...server('a', 110, 5), for: 'user:alice' };
    expect(mergeAnswers('pop3', [[general], [alices]])).toEqual([general, alices]);
  });

  test('agrees with a plain flatten-and-dedupe for any answers', () => {
    const anyServer: fc.Arbitrary<ServerInfo> = fc.record(
      {
        host: fc.constantFrom('a', 'A', 'b', 'mx.example.org', 'MX.example.org'),
        port: fc.constantFrom(25, 587),
        priority: fc.integer({ min: 0, max: 3 }),
        for: fc.constantFrom('user:alice', 'authenticated'),
        tls: fc.constantFrom<ServerInfo['tls']>({ mode: 'starttls' }, { mode: 'implicit', servername: 'mx.example.org' }),
        credentials: fc.constantFrom<ServerInfo['credentials']>('none', { username: 'relay', password: 'secret' }),
      },
      { requiredKeys: ['host', 'port', 'priority'] },
    );
    fc.assert(
      fc.property(fc.array(fc.array(anyServer, { maxLength: 4 }), { maxLength: 4 }), (answers) => {
        expect(mergeAnswers('smtp', answers)).toEqual(referenceMerge('smtp', answers));
      }),
    );
  });
});

test('one server in all: the same frozen answer for the same source object (nothing copied per connection), a new one for a new object', () => {
  const entry = { ...server('mx', 25, 10), id: 'static:smtp:mx:25', service: 'smtp', origin: 'static' } as ServerInfo;
  const first = mergeAnswers('smtp', [[entry], []]);
  expect(first).toEqual([server('mx', 25, 10)]);
  expect(Object.isFrozen(first) && Object.isFrozen(first[0])).toBe(true);
  expect(mergeAnswers('smtp', [[], [entry]])).toBe(first);
  const changed = { ...entry, priority: 5 };
  expect(mergeAnswers('smtp', [[changed]])).toEqual([server('mx', 25, 5)]);
});
