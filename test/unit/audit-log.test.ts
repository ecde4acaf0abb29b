import { AUDIT_FLUSH_INTERVAL_MS, AUDIT_MAX_BACKLOG, AUDIT_MAX_QUEUE, AuditLog } from '../../plugin/audit-log';
import type { Logger } from '../../plugin/options';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import { StoreUnavailableError } from '../../store/store';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';

const T = 1_700_000_000_000;

/** A logger that keeps what it is given, by level. */
function capturingLogger() {
  const lines: Array<{ level: 'info' | 'warn' | 'error'; obj: object; msg?: string }> = [];
  const logger: Logger = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
  return { logger, lines };
}

/** Lets pending promise callbacks and I/O callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

let clock: ManualClock;
let store: SqliteStore;
let captured: ReturnType<typeof capturingLogger>;
let audit: AuditLog;
beforeEach(() => {
  clock = new ManualClock(T);
  store = openSqliteStore(':memory:');
  captured = capturingLogger();
  audit = new AuditLog(store, captured.logger, clock);
});
afterEach(async () => {
  await audit.flush();
  await store.close();
});

describe('AuditLog: recording and listing', () => {
  test('list() returns recorded events newest first, with their fields, time and ids', async () => {
    audit.record('login.success', { actor: 'alice', address: '192.0.2.7', detail: { via: 'form' } });
    clock.advance(10);
    audit.record('lease.issued', { actor: 'alice', detail: { lease: 'l1' } });
    clock.advance(10);
    audit.record('connection');
    const events = await audit.list();
    expect(events).toEqual([
      { id: 3, at: T + 20, type: 'connection', detail: {} },
      { id: 2, at: T + 10, type: 'lease.issued', actor: 'alice', detail: { lease: 'l1' } },
      { id: 1, at: T, type: 'login.success', actor: 'alice', address: '192.0.2.7', detail: { via: 'form' } },
    ]);
  });

  test('list() passes the query on', async () => {
    for (const type of ['a', 'b', 'a', 'b', 'a']) audit.record(type);
    expect((await audit.list({ type: 'a' })).map((event) => event.id)).toEqual([5, 3, 1]);
    expect((await audit.list({ limit: 2 })).map((event) => event.id)).toEqual([5, 4]);
    expect((await audit.list({ beforeId: 3 })).map((event) => event.id)).toEqual([2, 1]);
  });

  test('events are queued, not written, until a flush', async () => {
    audit.record('login.failure', { actor: 'mallory' });
    await settle();
    expect(await store.audit.list()).toEqual([]);
    await audit.flush();
    expect((await store.audit.list()).map((event) => event.type)).toEqual(['login.failure']);
  });

  test('flush() with nothing queued resolves and writes nothing', async () => {
    await audit.flush();
    expect(await store.audit.list()).toEqual([]);
  });
});

describe('AuditLog: batches', () => {
  test(`the timer writes the queue after ${AUDIT_FLUSH_INTERVAL_MS} ms`, async () => {
    jest.useFakeTimers(TIMERS_ONLY);
    try {
      audit.record('a');
      audit.record('b');
      await jest.advanceTimersByTimeAsync(AUDIT_FLUSH_INTERVAL_MS - 1);
      expect(await store.audit.list()).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect((await store.audit.list()).map((event) => event.type)).toEqual(['b', 'a']);
    } finally {
      jest.useRealTimers();
    }
  });

  test(`a queue of ${AUDIT_MAX_QUEUE} events is written at once, without waiting for the timer`, async () => {
    for (let i = 0; i < AUDIT_MAX_QUEUE - 1; i++) audit.record('connection', { detail: { i } });
    await settle();
    expect(await store.audit.list({ limit: 1 })).toEqual([]);
    audit.record('connection', { detail: { i: AUDIT_MAX_QUEUE - 1 } });
    await settle();
    expect((await store.audit.list({ limit: 1 }))[0]?.detail).toEqual({ i: AUDIT_MAX_QUEUE - 1 });
  });

  test(`more than ${AUDIT_MAX_QUEUE} events are all written, once each, in order`, async () => {
    const count = AUDIT_MAX_QUEUE * 2 - 3;
    for (let i = 0; i < count; i++) audit.record('connection', { detail: { i } });
    await audit.flush();
    const events = await store.audit.list({ limit: 1000 });
    expect(events).toHaveLength(count);
    expect(events.map((event) => event.detail.i)).toEqual(Array.from({ length: count }, (_, i) => count - 1 - i));
    expect(captured.lines).toEqual([]);
  });

  test('an empty actor or address is left out', async () => {
    audit.record('x', { actor: '', address: '' });
    expect(await audit.list()).toEqual([{ id: 1, at: T, type: 'x', detail: {} }]);
  });
});

describe('AuditLog: a store that fails', () => {
  test('a store that fails: flush does not throw, and the failure is logged as an error', async () => {
    await store.close();
    audit.record('login.success', { actor: 'alice' });
    audit.record('lease.issued', { actor: 'alice' });
    await expect(audit.flush()).resolves.toBeUndefined();
    expect(captured.lines).toEqual([
      {
        level: 'error',
        obj: { event: 'audit-write-failed', events: 2, err: expect.objectContaining({ code: 'ROAMGATE_SHUTTING_DOWN' }) },
        msg: 'could not write audit events',
      },
    ]);
    // A failed batch does not jam the queue: the next one is tried (and logged) too.
    audit.record('lease.revoked');
    await expect(audit.flush()).resolves.toBeUndefined();
    expect(captured.lines.map((line) => (line.obj as { events: number }).events)).toEqual([2, 1]);
  });

  test('a store that fails: list() rejects after logging the failed write', async () => {
    await store.close();
    audit.record('login.success');
    await expect(audit.list()).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
    expect(captured.lines).toHaveLength(1);
  });
});

describe('AuditLog: a store that cannot be used for a while', () => {
  test('while the store cannot be used, events are kept (logged once) and written, in order, once it can; the newest are kept', async () => {
    const appendMany = store.audit.appendMany;
    let down = true;
    const refusals: number[] = [];
    store.audit.appendMany = (events) => {
      if (!down) return appendMany(events);
      refusals.push(events.length);
      return Promise.reject(new StoreUnavailableError('audit.appendMany', { ok: false, problem: 'vanished', reason: 'gone', since: T }));
    };
    for (let i = 0; i < AUDIT_MAX_BACKLOG + 5; i++) audit.record('connection', { detail: { i } });
    await audit.flush();
    audit.record('connection', { detail: { i: AUDIT_MAX_BACKLOG + 5 } });
    await audit.flush();
    expect(refusals.length).toBeGreaterThan(1);
    expect(captured.lines).toEqual([
      {
        level: 'error',
        obj: expect.objectContaining({ event: 'audit-held' }),
        msg: expect.stringContaining(`keeping them in memory (at most ${AUDIT_MAX_BACKLOG})`),
      },
    ]);
    down = false;
    await audit.flush();
    const written = await store.audit.list({ limit: 1000 });
    expect(written[0]?.detail).toEqual({ i: AUDIT_MAX_BACKLOG + 5 });
    expect(written[999]?.detail).toEqual({ i: AUDIT_MAX_BACKLOG + 5 - 999 });
    expect(await store.audit.list({ beforeId: written[999]!.id, limit: 1000 })).toHaveLength(1000);
    // The oldest six went: AUDIT_MAX_BACKLOG kept.
    expect(await store.audit.prune({ before: 0, maxRows: 0, limit: AUDIT_MAX_BACKLOG * 2 })).toBe(AUDIT_MAX_BACKLOG);
    expect(captured.lines[1]).toEqual({
      level: 'info',
      obj: { event: 'audit-held-written', events: AUDIT_MAX_BACKLOG, dropped: 6 },
      msg: 'wrote the audit events kept while the store could not be used',
    });
  });
});
