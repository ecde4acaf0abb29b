import { LoginGuard } from '../../plugin/login-guard';

const LIMITS = { perUser: { failures: 3, windowSeconds: 900 }, perAddress: { failures: 100, windowSeconds: 900 } };

describe('LoginGuard', () => {
  test('by default a user name counts the same in any case', async () => {
    const guard = new LoginGuard(LIMITS);
    await guard.failed('Alice', '192.0.2.1');
    await guard.failed('ALICE', '192.0.2.2');
    expect(await guard.retryAfterUser('alice')).toBeNull();
    await guard.failedUser('alice');
    expect(await guard.retryAfterUser('aLiCe')).toBeGreaterThan(0);
  });

  test('with a user key, every spelling of one user shares one count (as the gateway does for its own realm)', async () => {
    const guard = new LoginGuard(LIMITS, (username) => username.replace(/@home\.example$/i, '').toLowerCase());
    await guard.failed('alice', '192.0.2.1');
    await guard.failedUser('alice@home.example');
    expect(await guard.retryAfter('alice', '192.0.2.9')).toBeNull();
    await guard.failedUser('Alice@HOME.example');
    expect(await guard.retryAfter('alice', '192.0.2.9')).toBeGreaterThan(0);
    expect(await guard.retryAfterUser('alice@home.example')).toBeGreaterThan(0);
    // Another realm's alice is another user.
    expect(await guard.retryAfterUser('alice@visit.example')).toBeNull();
    // A success clears the count under every spelling.
    await guard.succeeded('alice@home.example');
    expect(await guard.retryAfter('alice', '192.0.2.9')).toBeNull();
  });
});
