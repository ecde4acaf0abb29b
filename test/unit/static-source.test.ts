import { StaticSource, tableEntries } from '../../sources/static-source';
import type { ServerInfoSource } from '../../sources/server-info-source';
import type { Identity } from '../../identity';

const anonymous: Identity = { kind: 'anonymous', address: '127.0.0.1' };
const table = {
  smtp: [
    { host: 'mx1.example.org', port: 25, priority: 10 },
    { host: 'mx2.example.org', port: 2525, priority: 20 },
  ],
  pop3: [{ host: '10.0.0.3', port: 110, priority: 10 }],
  nntp: [],
};

describe('StaticSource', () => {
  test.each([
    ['smtp', ['mx1.example.org:25', 'mx2.example.org:2525']],
    ['pop3', ['10.0.0.3:110']],
    ['nntp', []],
    ['http-proxy', []],
    ['toString', []],
  ])('resolve(%j)', (service, expected) => {
    expect(new StaticSource(table).resolve(service).map((s) => `${s.host}:${s.port}`)).toEqual(expected);
  });

  test('resolve answers the same for every identity', () => {
    const source: ServerInfoSource = new StaticSource(table);
    const user: Identity = { kind: 'user', address: '10.0.0.9', user: { id: 'alice', attributes: {} } };
    expect(source.resolve('pop3', anonymous)).toEqual([expect.objectContaining({ host: '10.0.0.3', port: 110, priority: 10 })]);
    expect(source.resolve('pop3', user)).toEqual(source.resolve('pop3', anonymous));
  });

  test('list names every entry with service, origin and a stable id', () => {
    expect(new StaticSource(table).list()).toEqual([
      { id: 'static:smtp:mx1.example.org:25', service: 'smtp', origin: 'static', host: 'mx1.example.org', port: 25, priority: 10 },
      { id: 'static:smtp:mx2.example.org:2525', service: 'smtp', origin: 'static', host: 'mx2.example.org', port: 2525, priority: 20 },
      { id: 'static:pop3:10.0.0.3:110', service: 'pop3', origin: 'static', host: '10.0.0.3', port: 110, priority: 10 },
    ]);
  });

  test('list returns a copy: changing it does not change the source', () => {
    const source = new StaticSource(table);
    source.list().pop();
    expect(source.list()).toHaveLength(3);
  });

  test('the origin given is used in ids and entries', () => {
    expect(tableEntries({ nntp: [{ host: 'news', port: 119, priority: 1 }] }, 'file')).toEqual([
      { id: 'file:nntp:news:119', service: 'nntp', origin: 'file', host: 'news', port: 119, priority: 1 },
    ]);
  });
});

test('a fixed table answers with the same frozen array each time, and an empty one for a service it lacks', () => {
  const source = new StaticSource({ smtp: [{ host: '10.0.0.1', port: 25, priority: 10 }] });
  expect(source.resolve('smtp')).toBe(source.resolve('smtp'));
  expect(Object.isFrozen(source.resolve('smtp'))).toBe(true);
  expect(source.resolve('nntp')).toEqual([]);
  expect(Object.isFrozen(source.resolve('nntp'))).toBe(true);
});
