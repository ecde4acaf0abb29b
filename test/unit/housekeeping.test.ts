import { HOUSEKEEPING_INTERVAL_MS } from '../../plugin/defaults';
import { startHousekeeping } from '../../plugin/housekeeping';
import { LeaseManager } from '../../plugin/lease-manager';
import type { Logger } from '../../plugin/options';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';
import { until } from '../helpers/until';

const T = 1_700_000_000_000;
const DAY_MS = 24 * 3600 * 1000;

let store: SqliteStore;
let clock: ManualClock;
let lines: Array<{ level: string; obj: Record<string, unknown> }>;
const logger: Logger = {
  info: (obj) => lines.push({ level: 'info', obj: obj as Record<string, unknown> }),
  warn: (obj) => lines.push({ level: 'warn', obj: obj as Record<string, unknown> }),
  error: (obj) => lines.push({ level: 'error', obj: obj as Record<string, unknown> }),
};

beforeEach(() => {
  store = openSqliteStore(':memory:');
  clock = new ManualClock(T);
  lines = [];
});
afterEach(async () => {
  jest.useRealTimers();
  await store.close();
});

/** Appends `count` audit events, one a second from `from`. */
async function appendEvents(count: number, from: number): Promise<void> {
  await store.audit.appendMany(Array.from({ length: count }, (_, i) => ({ at: from + i * 1000, type: 'connection', detail: { i } })));
}

function housekeeping(audit: { retentionDays: number; maxRows: number }, pruneBatch?: number) {
  return startHousekeeping({ leases: new LeaseManager(store, 3600, clock), store, logger, clock, audit, pruneBatch });
}

describe('housekeeping keeps the audit trail within audit.retentionDays and audit.maxRows', () => {
  test('at start, events older than the retention go, then the oldest beyond the row cap; what was deleted is logged', async () => {
    await appendEvents(50, T - 40 * DAY_MS);
    await appendEvents(30, T - 1000 * 1000);
    const kept = (await store.audit.list({ limit: 20 })).map((event) => event.id);
    const running = housekeeping({ retentionDays: 30, maxRows: 20 }, 7);
    // The round at start, nobody asking.
    await until(() => lines.length > 0, 'the round at start');
    running.close();
    expect((await store.audit.list({ limit: 1000 })).map((event) => event.id)).toEqual(kept);
    expect(lines).toEqual([{ level: 'info', obj: expect.objectContaining({ event: 'housekeeping', auditEventsDeleted: 60 }) }]);
  });

  test('every HOUSEKEEPING_INTERVAL_MS, events that aged past the retention meanwhile go', async () => {
    jest.useFakeTimers(TIMERS_ONLY);
    await appendEvents(10, T - 29 * DAY_MS);
    let rounds = 0;
    const purge = store.leases.purge;
    store.leases.purge = (before) => {
      rounds++;
      return purge(before);
    };
    const running = housekeeping({ retentionDays: 30, maxRows: 1000 });
    await running.run();
    expect(rounds).toBe(1);
    expect(await store.audit.list()).toHaveLength(10);
    clock.advance(2 * DAY_MS);
    jest.advanceTimersByTime(HOUSEKEEPING_INTERVAL_MS - 1);
    expect(rounds).toBe(1);
    jest.advanceTimersByTime(1);
    expect(rounds).toBe(2);
    // Joins the round the interval started.
    await running.run();
    running.close();
    expect(rounds).toBe(2);
    expect(await store.audit.list()).toEqual([]);
  });

  test('a trail far over its limits is cut a batch per store call, with other work let in between', async () => {
    await appendEvents(100, T - 40 * DAY_MS);
    let turns = 0;
    let turning = true;
    const turn = () => {
      turns++;
      if (turning) setImmediate(turn);
    };
    setImmediate(turn);
    const turnsAtEachBatch: number[] = [];
    const prune = store.audit.prune;
    store.audit.prune = (limits) => {
      turnsAtEachBatch.push(turns);
      expect(limits.limit).toBe(10);
      return prune(limits);
    };
    const running = housekeeping({ retentionDays: 30, maxRows: 1000 }, 10);
    await running.run();
    running.close();
    turning = false;
    expect(await store.audit.list()).toEqual([]);
    // 10 batches of 10, and an eleventh finding nothing; other work ran between each two.
    expect(turnsAtEachBatch).toHaveLength(11);
    for (let i = 1; i < turnsAtEachBatch.length; i++) expect(turnsAtEachBatch[i]).toBeGreaterThan(turnsAtEachBatch[i - 1]!);
  });

  test('a store that refuses is warned about, and the next round tries again', async () => {
    await appendEvents(5, T - 40 * DAY_MS);
    const prune = store.audit.prune;
    store.audit.prune = () => Promise.reject(new Error('disk on fire'));
    const running = housekeeping({ retentionDays: 30, maxRows: 1000 });
    await running.run();
    expect(lines).toEqual([{ level: 'warn', obj: expect.objectContaining({ event: 'housekeeping' }) }]);
    store.audit.prune = prune;
    await running.run();
    running.close();
    expect(await store.audit.list()).toEqual([]);
  });
});
