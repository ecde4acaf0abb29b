import { RegistrySource, type RegistrationRequest } from '../../sources/registry-source';
import { ManualClock } from '../helpers/clock';

/** A registry on a hand-driven clock, closed after each test. */
let clock: ManualClock;
let registry: RegistrySource;
beforeEach(() => {
  clock = new ManualClock(1_000_000);
  registry = new RegistrySource({ clock, sweepIntervalMs: 3_600_000 });
});
afterEach(() => registry.close());

const mx: RegistrationRequest = { service: 'smtp', host: 'mx.example.org', port: 25, priority: 10, ttlSeconds: 30 };

describe('RegistrySource: register', () => {
  test('creates an entry that expires after its TTL', () => {
    const { entry, created } = registry.register(mx);
    expect(created).toBe(true);
    expect(entry).toEqual({
      id: expect.stringMatching(/^registered:[0-9a-f]{16}$/),
      origin: 'registered',
      service: 'smtp',
      host: 'mx.example.org',
      port: 25,
      priority: 10,
      expiresAt: 1_030_000,
    });
    expect(registry.get(entry.id)).toEqual(entry);
    expect(registry.resolve('smtp')).toEqual([{ ...entry, registered: { forwardCredentials: false } }]);
    expect(registry.resolve('pop3')).toEqual([]);
  });

  test('registering again renews the same entry: same id, later expiry, new priority', () => {
    const first = registry.register(mx).entry;
    clock.advance(20_000);
    const renewed = registry.register({ ...mx, host: 'MX.example.org', priority: 5 });
    expect(renewed.created).toBe(false);
    expect(renewed.entry.id).toBe(first.id);
    expect(renewed.entry.expiresAt).toBe(1_050_000);
    expect(renewed.entry.priority).toBe(5);
    expect(registry.list()).toHaveLength(1);
    clock.advance(20_000);
    expect(registry.resolve('smtp')).toHaveLength(1);
  });

  test.each([
    ['another port', { port: 587 }],
    ['another host', { host: 'mx2.example.org' }],
    ['another service', { service: 'submission' }],
  ])('%s is another entry', (_name, change) => {
    const first = registry.register(mx).entry;
    const second = registry.register({ ...mx, ...change });
    expect(second.created).toBe(true);
    expect(second.entry.id).not.toBe(first.id);
    expect(registry.list()).toHaveLength(2);
  });
});

describe('RegistrySource: lapse', () => {
  test('an entry disappears from resolve, list and get when its TTL has passed', () => {
    const { entry } = registry.register(mx);
    clock.advance(29_999);
    expect(registry.resolve('smtp')).toHaveLength(1);
    clock.advance(1);
    expect(registry.resolve('smtp')).toEqual([]);
    expect(registry.list()).toEqual([]);
    expect(registry.get(entry.id)).toBeUndefined();
  });

  test('sweep drops lapsed entries, reports how many and tells watchers', () => {
    registry.register(mx);
    registry.register({ ...mx, port: 587, ttlSeconds: 120 });
    const onChange = jest.fn();
    registry.watch(onChange);
    expect(registry.sweep()).toBe(0);
    expect(onChange).not.toHaveBeenCalled();
    clock.advance(30_000);
    expect(registry.sweep()).toBe(1);
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(registry.list().map((entry) => entry.port)).toEqual([587]);
    expect(registry.sweep()).toBe(0);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  test('the periodic sweeper runs by itself', async () => {
    const fast = new RegistrySource({ clock, sweepIntervalMs: 10 });
    try {
      fast.register(mx);
      const swept = new Promise<void>((resolve) => fast.watch(resolve));
      clock.advance(30_000);
      await swept;
      expect(fast.list()).toEqual([]);
    } finally {
      fast.close();
    }
  });

  test('admin entries never lapse', () => {
    const { entry, created } = registry.add({ service: 'pop3', host: '10.0.0.3', port: 110, priority: 10 });
    expect(created).toBe(true);
    expect(entry.origin).toBe('admin');
    expect(entry.id).toMatch(/^admin:/);
    expect(entry).not.toHaveProperty('expiresAt');
    clock.advance(365 * 86_400_000);
    expect(registry.sweep()).toBe(0);
    expect(registry.resolve('pop3')).toEqual([entry]);
  });
});

describe('RegistrySource: watchers', () => {
  test('are told of new entries and removals, not of renewals', () => {
    const onChange = jest.fn();
    registry.watch(onChange);
    const { entry } = registry.register(mx);
    expect(onChange).toHaveBeenCalledTimes(1);
    registry.register(mx);
    expect(onChange).toHaveBeenCalledTimes(1);
    registry.add({ service: 'pop3', host: 'p', port: 110, priority: 10 });
    expect(onChange).toHaveBeenCalledTimes(2);
    registry.remove(entry.id);
    expect(onChange).toHaveBeenCalledTimes(3);
  });

  test('unsubscribe and close stop notifications', () => {
    const stopped = jest.fn();
    const closed = jest.fn();
    const stop = registry.watch(stopped);
    registry.watch(closed);
    stop();
    registry.register(mx);
    expect(stopped).not.toHaveBeenCalled();
    expect(closed).toHaveBeenCalledTimes(1);
    registry.close();
    registry.add({ service: 'pop3', host: 'p', port: 110, priority: 10 });
    expect(closed).toHaveBeenCalledTimes(1);
  });
});

describe('RegistrySource: remove', () => {
  test('removes by id and says whether it did', () => {
    const registered = registry.register(mx).entry;
    const admin = registry.add({ service: 'smtp', host: 'mx.example.org', port: 25, priority: 10 });
    expect(admin.entry.id).not.toBe(registered.id);
    expect(registry.resolve('smtp')).toHaveLength(2);
    expect(registry.remove(registered.id)).toBe(true);
    expect(registry.remove(registered.id)).toBe(false);
    expect(registry.remove('registered:nonexistent')).toBe(false);
    expect(registry.resolve('smtp')).toEqual([admin.entry]);
  });
});

describe('RegistrySource: what resolve says of registered servers', () => {
  test("registered ones are marked, and may be sent users' credentials only for the services forwardCredentials lists", () => {
    const trusting = new RegistrySource({ clock, sweepIntervalMs: 3_600_000, forwardCredentials: ['pop3'] });
    try {
      trusting.register(mx);
      trusting.register({ ...mx, service: 'pop3', port: 110 });
      trusting.add({ service: 'smtp', host: 'relay.internal', port: 25, priority: 10 });
      const smtp = trusting.resolve('smtp');
      expect(smtp.find((server) => server.host === 'mx.example.org')?.registered).toEqual({ forwardCredentials: false });
      // An admin's entry is the operator's: not marked.
      expect(smtp.find((server) => server.host === 'relay.internal')).not.toHaveProperty('registered');
      expect(trusting.resolve('pop3')[0].registered).toEqual({ forwardCredentials: true });
      // The listing is not changed by it.
      expect(trusting.list().every((entry) => !('registered' in entry))).toBe(true);
    } finally {
      trusting.close();
    }
  });
});

describe('RegistrySource: restore', () => {
  test('puts back saved entries, and drops (from the store too) those the address rules now refuse', async () => {
    const removed: string[] = [];
    const saved = new RegistrySource({
      clock,
      sweepIntervalMs: 3_600_000,
      persistence: { put: async () => undefined, remove: async (id) => void removed.push(id), onError: () => undefined },
    });
    try {
      const good = { id: 'registered:1', origin: 'registered' as const, service: 'smtp', host: '10.0.0.5', port: 25, priority: 10 };
      const metadata = { ...good, id: 'registered:2', host: '169.254.169.254', port: 80 };
      const spelled = { ...good, id: 'admin:3', origin: 'admin' as const, host: '0xA9FEA9FE', port: 80 };
      const refused = saved.restore([good, metadata, spelled]);
      expect(refused.map((entry) => entry.id)).toEqual(['registered:2', 'admin:3']);
      expect(saved.list().map((entry) => entry.id)).toEqual(['registered:1']);
      await saved.flush();
      expect(removed).toEqual(['registered:2', 'admin:3']);
    } finally {
      saved.close();
    }
  });
});

describe('RegistrySource: resolve keeps its answer only while it holds', () => {
  test('the same frozen answer while nothing changes; a new one after a renewal, an admin entry or a removal', () => {
    registry.register(mx);
    const first = registry.resolve('smtp');
    expect(Object.isFrozen(first)).toBe(true);
    expect(registry.resolve('smtp')).toBe(first);
    registry.register({ ...mx, priority: 5 });
    const renewed = registry.resolve('smtp');
    expect(renewed).not.toBe(first);
    expect(renewed[0]!.priority).toBe(5);
    const admin = registry.add({ service: 'smtp', host: 'relay.example.org', port: 25, priority: 1 });
    expect(registry.resolve('smtp').map((server) => server.host)).toEqual(['mx.example.org', 'relay.example.org']);
    registry.remove(admin.entry.id);
    expect(registry.resolve('smtp').map((server) => server.host)).toEqual(['mx.example.org']);
  });

  test('a registration that lapses leaves the answer at its expiry, before any sweep', () => {
    registry.register(mx);
    registry.add({ service: 'smtp', host: 'relay.example.org', port: 25, priority: 1 });
    expect(registry.resolve('smtp')).toHaveLength(2);
    clock.advance(29_999);
    expect(registry.resolve('smtp')).toHaveLength(2);
    clock.advance(1);
    expect(registry.resolve('smtp').map((server) => server.host)).toEqual(['relay.example.org']);
  });

  test('a reload from the store and a restore replace the answer', async () => {
    registry.register(mx);
    expect(registry.resolve('smtp')).toHaveLength(1);
    await registry.reloadFrom(async () => []);
    expect(registry.resolve('smtp')).toEqual([]);
    registry.restore([{ id: 'admin:1', origin: 'admin', service: 'smtp', host: 'relay.example.org', port: 25, priority: 1 }]);
    expect(registry.resolve('smtp').map((server) => server.host)).toEqual(['relay.example.org']);
  });
});
