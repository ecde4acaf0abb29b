import fc from 'fast-check';
import { PEER_CLOCK_WINDOW_MS, signRequest, verifyRequest } from '../../protocols/peer-signature';
import { MAX_REMEMBERED_NONCES, ReplayGuard } from '../../plugin/replay-guard';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite-store';

const T = 1_700_000_000_000;
const REPLAYED = 'replayed request (nonce already used)';
const FULL = 'too many peer requests in the clock window; try again shortly';
const NONCE = 'nonce-0123456789abcdef';

describe('ReplayGuard', () => {
  let stores: SqliteStore[] = [];
  /** A guard over a fresh in-memory store (or over `store`, to share one). */
  const newGuard = (max?: number, store?: SqliteStore) => {
    const backing = store ?? openSqliteStore(':memory:');
    stores.push(backing);
    return new ReplayGuard(backing.nonces, max);
  };
  afterEach(async () => {
    await Promise.all(stores.map((store) => store.close()));
    stores = [];
  });

  test('remembers at most 50 000 nonces per peer by default', async () => {
    expect(MAX_REMEMBERED_NONCES).toBe(50_000);
  });

  test('admits a new nonce, then refuses it from the same peer', async () => {
    const guard = newGuard();
    expect(await guard.admit('home.example', NONCE, T, T)).toBeNull();
    expect(await guard.admit('home.example', NONCE, T, T)).toBe(REPLAYED);
    expect(await guard.admit('home.example', NONCE, T + 5, T + 10)).toBe(REPLAYED);
  });

  test('the same nonce from another peer is another request', async () => {
    const guard = newGuard();
    expect(await guard.admit('home.example', NONCE, T, T)).toBeNull();
    expect(await guard.admit('other.example', NONCE, T, T)).toBeNull();
    expect(await guard.admit('other.example', NONCE, T, T)).toBe(REPLAYED);
  });

  test('another nonce from the same peer is another request', async () => {
    const guard = newGuard();
    expect(await guard.admit('home.example', NONCE, T, T)).toBeNull();
    expect(await guard.admit('home.example', `${NONCE}x`, T, T)).toBeNull();
  });

  // A nonce must be remembered for as long as verifyRequest still accepts its
  // timestamp: up to and including `timestamp + PEER_CLOCK_WINDOW_MS`.
  test.each<[string, number, number]>([
    ['timestamp = arrival', T, T],
    ['timestamp a little behind arrival', T - 1_000, T],
    ['timestamp a little ahead of arrival', T + 1_000, T],
    ['timestamp the whole window ahead', T + PEER_CLOCK_WINDOW_MS, T],
    ['timestamp the whole window behind', T - PEER_CLOCK_WINDOW_MS, T],
  ])(
    '%s: refused while the timestamp is acceptable, forgotten a window after the later of timestamp and arrival',
    async (_name, timestamp, arrival) => {
      const guard = newGuard();
      expect(await guard.admit('home.example', NONCE, timestamp, arrival)).toBeNull();
      const forgetAt = Math.max(timestamp, arrival) + PEER_CLOCK_WINDOW_MS;
      expect(await guard.admit('home.example', NONCE, timestamp, arrival + 1)).toBe(REPLAYED);
      expect(await guard.admit('home.example', NONCE, timestamp, forgetAt - 1)).toBe(REPLAYED);
      expect(await guard.admit('home.example', NONCE, timestamp, forgetAt + 1)).toBeNull();
    },
  );

  // At exactly timestamp + PEER_CLOCK_WINDOW_MS verifyRequest still accepts
  // the timestamp, so the guard must not have forgotten the nonce yet.
  test('a replay at the very last acceptable millisecond is refused', async () => {
    const secret = 'x'.repeat(32);
    const request = { method: 'POST', path: '/roamgate/federation/refresh', body: '{"tokens":[]}' };
    const headers = signRequest(secret, { ...request, peer: 'home.example' }, T, NONCE);
    const guard = newGuard();
    const admitAt = async (now: number) => {
      const verdict = verifyRequest(headers, request, () => secret, now);
      if (!verdict.ok) return verdict.reason;
      return await guard.admit(verdict.peer, verdict.nonce, verdict.timestamp, now);
    };
    expect(await admitAt(T)).toBeNull();
    // The signature check still accepts the captured request here...
    expect(verifyRequest(headers, request, () => secret, T + PEER_CLOCK_WINDOW_MS).ok).toBe(true);
    // ...so the guard must still remember its nonce.
    expect(await admitAt(T + PEER_CLOCK_WINDOW_MS)).toBe(REPLAYED);
  });

  test('old nonces are forgotten, so the guard does not grow without bound', async () => {
    const guard = newGuard(10);
    for (let index = 0; index < 10; index++) expect(await guard.admit('home.example', `${NONCE}${index}`, T + index, T + index)).toBeNull();
    const later = T + 5 + PEER_CLOCK_WINDOW_MS;
    // Those timestamped T..T+4 are gone; T+5 is exactly the window old (still acceptable, so still
    // remembered), and T+6..T+9 remain: 5 of the 10 places are free again.
    for (let index = 0; index < 5; index++) expect(await guard.admit('home.example', `fresh-nonce-${index}`, later, later)).toBeNull();
    expect(await guard.admit('home.example', 'fresh-nonce-5', later, later)).toBe(FULL);
    expect(await guard.admit('home.example', `${NONCE}5`, T + 5, later)).toBe(REPLAYED);
  });

  test('a guard over the same store (a restart, or a second process) still refuses a nonce the first admitted', async () => {
    const store = openSqliteStore(':memory:');
    expect(await newGuard(undefined, store).admit('home.example', NONCE, T, T)).toBeNull();
    expect(await newGuard(undefined, store).admit('home.example', NONCE, T, T + 1_000)).toBe(REPLAYED);
  });

  test('a store that fails makes admit reject (the request is not admitted)', async () => {
    const store = openSqliteStore(':memory:');
    const guard = new ReplayGuard(store.nonces);
    await store.close();
    await expect(guard.admit('home.example', NONCE, T, T)).rejects.toMatchObject({ code: 'ROAMGATE_SHUTTING_DOWN' });
  });

  describe('fails closed when full', () => {
    test("refuses a peer's new nonces while its share is full of live ones, without remembering them; other peers keep theirs", async () => {
      const guard = newGuard(2);
      expect(await guard.admit('home.example', 'nonce-a-0123456789', T, T)).toBeNull();
      expect(await guard.admit('home.example', 'nonce-b-0123456789', T, T)).toBeNull();
      expect(await guard.admit('home.example', 'nonce-c-0123456789', T, T + 1)).toBe(FULL);
      expect(await guard.admit('home.example', 'nonce-d-0123456789', T, T + PEER_CLOCK_WINDOW_MS - 1)).toBe(FULL);
      // One busy peer does not shut the others out.
      expect(await guard.admit('other.example', 'nonce-e-0123456789', T, T + 2)).toBeNull();
      expect(await guard.admit('other.example', 'nonce-e-0123456789', T, T + 3)).toBe(REPLAYED);
    });

    test('a replay is still called a replay when full', async () => {
      const guard = newGuard(1);
      expect(await guard.admit('home.example', NONCE, T, T)).toBeNull();
      expect(await guard.admit('home.example', NONCE, T, T)).toBe(REPLAYED);
    });

    test('recovers once the remembered nonces expire', async () => {
      const guard = newGuard(2);
      await guard.admit('home.example', 'nonce-a-0123456789', T, T);
      await guard.admit('home.example', 'nonce-b-0123456789', T, T);
      const later = T + PEER_CLOCK_WINDOW_MS + 1;
      expect(await guard.admit('home.example', 'nonce-c-0123456789', later, later)).toBeNull();
      // The refused nonce was not remembered: it is admitted once there is room.
      expect(await guard.admit('home.example', 'nonce-d-0123456789', later, later)).toBeNull();
      expect(await guard.admit('home.example', 'nonce-d-0123456789', later, later)).toBe(REPLAYED);
    });

    test('a guard of size zero refuses everything', async () => {
      expect(await newGuard(0).admit('home.example', NONCE, T, T)).toBe(FULL);
    });
  });

  test('property: within the window a nonce is admitted exactly once per peer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            peer: fc.constantFrom('a.example', 'b.example'),
            nonce: fc.constantFrom('n1', 'n2', 'n3', 'n4'),
            offset: fc.integer({ min: 0, max: PEER_CLOCK_WINDOW_MS - 1 }),
          }),
          { maxLength: 40 },
        ),
        async (requests) => {
          const guard = newGuard();
          const seen = new Set<string>();
          let now = T;
          for (const { peer, nonce, offset } of requests) {
            // Arrivals move forward but stay within one window of the first.
            now = Math.max(now, T + offset);
            const verdict = await guard.admit(peer, nonce, T, now);
            const key = `${peer}/${nonce}`;
            expect(verdict).toBe(seen.has(key) ? REPLAYED : null);
            seen.add(key);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
