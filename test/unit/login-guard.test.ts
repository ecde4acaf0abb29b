import {
  LoginGuard,
  MAX_TALLIES,
  type LoginAdmission,
  type LoginOrigin,
  type LoginTicket,
  type ThrottleOptions,
} from '../../plugin/login-guard';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';

/** The per-user pause kept out of the way (1000 failures before it starts), so these tests are about refusals. */
const LIMITS: ThrottleOptions = {
  perUser: { failures: 1000, windowSeconds: 900 },
  perUserAddress: { failures: 3, windowSeconds: 900 },
  perAddress: { failures: 5, windowSeconds: 900 },
  perUserDelayMs: 100,
  perUserMaxDelayMs: 300,
};

const from = (address: string): LoginOrigin => ({ address });

/** The ticket of an attempt that must have been let through. */
async function admitted(attempt: Promise<LoginAdmission>): Promise<LoginTicket> {
  const admission = await attempt;
  if (!admission.admitted) throw new Error(`refused for ${admission.waitSeconds} s`);
  return admission.ticket;
}

/** The seconds an attempt that must have been refused is told to wait. */
async function refused(attempt: Promise<LoginAdmission>): Promise<number> {
  const admission = await attempt;
  if (admission.admitted) throw new Error('let through');
  return admission.waitSeconds;
}

/** Makes `count` wrong-password attempts one after another (each must be let through). */
async function fail(guard: LoginGuard, username: string, origin: LoginOrigin, count = 1): Promise<void> {
  for (let index = 0; index < count; index++) (await admitted(guard.attempt(username, origin))).failed();
}

describe('LoginGuard: refusals per address and per (user, address)', () => {
  test('attempts are counted before the password is checked: of many wrong ones sent at once, only the allowance is checked', async () => {
    const guard = new LoginGuard(LIMITS);
    const verdicts = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const admission = await guard.attempt('alice', from('192.0.2.1'));
        // The check takes a while, and finds the password wrong.
        await new Promise((resolve) => setImmediate(resolve));
        if (admission.admitted) admission.ticket.failed();
        return admission;
      }),
    );
    expect(verdicts.filter((verdict) => verdict.admitted)).toHaveLength(3);
    const waits = verdicts.flatMap((verdict) => (verdict.admitted ? [] : [verdict.waitSeconds]));
    expect(waits).toHaveLength(27);
    expect(waits.every((wait) => wait > 0 && wait <= 900)).toBe(true);
  });

  test('right passwords sent at once are never refused: each waits for room while the allowance is in flight, none is charged', async () => {
    const guard = new LoginGuard(LIMITS);
    let inFlight = 0;
    let most = 0;
    const verdicts = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const admission = await guard.attempt('alice', from('192.0.2.1'));
        if (!admission.admitted) return admission;
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        admission.ticket.succeeded();
        return admission;
      }),
    );
    expect(verdicts.every((verdict) => verdict.admitted)).toBe(true);
    // Never more checks at once than failures the pair has left.
    expect(most).toBe(3);
    // Nothing was charged: the full allowance of wrong passwords is still there.
    await fail(guard, 'alice', from('192.0.2.1'), 3);
    await refused(guard.attempt('alice', from('192.0.2.1')));
  });

  test('wrong passwords for bob from one address refuse bob there only, not bob elsewhere nor others there', async () => {
    const guard = new LoginGuard(LIMITS);
    await fail(guard, 'bob', from('192.0.2.66'), 3);
    expect(await refused(guard.attempt('bob', from('192.0.2.66')))).toBe(900);
    (await admitted(guard.attempt('bob', from('192.0.2.7')))).succeeded();
    (await admitted(guard.attempt('alice', from('192.0.2.66')))).succeeded();
  });

  test('an address that sprays wrong passwords across user names is refused for everyone; an IPv6 address counts by its /64', async () => {
    const guard = new LoginGuard(LIMITS);
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5']) await fail(guard, name, from(`2001:db8:0:1::${name.slice(1)}`));
    await refused(guard.attempt('alice', from('2001:db8:0:1::99')));
    (await admitted(guard.attempt('alice', from('2001:db8:0:2::1')))).succeeded();
  });

  test('a right password starts its (user, address) count over and gives the address its attempt back', async () => {
    const guard = new LoginGuard(LIMITS);
    await fail(guard, 'alice', from('192.0.2.1'), 2);
    (await admitted(guard.attempt('alice', from('192.0.2.1')))).succeeded();
    // alice has her 3 again; the address has used 2 of its 5.
    await fail(guard, 'alice', from('192.0.2.1'), 3);
    await refused(guard.attempt('alice', from('192.0.2.1')));
    // The address: 2 + 3 used, so bob from there is refused too.
    await refused(guard.attempt('bob', from('192.0.2.1')));
  });
});

describe('LoginGuard: what is given back, for how long, and under which names', () => {
  test('an attempt that could not be judged is given back; a ticket settles once', async () => {
    const guard = new LoginGuard(LIMITS);
    for (let index = 0; index < 10; index++) (await admitted(guard.attempt('carol', from('192.0.2.7')))).undo();
    const ticket = await admitted(guard.attempt('carol', from('192.0.2.7')));
    ticket.failed();
    ticket.failed();
    ticket.succeeded();
    await fail(guard, 'carol', from('192.0.2.7'), 2);
    await refused(guard.attempt('carol', from('192.0.2.7')));
  });

  test('a refusal lasts until the window ends, timed on the clock', async () => {
    const clock = new ManualClock();
    const guard = new LoginGuard(LIMITS, undefined, clock);
    await fail(guard, 'alice', from('192.0.2.1'), 3);
    clock.advance(300_000);
    expect(await refused(guard.attempt('alice', from('192.0.2.1')))).toBe(600);
    clock.advance(599_999);
    expect(await refused(guard.attempt('alice', from('192.0.2.1')))).toBe(1);
    clock.advance(1);
    (await admitted(guard.attempt('alice', from('192.0.2.1')))).failed();
    // A new window, with the full allowance.
    await fail(guard, 'alice', from('192.0.2.1'), 2);
    await refused(guard.attempt('alice', from('192.0.2.1')));
  });

  test('through a peer: counted per (user, peer), never per address, so one peer refuses the user only there', async () => {
    const guard = new LoginGuard(LIMITS);
    for (let index = 0; index < 6; index++) await fail(guard, `u${index}`, { peer: 'visit.example' }, 1);
    await fail(guard, 'bob', { peer: 'visit.example' }, 3);
    await refused(guard.attempt('bob', { peer: 'visit.example' }));
    (await admitted(guard.attempt('bob', { peer: 'other.example' }))).succeeded();
    (await admitted(guard.attempt('bob', from('192.0.2.1')))).succeeded();
    (await admitted(guard.attempt('alice', { peer: 'visit.example' }))).succeeded();
  });

  test('with a user key, every spelling of one user shares one count (as the gateway does for its own realm)', async () => {
    const guard = new LoginGuard(LIMITS, (username) => username.replace(/@home\.example$/i, '').toLowerCase());
    await fail(guard, 'alice', from('192.0.2.1'));
    await fail(guard, 'alice@home.example', from('192.0.2.1'));
    await fail(guard, 'Alice@HOME.example', from('192.0.2.1'));
    await refused(guard.attempt('ALICE', from('192.0.2.1')));
    // Another realm's alice is another user.
    (await admitted(guard.attempt('alice@visit.example', from('192.0.2.1')))).succeeded();
  });
});

describe('LoginGuard: the per-user pause', () => {
  const SLOWING: ThrottleOptions = { ...LIMITS, perUser: { failures: 2, windowSeconds: 900 } };
  beforeEach(() => jest.useFakeTimers(TIMERS_ONLY));
  afterEach(() => jest.useRealTimers());

  /** How long (ms, in steps of 50) the attempt took to be decided. */
  async function pauseOf(attempt: Promise<LoginAdmission>): Promise<{ ms: number; admission: LoginAdmission }> {
    let admission: LoginAdmission | undefined;
    void attempt.then((decided) => (admission = decided));
    let ms = 0;
    await jest.advanceTimersByTimeAsync(0);
    while (admission === undefined) {
      if (ms > 60_000) throw new Error('never decided');
      await jest.advanceTimersByTimeAsync(50);
      ms += 50;
    }
    return { ms, admission };
  }

  test('failures for a user from anywhere only slow it: a growing pause, capped, and never a refusal', async () => {
    const clock = new ManualClock();
    const guard = new LoginGuard(SLOWING, undefined, clock);
    const pauses: number[] = [];
    // Each wrong password from another address, so no address and no pair is ever refused.
    for (let index = 0; index < 6; index++) {
      const { ms, admission } = await pauseOf(guard.attempt('bob', from(`192.0.2.${index + 1}`)));
      pauses.push(ms);
      expect(admission.admitted).toBe(true);
      if (admission.admitted) admission.ticket.failed();
    }
    expect(pauses).toEqual([0, 0, 100, 200, 300, 300]);
    // bob's right password from his own address: through, after at most the cap.
    const bob = await pauseOf(guard.attempt('bob', from('198.51.100.9')));
    expect(bob.ms).toBe(300);
    expect(bob.admission.admitted).toBe(true);
    // A right password does not lift the pause (the attack may go on); the window's end does.
    if (bob.admission.admitted) bob.admission.ticket.succeeded();
    expect((await pauseOf(guard.attempt('bob', from('198.51.100.9')))).ms).toBe(300);
    clock.advance(900_000);
    expect((await pauseOf(guard.attempt('bob', from('198.51.100.9')))).ms).toBe(0);
    // Other users never pay bob's pause.
    expect((await pauseOf(guard.attempt('alice', from('192.0.2.1')))).ms).toBe(0);
  });

  test('a refused attempt is answered at once, without the pause', async () => {
    const guard = new LoginGuard(SLOWING);
    for (let index = 0; index < 5; index++) {
      const { admission } = await pauseOf(guard.attempt('bob', from('192.0.2.66')));
      if (admission.admitted) admission.ticket.failed();
    }
    const { ms, admission } = await pauseOf(guard.attempt('bob', from('192.0.2.66')));
    expect(admission.admitted).toBe(false);
    expect(ms).toBe(0);
  });
});

describe('LoginGuard: refusals noted once per wait', () => {
  test('a refusal is noted once per wait for each user and address, so a hammering client cannot flood the audit trail', () => {
    const guard = new LoginGuard(LIMITS);
    expect(guard.firstRefusal('alice', '192.0.2.1', 60)).toBe(true);
    for (let index = 0; index < 100; index++) expect(guard.firstRefusal('ALICE', '192.0.2.1', 60)).toBe(false);
    expect(guard.firstRefusal('alice', '192.0.2.2', 60)).toBe(true);
    expect(guard.firstRefusal('bob', '192.0.2.1', 60)).toBe(true);
  });

  test('once its wait has passed, a refusal is noted again', () => {
    const clock = new ManualClock();
    const guard = new LoginGuard(LIMITS, undefined, clock);
    expect(guard.firstRefusal('alice', '192.0.2.1', 60)).toBe(true);
    clock.advance(60_000);
    expect(guard.firstRefusal('alice', '192.0.2.1', 60)).toBe(false);
    clock.advance(1);
    expect(guard.firstRefusal('alice', '192.0.2.1', 60)).toBe(true);
  });
});

describe('LoginGuard: failures shared with other gateway processes', () => {
  test('each failure counted here is told to the share under its count and key; a success or an undo tells nothing', async () => {
    const guard = new LoginGuard(LIMITS);
    const told: Array<[string, string]> = [];
    guard.shareFailures((scope, key) => told.push([scope, key]));
    await fail(guard, 'Alice', from('192.0.2.1'));
    (await admitted(guard.attempt('alice', from('192.0.2.1')))).succeeded();
    (await admitted(guard.attempt('alice', from('192.0.2.1')))).undo();
    expect(told.map(([scope]) => scope).sort()).toEqual(['perAddress', 'perUser', 'perUserAddress']);
    expect(told).toContainEqual(['perUser', 'alice']);
  });

  test('failures counted elsewhere count here: the allowance of (user, address) is used up by both together', async () => {
    const here = new LoginGuard(LIMITS);
    const there = new LoginGuard(LIMITS);
    there.shareFailures((scope, key) => here.countElsewhere(scope, key));
    await fail(there, 'alice', from('192.0.2.1'), 2);
    await fail(here, 'alice', from('192.0.2.1'));
    expect(await refused(here.attempt('alice', from('192.0.2.1')))).toBeGreaterThan(0);
    // Another address is another count.
    expect((await here.attempt('alice', from('192.0.2.2'))).admitted).toBe(true);
  });

  test('an unknown count name changes nothing', async () => {
    const guard = new LoginGuard(LIMITS);
    for (let n = 0; n < 10; n++) guard.countElsewhere('perNothing', '192.0.2.1');
    expect((await guard.attempt('alice', from('192.0.2.1'))).admitted).toBe(true);
  });
});

describe('LoginGuard: how much it remembers', () => {
  test(`past ${MAX_TALLIES} addresses the least recently used is forgotten; the ones in use stay; a settled right login leaves nothing behind`, async () => {
    const guard = new LoginGuard(LIMITS);
    await fail(guard, 'mallory', from('192.0.2.1'), 3);
    expect(await refused(guard.attempt('mallory', from('192.0.2.1')))).toBeGreaterThan(0);
    // A right password settled: its tallies go at once (and cost nothing, however many are kept).
    (await admitted(guard.attempt('alice', from('192.0.2.2')))).succeeded();
    for (let index = 0; index < MAX_TALLIES - 10; index++)
      await fail(guard, `user${index}`, from(`10.${index >> 16}.${(index >> 8) & 255}.${index & 255}`));
    // Still among the most recent: refused.
    expect(await refused(guard.attempt('mallory', from('192.0.2.1')))).toBeGreaterThan(0);
    for (let index = 0; index < MAX_TALLIES; index++)
      await fail(guard, `other${index}`, from(`11.${index >> 16}.${(index >> 8) & 255}.${index & 255}`));
    // Pushed out by as many newer addresses: forgotten, so let through again.
    (await admitted(guard.attempt('mallory', from('192.0.2.1')))).failed();
  }, 60_000);
});
