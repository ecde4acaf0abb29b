import { CachingDirectory } from '../../plugin/directory-cache';
import type { Directory, User } from '../../plugin/directory';
import { ManualClock } from '../helpers/clock';

/** A directory that counts its checks: alice/alice-pw is the only valid login. */
function countingDirectory(): Directory & { checks: number; disabled: boolean } {
  const directory = {
    checks: 0,
    disabled: false,
    async verify(username: string, password: string): Promise<User | false> {
      directory.checks++;
      return username === 'alice' && password === 'alice-pw' ? { id: 'alice', attributes: {} } : false;
    },
    async get(id: string) {
      return id === 'alice' && !directory.disabled ? { id, attributes: {} } : undefined;
    },
  };
  return directory;
}

describe('CachingDirectory', () => {
  test('a successful check is remembered; the inner directory is asked once', async () => {
    const inner = countingDirectory();
    const cached = new CachingDirectory(inner, 300);
    expect(await cached.verify('alice', 'alice-pw')).toEqual({ id: 'alice', attributes: {} });
    expect(await cached.verify('alice', 'alice-pw')).toEqual({ id: 'alice', attributes: {} });
    expect(inner.checks).toBe(1);
  });

  test('a remembered login stops working at once when the user is disabled or removed', async () => {
    const inner = countingDirectory();
    const cached = new CachingDirectory(inner, 300);
    expect(await cached.verify('alice', 'alice-pw')).not.toBe(false);
    inner.disabled = true;
    expect(await cached.verify('alice', 'alice-pw')).toBe(false);
    inner.disabled = false;
    // Forgotten, so the next login is checked again in full.
    expect(await cached.verify('alice', 'alice-pw')).not.toBe(false);
    expect(inner.checks).toBe(2);
  });

  test('failures are never remembered, and another password is checked anew', async () => {
    const inner = countingDirectory();
    const cached = new CachingDirectory(inner, 300);
    expect(await cached.verify('alice', 'wrong')).toBe(false);
    expect(await cached.verify('alice', 'wrong')).toBe(false);
    expect(await cached.verify('alice', 'alice-pw')).not.toBe(false);
    expect(await cached.verify('alice', 'alice-pw\u0000')).toBe(false);
    expect(inner.checks).toBe(4);
  });

  test('user name and password are not confused across the separator', async () => {
    const inner = countingDirectory();
    const cached = new CachingDirectory(inner, 300);
    await cached.verify('alice', 'alice-pw');
    expect(await cached.verify('alicealice-pw', '')).toBe(false);
  });

  test('an entry expires after its time', async () => {
    const clock = new ManualClock();
    const inner = countingDirectory();
    const cached = new CachingDirectory(inner, 1, clock);
    await cached.verify('alice', 'alice-pw');
    clock.advance(900);
    await cached.verify('alice', 'alice-pw');
    expect(inner.checks).toBe(1);
    clock.advance(200);
    await cached.verify('alice', 'alice-pw');
    expect(inner.checks).toBe(2);
  });
});
