import { MAX_PEER_REFRESH_BATCH } from '../../plugin/defaults';
import type { User } from '../../plugin/directory';
import { HomeRefresher, type HomeRefreshEvents, type RefreshedHome } from '../../plugin/home-refresh';
import { LeaseManager, type LeaseEnd } from '../../plugin/lease-manager';
import type { RefreshAnswer } from '../../protocols/peer-messages';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;

let store: SqliteStore;
let leases: LeaseManager;
let ends: Array<[string, LeaseEnd]>;

beforeEach(() => {
  store = openSqliteStore(':memory:');
  leases = new LeaseManager(store, 3600, new ManualClock(T));
  ends = [];
  leases.onEnd((lease, why) => ends.push([lease.id, why]));
});
afterEach(async () => {
  leases.close();
  await store.close();
});

function visitorOf(realm: string, name: string, token: string): User {
  return {
    id: `${name}@${realm}`,
    attributes: { realm },
    home: { realm, username: name, token, expiresAt: T + 2 * HOUR, services: [{ service: 'smtp', own: true }] },
  };
}

async function issue(realm: string, name: string, token: string, address = '192.0.2.7') {
  return (await leases.issue(visitorOf(realm, name, token), address)).lease;
}

/** A home client answering from a table of live tokens; records every batch it is asked. */
class FakeHomeClient {
  readonly batches: string[][] = [];
  constructor(private readonly live: (token: string) => boolean) {}
  async refresh(tokens: readonly string[]): Promise<RefreshAnswer['leases']> {
    this.batches.push([...tokens]);
    return tokens.map((token) => (this.live(token) ? { active: true, expiresAt: T + HOUR } : { active: false }));
  }
}

function recorder() {
  const ended: Array<[string, string, string]> = [];
  const failed: Array<[string, Error]> = [];
  const events: HomeRefreshEvents = {
    ended: (leaseId, userId, realm) => ended.push([leaseId, userId, realm]),
    failed: (realm, error) => failed.push([realm, error]),
  };
  return { events, ended, failed };
}

function home(realm: string, client: RefreshedHome['client'], refreshSeconds = 60): RefreshedHome {
  return { realm, refreshSeconds, client };
}

const liveIds = () =>
  leases
    .list()
    .map((lease) => lease.id)
    .sort();

describe('HomeRefresher.refresh', () => {
  test('revokes the leases whose home lease ended, keeps the live ones, and reports each end', async () => {
    const alice = await issue('home.example', 'alice', 'token-alice-0123456789');
    const bob = await issue('home.example', 'bob', 'token-bob-0123456789');
    const client = new FakeHomeClient((token) => token !== 'token-bob-0123456789');
    const { events, ended, failed } = recorder();
    await new HomeRefresher([home('home.example', client)], leases, events).refresh();
    expect(ended).toEqual([[bob.id, 'bob@home.example', 'home.example']]);
    expect(failed).toEqual([]);
    expect(liveIds()).toEqual([alice.id]);
    expect(ends).toEqual([[bob.id, 'revoked']]);
    expect((await store.leases.listLive(T)).map((lease) => lease.id)).toEqual([alice.id]);
  });

  test('asks once per home token, however many leases stand on it, and revokes them all', async () => {
    const first = await issue('home.example', 'alice', 'token-shared-0123456789', '192.0.2.7');
    const second = await issue('home.example', 'alice', 'token-shared-0123456789', '192.0.2.8');
    const third = await issue('home.example', 'alice', 'token-shared-0123456789', '192.0.2.9');
    const client = new FakeHomeClient(() => false);
    const { events, ended } = recorder();
    await new HomeRefresher([home('home.example', client)], leases, events).refresh();
    expect(client.batches).toEqual([['token-shared-0123456789']]);
    expect(ended.map(([id]) => id).sort()).toEqual([first.id, second.id, third.id].sort());
    expect(liveIds()).toEqual([]);
  });

  test("only asks each home about its own visitors, and leaves other realms' and local leases alone", async () => {
    const homeVisitor = await issue('home.example', 'alice', 'token-home-0123456789');
    const otherVisitor = await issue('other.example', 'dave', 'token-other-0123456789');
    const local = (await leases.issue({ id: 'erin', attributes: {} }, '192.0.2.10')).lease;
    const homeClient = new FakeHomeClient(() => false);
    const otherClient = new FakeHomeClient(() => false);
    const { events, ended } = recorder();
    const refresher = new HomeRefresher([home('home.example', homeClient), home('other.example', otherClient)], leases, events);
    await refresher.refresh('home.example');
    expect(homeClient.batches).toEqual([['token-home-0123456789']]);
    expect(otherClient.batches).toEqual([]);
    expect(ended).toEqual([[homeVisitor.id, 'alice@home.example', 'home.example']]);
    expect(liveIds()).toEqual([otherVisitor.id, local.id].sort());
  });

  test('without a realm every home is checked', async () => {
    await issue('home.example', 'alice', 'token-home-0123456789');
    const other = await issue('other.example', 'dave', 'token-other-0123456789');
    const homeClient = new FakeHomeClient(() => true);
    const otherClient = new FakeHomeClient(() => false);
    const { events, ended } = recorder();
    await new HomeRefresher([home('home.example', homeClient), home('other.example', otherClient)], leases, events).refresh();
    expect(homeClient.batches).toEqual([['token-home-0123456789']]);
    expect(otherClient.batches).toEqual([['token-other-0123456789']]);
    expect(ended).toEqual([[other.id, 'dave@other.example', 'other.example']]);
  });

  test('a home without visitors is not asked', async () => {
    await leases.issue({ id: 'erin', attributes: {} }, '192.0.2.10');
    const client = new FakeHomeClient(() => false);
    const { events, ended, failed } = recorder();
    await new HomeRefresher([home('home.example', client)], leases, events).refresh();
    expect(client.batches).toEqual([]);
    expect(ended).toEqual([]);
    expect(failed).toEqual([]);
  });

  test('leases already revoked here are neither asked about nor reported again', async () => {
    const gone = await issue('home.example', 'alice', 'token-alice-0123456789');
    await leases.revoke(gone.id);
    const client = new FakeHomeClient(() => false);
    const { events, ended } = recorder();
    await new HomeRefresher([home('home.example', client)], leases, events).refresh();
    expect(client.batches).toEqual([]);
    expect(ended).toEqual([]);
  });

  test.each<[string, () => Promise<never>]>([
    ['throws', async () => Promise.reject(new Error('home.example did not answer within 5000 ms'))],
    [
      'throws synchronously',
      () => {
        throw new Error('home.example did not answer within 5000 ms');
      },
    ],
  ])('a client that %s: failed is reported with the error and nothing is revoked', async (_name, refresh) => {
    const alice = await issue('home.example', 'alice', 'token-alice-0123456789');
    const bob = await issue('home.example', 'bob', 'token-bob-0123456789');
    const { events, ended, failed } = recorder();
    const refresher = new HomeRefresher([home('home.example', { refresh })], leases, events);
    await expect(refresher.refresh()).resolves.toBeUndefined();
    expect(failed).toEqual([['home.example', new Error('home.example did not answer within 5000 ms')]]);
    expect(ended).toEqual([]);
    expect(liveIds()).toEqual([alice.id, bob.id].sort());
  });

  test('one failing home does not keep another from being checked', async () => {
    await issue('home.example', 'alice', 'token-alice-0123456789');
    const other = await issue('other.example', 'dave', 'token-other-0123456789');
    const { events, ended, failed } = recorder();
    const refresher = new HomeRefresher(
      [
        home('home.example', { refresh: async () => Promise.reject(new Error('down')) }),
        home('other.example', new FakeHomeClient(() => false)),
      ],
      leases,
      events,
    );
    await refresher.refresh();
    expect(failed.map(([realm]) => realm)).toEqual(['home.example']);
    expect(ended).toEqual([[other.id, 'dave@other.example', 'other.example']]);
  });

  test(`more than ${MAX_PEER_REFRESH_BATCH} tokens are asked in batches, each answer matched to its own batch`, async () => {
    expect(MAX_PEER_REFRESH_BATCH).toBe(500);
    const count = MAX_PEER_REFRESH_BATCH + 3;
    const ids = new Map<string, string>();
    for (let index = 0; index < count; index++) {
      const token = `token-${String(index).padStart(4, '0')}-0123456789`;
      ids.set(token, (await issue('home.example', `user${index}`, token)).id);
    }
    // One token ends in the first batch, one in the second.
    const endedTokens = new Set([...ids.keys()].filter((_, index) => index === 7 || index === count - 2));
    const client = new FakeHomeClient((token) => !endedTokens.has(token));
    const { events, ended } = recorder();
    await new HomeRefresher([home('home.example', client)], leases, events).refresh();
    expect(client.batches.map((batch) => batch.length)).toEqual([MAX_PEER_REFRESH_BATCH, 3]);
    expect(client.batches.flat().sort()).toEqual([...ids.keys()].sort());
    expect(ended.map(([id]) => id).sort()).toEqual([...endedTokens].map((token) => ids.get(token)).sort());
    expect(leases.list()).toHaveLength(count - 2);
  });

  test('a second run for a home while one is under way is skipped', async () => {
    await issue('home.example', 'alice', 'token-alice-0123456789');
    let release: (answers: RefreshAnswer['leases']) => void = () => undefined;
    const calls: string[][] = [];
    const client = {
      refresh: (tokens: readonly string[]) => (
        calls.push([...tokens]), new Promise<RefreshAnswer['leases']>((resolve) => (release = resolve))
      ),
    };
    const { events, ended } = recorder();
    const refresher = new HomeRefresher([home('home.example', client)], leases, events);
    const first = refresher.refresh();
    await refresher.refresh();
    expect(calls).toHaveLength(1);
    release([{ active: false }]);
    await first;
    expect(ended).toHaveLength(1);
    // Once done, the next run asks again.
    await issue('home.example', 'bob', 'token-bob-0123456789');
    const second = refresher.refresh();
    release([{ active: true }]);
    await second;
    expect(calls).toEqual([['token-alice-0123456789'], ['token-bob-0123456789']]);
  });
});

describe('HomeRefresher.start and close', () => {
  afterEach(() => jest.useRealTimers());

  test('checks each home every refreshSeconds until closed', async () => {
    await issue('home.example', 'alice', 'token-alice-0123456789');
    await issue('other.example', 'dave', 'token-other-0123456789');
    jest.useFakeTimers(TIMERS_ONLY);
    const homeClient = new FakeHomeClient(() => true);
    const otherClient = new FakeHomeClient(() => true);
    const refresher = new HomeRefresher(
      [home('home.example', homeClient, 10), home('other.example', otherClient, 25)],
      leases,
      recorder().events,
    );
    refresher.start();
    refresher.start();
    await jest.advanceTimersByTimeAsync(9_999);
    expect(homeClient.batches).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(homeClient.batches).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(40_000);
    // Started twice, but one timer per home: 10 s -> 5 runs, 25 s -> 2 runs in 50 s.
    expect(homeClient.batches).toHaveLength(5);
    expect(otherClient.batches).toHaveLength(2);
    refresher.close();
    await jest.advanceTimersByTimeAsync(100_000);
    expect(homeClient.batches).toHaveLength(5);
    expect(otherClient.batches).toHaveLength(2);
  });
});
