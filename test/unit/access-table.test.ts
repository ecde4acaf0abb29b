import { AccessTable } from '../../plugin/access-table';
import type { AccessRule } from '../../plugin/options';
import type { Identity } from '../../identity';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import { ManualClock } from '../helpers/clock';

const T = 1_700_000_000_000;
const alice: Identity = { kind: 'user', address: '192.0.2.7', user: { id: 'alice', attributes: { department: 'sales' } } };
const bob: Identity = { kind: 'user', address: '192.0.2.8', user: { id: 'bob', attributes: { department: 'sales' } } };
const anonymous: Identity = { kind: 'anonymous', address: '192.0.2.9' };

const configRules: AccessRule[] = [
  { subject: 'department=sales', service: 'smtp', allow: true },
  { subject: 'anonymous', service: 'pop3', allow: true, reason: 'open mailbox' },
];

let clock: ManualClock;
let store: SqliteStore;
let table: AccessTable;
let changes: number;
beforeEach(async () => {
  clock = new ManualClock(T);
  store = openSqliteStore(':memory:');
  table = new AccessTable(configRules, store, clock);
  await table.load();
  changes = 0;
  table.onChange(() => changes++);
});
afterEach(() => store.close());

/** A second table on the same store, as after a restart. */
async function reloaded(): Promise<AccessTable> {
  const again = new AccessTable(configRules, store, clock);
  await again.load();
  return again;
}

describe('AccessTable, config rules', () => {
  test('get ids config:N in file order and origin config', () => {
    expect(table.list()).toEqual([
      { id: 'config:0', origin: 'config', subject: 'department=sales', service: 'smtp', allow: true },
      { id: 'config:1', origin: 'config', subject: 'anonymous', service: 'pop3', allow: true, reason: 'open mailbox' },
    ]);
    expect(table.get('config:1')?.reason).toBe('open mailbox');
  });

  test('decide uses them before load() as well', () => {
    const fresh = new AccessTable(configRules, store, clock);
    expect(fresh.decide(alice, 'smtp').allow).toBe(true);
    expect(fresh.decide(anonymous, 'pop3')).toEqual({ allow: true, reason: 'open mailbox', rule: 'anonymous x pop3 -> allow' });
  });

  test('cannot be changed or removed through the API methods', async () => {
    expect(await table.update('config:0', { allow: false })).toBeUndefined();
    expect(await table.remove('config:0')).toBe(false);
    expect(table.get('config:0')?.allow).toBe(true);
    expect(table.decide(alice, 'smtp').allow).toBe(true);
    expect(changes).toBe(0);
    expect(await store.rules.list()).toEqual([]);
  });

  test('are never written to the store', async () => {
    await table.add({ subject: 'user:bob', service: 'nntp', allow: true });
    expect((await store.rules.list()).map((rule) => rule.subject)).toEqual(['user:bob']);
  });
});

describe('AccessTable, API rules', () => {
  test('add returns the rule with a new id and origin api, lists it after the config rules, and stores it', async () => {
    const added = await table.add({ subject: 'user:bob', service: 'nntp', allow: true, reason: 'news for bob' });
    expect(added).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      origin: 'api',
      subject: 'user:bob',
      service: 'nntp',
      allow: true,
      reason: 'news for bob',
    });
    expect(table.list().map((rule) => rule.id)).toEqual(['config:0', 'config:1', added.id]);
    expect(table.get(added.id)).toEqual(added);
    expect(await store.rules.get(added.id)).toEqual({
      id: added.id,
      subject: 'user:bob',
      service: 'nntp',
      allow: true,
      reason: 'news for bob',
      createdAt: T,
      updatedAt: T,
    });
  });

  test('a rule without a reason has no reason key', async () => {
    const added = await table.add({ subject: 'user:bob', service: 'nntp', allow: true });
    expect('reason' in added).toBe(false);
    expect('reason' in (await store.rules.get(added.id))!).toBe(false);
  });

  test('two adds get different ids', async () => {
    const [a, b] = await Promise.all([
      table.add({ subject: 'user:bob', service: 'nntp', allow: true }),
      table.add({ subject: 'user:bob', service: 'nntp', allow: true }),
    ]);
    expect(a.id).not.toBe(b.id);
    expect(table.list()).toHaveLength(4);
  });

  test('an API deny for user:alice beats a config allow for department=sales, for alice only', async () => {
    expect(table.decide(alice, 'smtp').allow).toBe(true);
    const rule = await table.add({ subject: 'user:alice', service: 'smtp', allow: false, reason: 'alice is on leave' });
    expect(table.decide(alice, 'smtp')).toEqual({ allow: false, reason: 'alice is on leave', rule: 'user:alice x smtp -> deny' });
    expect(table.decide(bob, 'smtp').allow).toBe(true);
    await table.remove(rule.id);
    expect(table.decide(alice, 'smtp').allow).toBe(true);
  });

  test('an API allow opens a service no config rule mentions', async () => {
    expect(table.decide(bob, 'nntp').allow).toBe(false);
    await table.add({ subject: 'authenticated', service: 'nntp', allow: true });
    expect(table.decide(bob, 'nntp').allow).toBe(true);
    expect(table.decide(anonymous, 'nntp').allow).toBe(false);
  });

  test('update changes the rule, keeps its id and createdAt, and is stored', async () => {
    const added = await table.add({ subject: 'user:alice', service: 'smtp', allow: false, reason: 'on leave' });
    clock.set(T + 5000);
    const updated = await table.update(added.id, { allow: true, reason: 'back' });
    expect(updated).toEqual({ ...added, allow: true, reason: 'back' });
    expect(table.get(added.id)).toEqual(updated);
    expect(table.decide(alice, 'smtp')).toMatchObject({ allow: true, reason: 'back' });
    expect(await store.rules.get(added.id)).toEqual({
      id: added.id,
      subject: 'user:alice',
      service: 'smtp',
      allow: true,
      reason: 'back',
      createdAt: T,
      updatedAt: T + 5000,
    });
  });

  test('update with reason: undefined removes the reason', async () => {
    const added = await table.add({ subject: 'user:alice', service: 'smtp', allow: false, reason: 'on leave' });
    const updated = await table.update(added.id, { reason: undefined });
    expect(updated && 'reason' in updated).toBe(false);
    expect('reason' in (await store.rules.get(added.id))!).toBe(false);
  });

  test('update leaves the fields the patch does not name', async () => {
    const added = await table.add({ subject: 'user:alice', service: 'smtp', allow: false, reason: 'on leave' });
    expect(await table.update(added.id, { service: 'pop3' })).toEqual({ ...added, service: 'pop3' });
  });

  test('remove deletes the rule from the table and the store', async () => {
    const kept = await table.add({ subject: 'user:bob', service: 'nntp', allow: true });
    const removed = await table.add({ subject: 'user:alice', service: 'smtp', allow: false });
    expect(await table.remove(removed.id)).toBe(true);
    expect(table.get(removed.id)).toBeUndefined();
    expect(table.list().map((rule) => rule.id)).toEqual(['config:0', 'config:1', kept.id]);
    expect(await store.rules.get(removed.id)).toBeUndefined();
    expect(await table.remove(removed.id)).toBe(false);
  });

  test('update and remove of an unknown id: undefined and false, nothing stored, no change announced', async () => {
    expect(await table.update('no-such-id', { allow: true })).toBeUndefined();
    expect(await table.remove('no-such-id')).toBe(false);
    expect(changes).toBe(0);
    expect(await store.rules.list()).toEqual([]);
  });

  test('a second table on the same store sees added, updated and removed rules after load()', async () => {
    // The store lists rules by creation time (then id), so each is made at its own time.
    const a = await table.add({ subject: 'user:alice', service: 'smtp', allow: false, reason: 'on leave' });
    clock.advance(1);
    const b = await table.add({ subject: 'user:bob', service: 'nntp', allow: true });
    clock.advance(1);
    const c = await table.add({ subject: 'anonymous', service: '*', allow: false });
    clock.advance(1);
    await table.update(b.id, { allow: false });
    await table.remove(c.id);
    const again = await reloaded();
    expect(again.list()).toEqual(table.list());
    expect(again.list().map((rule) => rule.id)).toEqual(['config:0', 'config:1', a.id, b.id]);
    expect(again.decide(alice, 'smtp')).toMatchObject({ allow: false, reason: 'on leave' });
    expect(again.decide(bob, 'nntp').allow).toBe(false);
  });

  test('a rule added to the store by another process shows after load()', async () => {
    await store.rules.put({ id: 'elsewhere', subject: 'user:bob', service: 'nntp', allow: true, createdAt: T, updatedAt: T });
    expect(table.get('elsewhere')).toBeUndefined();
    await table.load();
    expect(table.get('elsewhere')).toEqual({ id: 'elsewhere', origin: 'api', subject: 'user:bob', service: 'nntp', allow: true });
    expect(table.decide(bob, 'nntp').allow).toBe(true);
  });

  test('a store that fails leaves the table as it was', async () => {
    const added = await table.add({ subject: 'user:bob', service: 'nntp', allow: true });
    changes = 0;
    await store.close();
    await expect(table.add({ subject: 'user:alice', service: 'smtp', allow: false })).rejects.toMatchObject({
      code: 'ROAMGATE_SHUTTING_DOWN',
    });
    await expect(table.update(added.id, { allow: false })).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
    await expect(table.remove(added.id)).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
    expect(table.list().map((rule) => [rule.id, rule.allow])).toEqual([
      ['config:0', true],
      ['config:1', true],
      [added.id, true],
    ]);
    expect(table.decide(alice, 'smtp').allow).toBe(true);
    expect(changes).toBe(0);
  });
});

describe('AccessTable.onChange', () => {
  test('fires once on each add, update and remove, after the table has changed', async () => {
    const seen: boolean[] = [];
    table.onChange(() => seen.push(table.decide(alice, 'smtp').allow));
    const rule = await table.add({ subject: 'user:alice', service: 'smtp', allow: false });
    await table.update(rule.id, { allow: true });
    await table.remove(rule.id);
    expect(changes).toBe(3);
    expect(seen).toEqual([false, true, true]);
  });

  test('the returned function unsubscribes', async () => {
    let heard = 0;
    const unsubscribe = table.onChange(() => heard++);
    await table.add({ subject: 'user:bob', service: 'nntp', allow: true });
    unsubscribe();
    await table.add({ subject: 'user:bob', service: 'smtp', allow: true });
    expect(heard).toBe(1);
    expect(changes).toBe(2);
  });

  test('load() does not announce a change', async () => {
    await table.load();
    expect(changes).toBe(0);
  });
});
