import { normalizeOptions, type RoamgateOptions } from '../../plugin/options';
import { DUMMY_HASH } from '../../plugin/password';
import { diffOptions, sameValue } from '../../plugin/reload-diff';
import { openSqliteStore } from '../../store/sqlite-store';

const BASE: RoamgateOptions = {
  adapters: { pop3: { port: 1110 }, smtp: { port: 2525 } },
  servers: { pop3: [{ host: '10.0.0.2', port: 110 }] },
  access: [{ subject: 'anonymous', service: 'pop3', allow: true }],
};

function diff(next: RoamgateOptions, running: RoamgateOptions = BASE) {
  return diffOptions(normalizeOptions(running), normalizeOptions(next));
}

describe('diffOptions: what a reload changes', () => {
  test('the same options change nothing', () => {
    const result = diff({ ...BASE });
    expect(result).toMatchObject({ live: [], restart: [], adapters: { build: [], remove: [], described: [] } });
  });

  test.each<[string, RoamgateOptions, string[]]>([
    ['the table', { ...BASE, servers: { pop3: [{ host: '10.0.0.3', port: 110 }] } }, ['servers']],
    ['a servers file', { ...BASE, serversFile: '/etc/roamgate/servers.yaml' }, ['serversFile']],
    ['access rules', { ...BASE, access: [...BASE.access!, { subject: 'authenticated', service: 'smtp', allow: true }] }, ['access']],
    ['onAccessChange', { ...BASE, onAccessChange: 'finish' }, ['onAccessChange']],
    ['config users', { ...BASE, users: [{ id: 'alice', passwordHash: DUMMY_HASH }] }, ['users']],
    ['the login throttle', { ...BASE, login: { perAddress: { failures: 50, windowSeconds: 60 } } }, ['login.perAddress']],
    ['peers (same realm)', { ...BASE, realm: 'home.example', peers: { 'visit.example': { secret: 'x'.repeat(32) } } }, ['peers']],
  ])('%s apply live', (_name, next, live) => {
    const running = { ...BASE, ...(next.realm ? { realm: next.realm } : {}) };
    const result = diff(next, running);
    expect(result.live).toEqual(live);
    expect(result.restart).toEqual([]);
  });

  test.each<[string, RoamgateOptions, string[]]>([
    ['the store', { ...BASE, store: { path: '/var/lib/roamgate/roamgate.db' } }, ['store']],
    ['the mount path', { ...BASE, mountPath: '/gw' }, ['mountPath']],
    ['the admin token', { ...BASE, adminToken: 'a'.repeat(20) }, ['adminToken']],
    [
      'the login cache and rights',
      { ...BASE, login: { cacheSeconds: 0, requireRights: false } },
      ['login.cacheSeconds', 'login.requireRights'],
    ],
    ['discovery', { ...BASE, discovery: { name: 'office', url: 'http://10.0.0.1:8080/roamgate', keyFile: '/k.pem' } }, ['discovery']],
    [
      'the realm, and with it the peers',
      { ...BASE, realm: 'home.example', peers: { 'v.example': { secret: 'x'.repeat(32) } } },
      ['realm', 'peers'],
    ],
  ])('%s need a restart: the running value is kept', (_name, next, restart) => {
    const running = normalizeOptions(BASE);
    const result = diffOptions(running, normalizeOptions(next));
    expect(result.restart).toEqual(restart);
    expect(result.live).toEqual([]);
    for (const name of restart) {
      const [top, sub] = name.split('.');
      const kept = (result.effective as unknown as Record<string, Record<string, unknown>>)[top];
      const was = (running as unknown as Record<string, Record<string, unknown>>)[top];
      expect(sub ? kept[sub] : kept).toEqual(sub ? was[sub] : was);
    }
  });

  test('a restart-only change does not hold back the live ones in the same reload', () => {
    const result = diff({ ...BASE, mountPath: '/gw', access: [] });
    expect(result.live).toEqual(['access']);
    expect(result.restart).toEqual(['mountPath']);
    expect(result.effective.access).toEqual([]);
    expect(result.effective.mountPath).toBe('/roamgate');
  });

  test.each<[string, RoamgateOptions['adapters'], { build: string[]; remove: string[]; described: string[] }]>([
    [
      'a port change',
      { pop3: { port: 1111 }, smtp: { port: 2525 } },
      { build: ['pop3'], remove: [], described: ['adapters.pop3 port 1110->1111'] },
    ],
    [
      'a host change',
      { pop3: { port: 1110, host: '0.0.0.0' }, smtp: { port: 2525 } },
      { build: ['pop3'], remove: [], described: ['adapters.pop3 host 127.0.0.1->0.0.0.0'] },
    ],
    [
      'a limit',
      { pop3: { port: 1110, maxClients: 5 }, smtp: { port: 2525 } },
      { build: ['pop3'], remove: [], described: ['adapters.pop3'] },
    ],
    [
      'an adapter added and one removed',
      { pop3: { port: 1110 }, tcp: { telnet: { port: 2323 } } },
      { build: ['tcp.telnet'], remove: ['smtp'], described: ['adapters.tcp.telnet added', 'adapters.smtp removed'] },
    ],
  ])('adapters: %s', (_name, adapters, expected) => {
    const result = diff({ ...BASE, adapters });
    expect(result.adapters).toEqual(expected);
    expect(result.live).toEqual([]);
  });

  test('a custom source or store is compared by identity', async () => {
    const source = { resolve: () => [] };
    expect(diff({ ...BASE, servers: source }, { ...BASE, servers: source }).live).toEqual([]);
    expect(diff({ ...BASE, servers: { resolve: () => [] } }, { ...BASE, servers: source }).live).toEqual(['servers']);
    const store = openSqliteStore(':memory:');
    try {
      expect(diff({ ...BASE, store }, { ...BASE, store }).restart).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test('the logger and clock are the running ones, never compared', () => {
    const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const result = diff({ ...BASE, logger });
    expect(result.effective.logger).toBeUndefined();
    expect(result.live).toEqual([]);
    expect(result.restart).toEqual([]);
  });
});

describe('sameValue', () => {
  test.each<[unknown, unknown, boolean]>([
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [[1, 2], [2, 1], false],
    [{ a: { b: 1 } }, { a: { b: 2 } }, false],
    [[], {}, false],
    [new Map(), new Map(), false],
    ['x', 'x', true],
    [Number.NaN, Number.NaN, true],
  ])('%j vs %j -> %s', (a, b, same) => {
    expect(sameValue(a, b)).toBe(same);
  });
});
