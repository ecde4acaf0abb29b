import fc from 'fast-check';
import type { AuditEvent, Store } from '../../store/store';
import { type ContractContext, expectRoamgateError, T } from './store-contract-fixtures';

/** The contract's part on what the store keeps as trails: login sessions, peer nonces, the audit trail. */
export function trailsContract(context: ContractContext): void {
  for (const part of [sessionsContract, noncesContract, auditAppendContract, auditListContract, auditPruneContract]) part(context);
}

/** Appends `count` events of alternating types; returns them as stored. */
async function appendEvents(store: Store, count: number): Promise<AuditEvent[]> {
  const appended: AuditEvent[] = [];
  for (let i = 0; i < count; i++)
    appended.push(await store.audit.append({ at: T + i, type: i % 2 === 0 ? 'login' : 'connection', detail: { i } }));
  return appended;
}

/** Login page sessions. */
function sessionsContract(context: ContractContext): void {
  describe('sessions', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('put then get returns the data until its expiry, included; after it, nothing', async () => {
      await store.sessions.put('h1', '{"a":1}', T + 100);
      expect(await store.sessions.get('h1', T)).toBe('{"a":1}');
      expect(await store.sessions.get('h1', T + 100)).toBe('{"a":1}');
      expect(await store.sessions.get('h1', T + 101)).toBeUndefined();
      expect(await store.sessions.get('unknown', T)).toBeUndefined();
    });

    test('put of an existing id replaces data and expiry', async () => {
      await store.sessions.put('h1', '{"a":1}', T + 100);
      await store.sessions.put('h1', '{"a":2}', T + 500);
      expect(await store.sessions.get('h1', T + 300)).toBe('{"a":2}');
    });

    test('touch moves the expiry of a live session only', async () => {
      await store.sessions.put('h1', '{}', T + 100);
      expect(await store.sessions.touch('h1', T + 1000, T + 50)).toBe(true);
      expect(await store.sessions.get('h1', T + 900)).toBe('{}');
      expect(await store.sessions.touch('h1', T + 5000, T + 1001)).toBe(false);
      expect(await store.sessions.get('h1', T + 1002)).toBeUndefined();
      expect(await store.sessions.touch('unknown', T + 5000, T)).toBe(false);
    });

    test('remove says whether there was a session; purge deletes those expired before the time given', async () => {
      await store.sessions.put('old', '{}', T + 10);
      await store.sessions.put('new', '{}', T + 1000);
      expect(await store.sessions.purge(T + 11)).toBe(1);
      expect(await store.sessions.get('new', T + 11)).toBe('{}');
      expect(await store.sessions.remove('new')).toBe(true);
      expect(await store.sessions.remove('new')).toBe(false);
      expect(await store.sessions.purge(T + 5000)).toBe(0);
    });
  });
}

/** Peer request nonces. */
function noncesContract(context: ContractContext): void {
  describe('nonces', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    const admit = (peer: string, nonce: string, forgetAt: number, now: number, max = 10) =>
      store.nonces.admit(peer, nonce, forgetAt, now, max);

    test('a nonce is admitted once per peer while it is remembered, through its forgetAt itself', async () => {
      expect(await admit('a.example', 'n1', T + 100, T)).toBe('admitted');
      expect(await admit('a.example', 'n1', T + 200, T + 50)).toBe('replayed');
      expect(await admit('a.example', 'n1', T + 200, T + 100)).toBe('replayed');
      expect(await admit('b.example', 'n1', T + 100, T)).toBe('admitted');
      expect(await admit('a.example', 'n2', T + 100, T)).toBe('admitted');
    });

    test('after its forgetAt a nonce is forgotten and admitted again', async () => {
      expect(await admit('a.example', 'n1', T + 100, T)).toBe('admitted');
      expect(await admit('a.example', 'n1', T + 300, T + 101)).toBe('admitted');
    });

    test("full: a peer at its limit gets 'full' and nothing is recorded; other peers are not affected; a replay is still a replay", async () => {
      expect(await admit('a.example', 'n1', T + 100, T, 2)).toBe('admitted');
      expect(await admit('a.example', 'n2', T + 100, T, 2)).toBe('admitted');
      expect(await admit('a.example', 'n3', T + 100, T, 2)).toBe('full');
      expect(await admit('a.example', 'n1', T + 100, T, 2)).toBe('replayed');
      expect(await admit('b.example', 'n3', T + 100, T, 2)).toBe('admitted');
      // Once the old ones are forgotten there is room, and the refused nonce was never recorded.
      expect(await admit('a.example', 'n3', T + 300, T + 101, 2)).toBe('admitted');
      expect(await admit('a.example', 'n3', T + 300, T + 102, 2)).toBe('replayed');
    });

    test('property: the verdicts are those of a model that forgets what is past its forgetAt', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              peer: fc.constantFrom('a', 'b'),
              nonce: fc.constantFrom('n1', 'n2', 'n3'),
              step: fc.integer({ min: 0, max: 40 }),
              keep: fc.integer({ min: 0, max: 100 }),
            }),
            { maxLength: 30 },
          ),
          async (requests) => {
            const fresh = await context.open();
            try {
              const model = new Map<string, Map<string, number>>();
              let now = T;
              for (const { peer, nonce, step, keep } of requests) {
                now += step;
                for (const nonces of model.values()) for (const [key, forgetAt] of nonces) if (forgetAt < now) nonces.delete(key);
                const nonces = model.get(peer) ?? new Map<string, number>();
                model.set(peer, nonces);
                const expected = nonces.has(nonce) ? 'replayed' : nonces.size >= 2 ? 'full' : 'admitted';
                if (expected === 'admitted') nonces.set(nonce, now + keep);
                expect(await fresh.nonces.admit(peer, nonce, now + keep, now, 2)).toBe(expected);
              }
            } finally {
              await fresh.close();
            }
          },
        ),
        { numRuns: 50 },
      );
    });

    test('admit after close rejects with ROAMGATE_SHUTTING_DOWN', async () => {
      await store.close();
      context.markClosed();
      await expectRoamgateError(admit('a.example', 'n1', T + 100, T), 'ROAMGATE_SHUTTING_DOWN');
    });
  });
}

/** The audit trail: appending. */
function auditAppendContract(context: ContractContext): void {
  describe('audit: append', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('appendMany writes a batch in order, with increasing ids', async () => {
      await store.audit.append({ at: T, type: 'first', detail: {} });
      await store.audit.appendMany([
        { at: T + 1, type: 'connection', actor: 'alice', detail: { n: 1 } },
        { at: T + 2, type: 'connection', address: '127.0.0.1', detail: { n: 2 } },
      ]);
      await store.audit.appendMany([]);
      const events = await store.audit.list();
      expect(events.map((event) => event.type)).toEqual(['connection', 'connection', 'first']);
      expect(events[0]).toMatchObject({ at: T + 2, address: '127.0.0.1', detail: { n: 2 } });
      expect(events[1]).toMatchObject({ at: T + 1, actor: 'alice', detail: { n: 1 } });
      expect(events[0].id).toBeGreaterThan(events[1].id);
      expect(events[1].id).toBeGreaterThan(events[2].id);
    });

    test('a batch longer than one statement carries (several full ones and a rest) lands whole and in order', async () => {
      const batch = Array.from({ length: 137 }, (_, n) => ({
        at: T + n,
        type: 'connection',
        ...(n % 2 === 0 ? { actor: `user${n}` } : {}),
        ...(n % 3 === 0 ? { address: `192.0.2.${n % 250}:25` } : {}),
        detail: { n, text: `line ${n} "quoted"` },
      }));
      await store.audit.appendMany(batch);
      const events = (await store.audit.list({ limit: 200 })).reverse();
      expect(events.map(({ id: _id, ...event }) => event)).toEqual(batch);
      expect(events.every((event, index) => index === 0 || event.id > events[index - 1]!.id)).toBe(true);
    });

    test('append returns the event with an integer id; optional fields stay absent', async () => {
      const bare = await store.audit.append({ at: T, type: 'login', detail: {} });
      expect(Number.isInteger(bare.id)).toBe(true);
      expect(bare).toStrictEqual({ id: bare.id, at: T, type: 'login', detail: {} });
      const full = await store.audit.append({
        at: T + 1,
        type: 'connection',
        actor: 'alice',
        address: '192.0.2.7',
        detail: { service: 'smtp', bytes: [10, 20], server: { host: 'mx', port: 25 }, ok: true, note: null },
      });
      expect(full).toStrictEqual({
        id: full.id,
        at: T + 1,
        type: 'connection',
        actor: 'alice',
        address: '192.0.2.7',
        detail: { service: 'smtp', bytes: [10, 20], server: { host: 'mx', port: 25 }, ok: true, note: null },
      });
      expect(await store.audit.list()).toStrictEqual([full, bare]);
    });

    test('ids increase with every append', async () => {
      const ids = (await appendEvents(store, 5)).map((event) => event.id);
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!);
    });
  });
}

/** The audit trail: listing. */
function auditListContract(context: ContractContext): void {
  describe('audit: list', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('list of an empty trail is empty', async () => {
      expect(await store.audit.list()).toEqual([]);
      expect(await store.audit.list({ type: 'login', beforeId: 10, limit: 5 })).toEqual([]);
    });

    test('list is newest first, 100 by default', async () => {
      const appended = await appendEvents(store, 105);
      const listed = await store.audit.list();
      expect(listed).toHaveLength(100);
      expect(listed).toStrictEqual(appended.slice(5).reverse());
    });

    test('limit asks for fewer; more than 1000 gives 1000', async () => {
      const appended = await appendEvents(store, 1001);
      expect(await store.audit.list({ limit: 3 })).toStrictEqual(appended.slice(-3).reverse());
      const capped = await store.audit.list({ limit: 5000 });
      expect(capped).toHaveLength(1000);
      expect(capped[999]).toStrictEqual(appended[1]);
    });

    test('beforeId pages back through the trail without gaps or repeats', async () => {
      const appended = await appendEvents(store, 7);
      const seen: AuditEvent[] = [];
      let page = await store.audit.list({ limit: 3 });
      while (page.length > 0) {
        seen.push(...page);
        page = await store.audit.list({ limit: 3, beforeId: page[page.length - 1]!.id });
      }
      expect(seen).toStrictEqual([...appended].reverse());
    });

    test('type keeps only that type, and combines with beforeId and limit', async () => {
      const appended = await appendEvents(store, 9);
      const logins = appended.filter((event) => event.type === 'login').reverse();
      expect(await store.audit.list({ type: 'login' })).toStrictEqual(logins);
      expect(await store.audit.list({ type: 'login', beforeId: logins[1]!.id, limit: 2 })).toStrictEqual(logins.slice(2, 4));
      expect(await store.audit.list({ type: 'nothing' })).toEqual([]);
    });

    test('actor, since and until filter too (since inclusive, until exclusive), with each other and with type and beforeId', async () => {
      const events: AuditEvent[] = [];
      for (let i = 0; i < 8; i++)
        events.push(
          await store.audit.append({
            at: T + i * 10,
            type: i % 2 === 0 ? 'login' : 'connection',
            actor: i < 4 ? 'alice' : 'bob',
            detail: { i },
          }),
        );
      const newestFirst = [...events].reverse();
      const pick = (keep: (event: (typeof events)[number]) => boolean) => newestFirst.filter(keep);
      expect(await store.audit.list({ actor: 'alice' })).toStrictEqual(pick((event) => event.actor === 'alice'));
      expect(await store.audit.list({ actor: 'carol' })).toEqual([]);
      expect(await store.audit.list({ since: T + 20 })).toStrictEqual(pick((event) => event.at >= T + 20));
      expect(await store.audit.list({ until: T + 20 })).toStrictEqual(pick((event) => event.at < T + 20));
      expect(await store.audit.list({ since: T + 20, until: T + 50 })).toStrictEqual(
        pick((event) => event.at >= T + 20 && event.at < T + 50),
      );
      expect(await store.audit.list({ actor: 'bob', type: 'login', since: T + 45 })).toStrictEqual(
        pick((event) => event.actor === 'bob' && event.type === 'login' && event.at >= T + 45),
      );
      const bobs = pick((event) => event.actor === 'bob');
      expect(await store.audit.list({ actor: 'bob', beforeId: bobs[0]!.id, limit: 2 })).toStrictEqual(bobs.slice(1, 3));
    });
  });
}

/** The audit trail: retention. */
function auditPruneContract(context: ContractContext): void {
  describe('audit: prune', () => {
    let store: Store;
    beforeEach(() => {
      store = context.store();
    });

    test('prune deletes the events older than `before`, oldest first, at most `limit` a call', async () => {
      const appended = await appendEvents(store, 10);
      expect(await store.audit.prune({ before: T + 6, maxRows: 1000, limit: 4 })).toBe(4);
      expect((await store.audit.list()).map((event) => event.detail.i)).toEqual([9, 8, 7, 6, 5, 4]);
      expect(await store.audit.prune({ before: T + 6, maxRows: 1000, limit: 4 })).toBe(2);
      expect(await store.audit.prune({ before: T + 6, maxRows: 1000, limit: 4 })).toBe(0);
      expect(await store.audit.list()).toStrictEqual(appended.slice(6).reverse());
    });

    test('prune keeps at most the newest `maxRows`, deleting the oldest, at most `limit` a call', async () => {
      const appended = await appendEvents(store, 10);
      expect(await store.audit.prune({ before: T, maxRows: 3, limit: 5 })).toBe(5);
      expect(await store.audit.prune({ before: T, maxRows: 3, limit: 5 })).toBe(2);
      expect(await store.audit.prune({ before: T, maxRows: 3, limit: 5 })).toBe(0);
      expect(await store.audit.list()).toStrictEqual(appended.slice(7).reverse());
      // New events push the oldest out.
      const later = await store.audit.append({ at: T + 10, type: 'login', detail: {} });
      expect(await store.audit.prune({ before: T, maxRows: 3, limit: 5 })).toBe(1);
      expect(await store.audit.list()).toStrictEqual([later, appended[9], appended[8]]);
    });

    test('prune applies both limits in one call, the age limit first', async () => {
      await appendEvents(store, 10);
      expect(await store.audit.prune({ before: T + 2, maxRows: 5, limit: 100 })).toBe(5);
      expect((await store.audit.list()).map((event) => event.detail.i)).toEqual([9, 8, 7, 6, 5]);
    });

    test('prune of an empty trail deletes nothing; a limit below 1 is a bad request', async () => {
      expect(await store.audit.prune({ before: T + 1000, maxRows: 0, limit: 10 })).toBe(0);
      await expectRoamgateError(store.audit.prune({ before: T, maxRows: 10, limit: 0 }), 'ROAMGATE_BAD_REQUEST');
    });
  });
}
