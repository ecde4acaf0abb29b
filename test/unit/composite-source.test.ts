import { CompositeSource } from '../../sources/composite-source';
import type { ServerEntry, ServerInfoSource } from '../../sources/server-info-source';
import type { Identity } from '../../identity';
import type { ServerInfo } from '../../server-info';
import { StaticSource } from '../../sources/static-source';

const anonymous: Identity = { kind: 'anonymous', address: '127.0.0.1' };
const alice: Identity = { kind: 'user', address: '127.0.0.1', user: { id: 'alice', attributes: {} } };

/** A source with only resolve(), answering asynchronously, per identity. */
const perUser: ServerInfoSource = {
  resolve: async (service, identity) =>
    service === 'pop3' && identity.kind === 'user' ? [{ host: `pop.${identity.user.id}.example`, port: 110, priority: 5 }] : [],
};

const hosts = (servers: ServerInfo[]) => servers.map((s) => `${s.host}:${s.port}/${s.priority}`);

describe('CompositeSource', () => {
  test('resolve merges the answers of every source, passing the identity on', async () => {
    const composite = new CompositeSource([new StaticSource({ pop3: [{ host: 'pop.shared', port: 110, priority: 10 }] }), perUser]);
    expect(hosts(await composite.resolve('pop3', alice))).toEqual(['pop.shared:110/10', 'pop.alice.example:110/5']);
    expect(hosts(await composite.resolve('pop3', anonymous))).toEqual(['pop.shared:110/10']);
  });

  test.each<[string, ServerInfo[][], string[]]>([
    ['no sources', [], []],
    [
      'a duplicate keeps the lowest priority, in first-seen position',
      [
        [
          { host: 'a', port: 25, priority: 20 },
          { host: 'b', port: 25, priority: 10 },
        ],
        [{ host: 'a', port: 25, priority: 5 }],
      ],
      ['a:25/5', 'b:25/10'],
    ],
    [
      'a duplicate with a higher priority is ignored',
      [[{ host: 'a', port: 25, priority: 5 }], [{ host: 'a', port: 25, priority: 50 }]],
      ['a:25/5'],
    ],
    [
      'host names compare case-insensitively',
      [[{ host: 'MX.example.org', port: 25, priority: 10 }], [{ host: 'mx.example.org', port: 25, priority: 1 }]],
      ['mx.example.org:25/1'],
    ],
    [
      'same host on another port is another server',
      [[{ host: 'a', port: 25, priority: 10 }], [{ host: 'a', port: 587, priority: 10 }]],
      ['a:25/10', 'a:587/10'],
    ],
    [
      'duplicates within one source collapse too',
      [
        [
          { host: 'a', port: 25, priority: 10 },
          { host: 'a', port: 25, priority: 3 },
        ],
      ],
      ['a:25/3'],
    ],
  ])('%s', async (_name, answers, expected) => {
    const composite = new CompositeSource(answers.map((servers) => ({ resolve: () => servers })));
    expect(hosts(await composite.resolve('smtp', anonymous))).toEqual(expected);
  });

  test('resolve returns plain host/port/priority objects, not the sources’ entries', async () => {
    const entry = { host: 'a', port: 25, priority: 10, id: 'x', service: 'smtp', origin: 'admin' as const };
    const [server] = await new CompositeSource([{ resolve: () => [entry] }]).resolve('smtp', anonymous);
    expect(server).toEqual({ host: 'a', port: 25, priority: 10 });
  });

  test('a failing source fails resolve', async () => {
    const broken: ServerInfoSource = { resolve: () => Promise.reject(new Error('home agent unreachable')) };
    await expect(new CompositeSource([new StaticSource({}), broken]).resolve('smtp', anonymous)).rejects.toThrow('home agent unreachable');
  });

  test('list concatenates the lists, skipping sources without list()', async () => {
    const registered: ServerEntry = {
      id: 'registered:1',
      service: 'smtp',
      origin: 'registered',
      host: 'a',
      port: 25,
      priority: 10,
      expiresAt: 1,
    };
    const composite = new CompositeSource([
      new StaticSource({ smtp: [{ host: 'a', port: 25, priority: 10 }] }),
      perUser,
      { resolve: () => [], list: async () => [registered] },
    ]);
    expect((await composite.list()).map((entry) => entry.id)).toEqual(['static:smtp:a:25', 'registered:1']);
  });

  test('watch subscribes to every source that can be watched, and unsubscribes from all', () => {
    const listeners: Array<Set<() => void>> = [new Set(), new Set()];
    const watchable = (set: Set<() => void>): ServerInfoSource => ({
      resolve: () => [],
      watch: (onChange) => {
        set.add(onChange);
        return () => set.delete(onChange);
      },
    });
    const composite = new CompositeSource([watchable(listeners[0]), perUser, watchable(listeners[1])]);
    const onChange = jest.fn();
    const stop = composite.watch(onChange);
    for (const set of listeners) for (const listener of set) listener();
    expect(onChange).toHaveBeenCalledTimes(2);
    stop();
    expect(listeners.map((set) => set.size)).toEqual([0, 0]);
  });

  test('close closes every source that can be closed', async () => {
    const closes = [jest.fn(), jest.fn(async () => undefined)];
    await new CompositeSource([{ resolve: () => [], close: closes[0] }, perUser, { resolve: () => [], close: closes[1] }]).close();
    for (const close of closes) expect(close).toHaveBeenCalledTimes(1);
  });
});
