import { LoginGuard } from '../../plugin/login-guard';
import { ManualClock } from '../helpers/clock';

const LIMITS = { perUser: { failures: 3, windowSeconds: 900 }, perAddress: { failures: 5, windowSeconds: 900 } };

describe('LoginGuard', () => {
  test('attempts are counted before the password is checked: of many made at once, only the allowance goes ahead', async () => {
    const guard = new LoginGuard(LIMITS);
    const verdicts = await Promise.all(Array.from({ length: 30 }, () => guard.attempt('alice', '192.0.2.1')));
    expect(verdicts.filter((wait) => wait === null)).toHaveLength(3);
    expect(verdicts.filter((wait) => wait !== null).every((wait) => wait! > 0 && wait! <= 900)).toBe(true);
  });

  test('a wrong password keeps its attempt; a right one starts the user over and gives the address its attempt back', async () => {
    const guard = new LoginGuard(LIMITS);
    expect(await guard.attempt('alice', '192.0.2.1')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.1')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.1')).toBeNull();
    await guard.succeeded('alice', '192.0.2.1');
    // alice starts over; the address has used 2 of its 5.
    for (let index = 0; index < 3; index++) expect(await guard.attempt('alice', '192.0.2.1')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.1')).toBeGreaterThan(0);
    // The address: 2 + 3 used, so bob from there is refused too.
    expect(await guard.attempt('bob', '192.0.2.1')).toBeGreaterThan(0);
  });

  test('an attempt refused for its address takes nothing from the user; one that could not be judged is given back', async () => {
    const guard = new LoginGuard({ perUser: { failures: 2, windowSeconds: 900 }, perAddress: { failures: 1, windowSeconds: 900 } });
    expect(await guard.attempt('carol', '192.0.2.7')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.7')).toBeGreaterThan(0);
    expect(await guard.attempt('alice', '192.0.2.8')).toBeNull();
    await guard.undo('alice', '192.0.2.8');
    expect(await guard.attempt('alice', '192.0.2.9')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.10')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.11')).toBeGreaterThan(0);
  });

  test('by default a user name counts the same in any case; without an address only the user is counted', async () => {
    const guard = new LoginGuard(LIMITS);
    expect(await guard.attempt('Alice', '192.0.2.1')).toBeNull();
    expect(await guard.attempt('ALICE')).toBeNull();
    expect(await guard.attempt('alice')).toBeNull();
    expect(await guard.attempt('aLiCe', '192.0.2.2')).toBeGreaterThan(0);
  });

  test('with a user key, every spelling of one user shares one count (as the gateway does for its own realm)', async () => {
    const guard = new LoginGuard(LIMITS, (username) => username.replace(/@home\.example$/i, '').toLowerCase());
    expect(await guard.attempt('alice', '192.0.2.1')).toBeNull();
    expect(await guard.attempt('alice@home.example')).toBeNull();
    expect(await guard.attempt('Alice@HOME.example')).toBeNull();
    expect(await guard.attempt('alice', '192.0.2.9')).toBeGreaterThan(0);
    // Another realm's alice is another user.
    expect(await guard.attempt('alice@visit.example')).toBeNull();
    // A success clears the count under every spelling.
    await guard.succeeded('alice@home.example');
    expect(await guard.attempt('alice', '192.0.2.9')).toBeNull();
  });

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
