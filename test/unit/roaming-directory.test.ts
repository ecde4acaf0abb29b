import { RoamgateError } from '../../errors';
import type { Directory, User } from '../../plugin/directory';
import {
  RoamingDirectory,
  HOME_ANSWER_CACHE_MAX_ENTRIES,
  reconfirmVisitor,
  splitRealm,
  type HomePeer,
} from '../../plugin/roaming-directory';
import type { VerifyOutcome } from '../../plugin/peer-client';
import type { VerifyAnswer } from '../../protocols/peer-messages';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;
const OWN = 'Visited.Example';
const TOKEN = 'home-lease-token-0123456789';

/** The directory's clock. Its cache's purge timers are jest's (timers only: the time is the clock's). */
let clock: ManualClock;
beforeEach(() => {
  clock = new ManualClock(T);
  jest.useFakeTimers(TIMERS_ONLY);
});
afterEach(() => jest.useRealTimers());

/** Moves the clock on, then runs the timers due by then (lru-cache's purges, and the clearing of its cached now). */
async function wait(ms: number): Promise<void> {
  clock.advance(ms);
  await jest.advanceTimersByTimeAsync(ms);
}

/** The local side: users by name with one password each; records every call. */
class LocalDirectory implements Directory {
  readonly calls: string[] = [];
  private readonly users = new Map<string, { password: string; user: User }>([
    ['alice', { password: 'local-pw', user: { id: 'alice', attributes: { department: 'it', role: 'admin' } } }],
    ['b@c', { password: 'at-pw', user: { id: 'b@c', attributes: {} } }],
  ]);
  async verify(username: string, password: string): Promise<User | false> {
    this.calls.push(`verify ${username} ${password}`);
    const entry = this.users.get(username);
    return entry && entry.password === password ? entry.user : false;
  }
  async get(id: string): Promise<User | undefined> {
    this.calls.push(`get ${id}`);
    return this.users.get(id)?.user;
  }
}

type Script = (username: string, password: string) => VerifyOutcome | Error;

/** A home's client: answers from a script, records every question. */
class HomeClient {
  readonly calls: Array<[string, string]> = [];
  constructor(public script: Script) {}
  async verify(username: string, password: string): Promise<VerifyOutcome> {
    this.calls.push([username, password]);
    const outcome = this.script(username, password);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }
}

function homeAnswer(
  overrides: Partial<{ id: string; attributes: Record<string, string>; expiresAt: number; token: string }> = {},
): VerifyAnswer {
  return {
    user: {
      id: overrides.id ?? 'alice',
      attributes: overrides.attributes ?? { department: 'sales', role: 'admin', realm: 'evil.example', mail: 'alice@home.example' },
    },
    lease: { token: overrides.token ?? TOKEN, expiresAt: overrides.expiresAt ?? T + HOUR },
    services: [
      { service: 'smtp', own: true },
      { service: 'pop3', own: false, servers: [{ host: 'pop.home.example', port: 995, priority: 0, tls: { mode: 'implicit' } }] },
    ],
  };
}

const yes =
  (answer: VerifyAnswer = homeAnswer()): Script =>
  (_username, password) =>
    password === 'home-pw' ? { ok: true, answer } : { ok: false, why: 'credentials', reason: 'wrong user name or password' };

function peer(realm: string, client: HomeClient, overrides: Partial<HomePeer> = {}): HomePeer {
  return {
    realm,
    client,
    attributes: { keep: ['department', 'mail'], set: { site: 'visitor' } },
    cacheSeconds: 300,
    failureCacheSeconds: 10,
    acceptAddresses: true,
    ...overrides,
  };
}

function setup(overrides: Partial<HomePeer> = {}, script: Script = yes()) {
  const local = new LocalDirectory();
  const home = new HomeClient(script);
  const other = new HomeClient(yes(homeAnswer({ id: 'dave', token: 'other-lease-token-0123456789' })));
  const peers = [peer('Home.Example', home, overrides), peer('other.example', other)];
  const directory = new RoamingDirectory(local, OWN, peers, undefined, clock);
  return { local, home, other, directory };
}

/** The error a call rejects with, checked to be a RoamgateError. */
async function failure(promise: Promise<unknown>): Promise<RoamgateError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(RoamgateError);
  return error as RoamgateError;
}

describe('splitRealm', () => {
  test.each<[string, { name: string; realm?: string }]>([
    ['alice', { name: 'alice' }],
    ['alice@home.example', { name: 'alice', realm: 'home.example' }],
    ['alice@HOME.Example', { name: 'alice', realm: 'home.example' }],
    ['a@b@home.example', { name: 'a@b', realm: 'home.example' }],
    ['@home.example', { name: '@home.example' }],
    ['alice@', { name: 'alice@' }],
    ['', { name: '' }],
  ])('%j', (username, expected) => {
    expect(splitRealm(username)).toStrictEqual(expected);
  });
});

describe('RoamingDirectory.verify', () => {
  test('remembers up to 10 000 home answers', () => {
    expect(HOME_ANSWER_CACHE_MAX_ENTRIES).toBe(10_000);
  });

  describe('local users', () => {
    test('a name without a realm is checked here, never at a home', async () => {
      const { local, home, other, directory } = setup();
      expect(await directory.verify('alice', 'local-pw')).toEqual({ id: 'alice', attributes: { department: 'it', role: 'admin' } });
      expect(await directory.verify('alice', 'wrong')).toBe(false);
      expect(local.calls).toEqual(['verify alice local-pw', 'verify alice wrong']);
      expect(home.calls).toEqual([]);
      expect(other.calls).toEqual([]);
    });

    test.each([['alice@visited.example'], ['alice@Visited.Example'], ['alice@VISITED.EXAMPLE']])(
      'the own realm %j is stripped',
      async (username) => {
        const { local, home, directory } = setup();
        expect(await directory.verify(username, 'local-pw')).toEqual({ id: 'alice', attributes: { department: 'it', role: 'admin' } });
        expect(local.calls).toEqual(['verify alice local-pw']);
        expect(home.calls).toEqual([]);
      },
    );

    test('without peers, `@` is part of a local name', async () => {
      const local = new LocalDirectory();
      const directory = new RoamingDirectory(local, OWN, []);
      expect(await directory.verify('b@c', 'at-pw')).toEqual({ id: 'b@c', attributes: {} });
      expect(await directory.verify('alice@home.example', 'pw')).toBe(false);
      expect(local.calls).toEqual(['verify b@c at-pw', 'verify alice@home.example pw']);
    });

    test('without peers or a realm, `@` is part of a local name', async () => {
      const local = new LocalDirectory();
      expect(await new RoamingDirectory(local, undefined, []).verify('b@c', 'at-pw')).toEqual({ id: 'b@c', attributes: {} });
    });

    test('without peers the own realm is still stripped', async () => {
      const local = new LocalDirectory();
      expect(await new RoamingDirectory(local, OWN, []).verify('alice@visited.example', 'local-pw')).toEqual({
        id: 'alice',
        attributes: { department: 'it', role: 'admin' },
      });
      expect(local.calls).toEqual(['verify alice local-pw']);
    });
  });

  describe('unknown realms', () => {
    test.each<[string, string]>([
      ['alice@stranger.example', 'stranger.example'],
      ['alice@Stranger.EXAMPLE', 'stranger.example'],
      ['b@c', 'c'],
    ])('%j is refused, naming the realm', async (username, realm) => {
      const { local, home, other, directory } = setup();
      const error = await failure(directory.verify(username, 'pw'));
      expect(error.code).toBe('ROAMGATE_LOGIN_FAILED');
      expect(error.message).toBe(`unknown realm ${realm}: this gateway trusts no home gateway for it`);
      expect(local.calls).toEqual([]);
      expect(home.calls).toEqual([]);
      expect(other.calls).toEqual([]);
    });

    test('a directory without an own realm refuses unknown realms too', async () => {
      const directory = new RoamingDirectory(new LocalDirectory(), undefined, [peer('home.example', new HomeClient(yes()))]);
      expect((await failure(directory.verify('alice@visited.example', 'pw'))).message).toBe(
        'unknown realm visited.example: this gateway trusts no home gateway for it',
      );
    });
  });

  describe("a home's yes", () => {
    test('becomes a visitor with mapped attributes and the home grant', async () => {
      const { local, home, other, directory } = setup();
      const user = await directory.verify('alice@home.example', 'home-pw');
      expect(user).toStrictEqual({
        id: 'alice@home.example',
        attributes: { department: 'sales', mail: 'alice@home.example', site: 'visitor', realm: 'home.example' },
        home: {
          realm: 'home.example',
          username: 'alice',
          token: TOKEN,
          expiresAt: T + HOUR,
          services: homeAnswer().services,
        },
      });
      expect(home.calls).toEqual([['alice@home.example', 'home-pw']]);
      expect(other.calls).toEqual([]);
      expect(local.calls).toEqual([]);
    });

    test('addresses a home reveals are dropped unless the peer accepts them', async () => {
      const refusing = setup({ acceptAddresses: false });
      const user = (await refusing.directory.verify('alice@home.example', 'home-pw')) as User;
      expect(user.home!.services).toEqual([
        { service: 'smtp', own: true },
        { service: 'pop3', own: false },
      ]);
      const accepting = setup({ acceptAddresses: true });
      const trusted = (await accepting.directory.verify('alice@home.example', 'home-pw')) as User;
      expect(trusted.home!.services[1].servers).toEqual([{ host: 'pop.home.example', port: 995, priority: 0, tls: { mode: 'implicit' } }]);
    });

    test('the realm is matched without regard to case, the user name is sent as typed', async () => {
      const { home, directory } = setup();
      const user = (await directory.verify('alice@HOME.example', 'home-pw')) as User;
      expect(user.id).toBe('alice@home.example');
      expect(user.home!.realm).toBe('home.example');
      expect(user.attributes.realm).toBe('home.example');
      expect(home.calls).toEqual([['alice@HOME.example', 'home-pw']]);
    });

    test('each realm goes to its own home', async () => {
      const { home, other, directory } = setup();
      expect(((await directory.verify('dave@other.example', 'home-pw')) as User).id).toBe('dave@other.example');
      expect(other.calls).toEqual([['dave@other.example', 'home-pw']]);
      expect(home.calls).toEqual([]);
    });

    test('an id already in the home realm (a chain) is kept; any other id is put in the home realm', async () => {
      const chained = setup({}, yes(homeAnswer({ id: 'carol@home.example' })));
      const user = (await chained.directory.verify('carol@home.example', 'home-pw')) as User;
      expect(user.id).toBe('carol@home.example');
      expect(user.home!.username).toBe('carol');
      expect(user.home!.realm).toBe('home.example');
      const elsewhere = setup({}, yes(homeAnswer({ id: 'carol@far.example' })));
      expect(((await elsewhere.directory.verify('carol@home.example', 'home-pw')) as User).id).toBe('carol@far.example@home.example');
    });

    test("only the listed attributes are kept, and realm is always the home's own", async () => {
      const { directory } = setup({ attributes: { keep: ['department', 'role', 'realm'], set: {} } });
      const user = (await directory.verify('alice@home.example', 'home-pw')) as User;
      expect(user.attributes).toStrictEqual({ department: 'sales', role: 'admin', realm: 'home.example' });
      // role is kept only because this mapping lists it (normalizeOptions refuses that); realm never is.
      const { directory: plain } = setup({ attributes: { keep: [], set: {} } });
      expect(((await plain.verify('alice@home.example', 'home-pw')) as User).attributes).toStrictEqual({ realm: 'home.example' });
    });

    test('is remembered: the next login with the same password does not ask home', async () => {
      const { home, directory } = setup();
      const first = await directory.verify('alice@home.example', 'home-pw');
      await wait(60_000);
      expect(await directory.verify('alice@home.example', 'home-pw')).toBe(first);
      expect(home.calls).toHaveLength(1);
    });

    test('is remembered for cacheSeconds and no longer', async () => {
      const { home, directory } = setup({ cacheSeconds: 30 });
      await directory.verify('alice@home.example', 'home-pw');
      await wait(29_999);
      await directory.verify('alice@home.example', 'home-pw');
      expect(home.calls).toHaveLength(1);
      await wait(2);
      await directory.verify('alice@home.example', 'home-pw');
      expect(home.calls).toHaveLength(2);
    });

    test('is never remembered past the home lease', async () => {
      const { home, directory } = setup({ cacheSeconds: 300 }, yes(homeAnswer({ expiresAt: T + 10_500 })));
      await directory.verify('alice@home.example', 'home-pw');
      await wait(9_999);
      await directory.verify('alice@home.example', 'home-pw');
      expect(home.calls).toHaveLength(1);
      await wait(2);
      await directory.verify('alice@home.example', 'home-pw');
      expect(home.calls).toHaveLength(2);
    });

    test.each<[string, Partial<HomePeer>, number]>([
      ['cacheSeconds 0', { cacheSeconds: 0 }, T + HOUR],
      ['a home lease ending within a second', {}, T + 999],
      ['a home lease already ended', {}, T - 1],
    ])('is not remembered with %s', async (_name, overrides, expiresAt) => {
      const { home, directory } = setup(overrides, yes(homeAnswer({ expiresAt })));
      await directory.verify('alice@home.example', 'home-pw');
      await directory.verify('alice@home.example', 'home-pw');
      expect(home.calls).toHaveLength(2);
    });

    test('another password is another question: a remembered yes lets no other password in', async () => {
      const { home, directory } = setup();
      expect(await directory.verify('alice@home.example', 'home-pw')).not.toBe(false);
      expect(await directory.verify('alice@home.example', 'other-pw')).toBe(false);
      expect(await directory.verify('alice@home.example', 'home-pw')).not.toBe(false);
      expect(home.calls).toEqual([
        ['alice@home.example', 'home-pw'],
        ['alice@home.example', 'other-pw'],
      ]);
    });

    test('another user name is another question', async () => {
      const { home, directory } = setup();
      await directory.verify('alice@home.example', 'home-pw');
      await directory.verify('bob@home.example', 'home-pw');
      expect(home.calls.map(([username]) => username)).toEqual(['alice@home.example', 'bob@home.example']);
    });
  });

  describe("a home's no", () => {
    test('wrong credentials: false, remembered for failureCacheSeconds', async () => {
      const { local, home, directory } = setup({ failureCacheSeconds: 10 });
      expect(await directory.verify('alice@home.example', 'wrong')).toBe(false);
      await wait(9_999);
      expect(await directory.verify('alice@home.example', 'wrong')).toBe(false);
      expect(home.calls).toHaveLength(1);
      await wait(2);
      expect(await directory.verify('alice@home.example', 'wrong')).toBe(false);
      expect(home.calls).toHaveLength(2);
      expect(local.calls).toEqual([]);
    });

    test('wrong credentials with failureCacheSeconds 0 are not remembered', async () => {
      const { home, directory } = setup({ failureCacheSeconds: 0 });
      expect(await directory.verify('alice@home.example', 'wrong')).toBe(false);
      expect(await directory.verify('alice@home.example', 'wrong')).toBe(false);
      expect(home.calls).toHaveLength(2);
    });

    test('a corrected password is asked at once', async () => {
      const { home, directory } = setup({ failureCacheSeconds: 10 });
      expect(await directory.verify('alice@home.example', 'wrong')).toBe(false);
      expect(await directory.verify('alice@home.example', 'home-pw')).not.toBe(false);
      expect(home.calls).toHaveLength(2);
    });

    test("a refusal throws ROAMGATE_LOGIN_FAILED with the home's reason, remembered for failureCacheSeconds", async () => {
      const { home, directory } = setup({ failureCacheSeconds: 10 }, () => ({ ok: false, why: 'refused', reason: 'alice may not roam' }));
      for (const _ of [1, 2]) {
        const error = await failure(directory.verify('alice@home.example', 'home-pw'));
        expect(error.code).toBe('ROAMGATE_LOGIN_FAILED');
        expect(error.message).toBe('alice may not roam');
      }
      expect(home.calls).toHaveLength(1);
      await wait(10_001);
      await failure(directory.verify('alice@home.example', 'home-pw'));
      expect(home.calls).toHaveLength(2);
    });
  });

  describe('an unreachable home', () => {
    test('its error is thrown as it is, and remembered for failureCacheSeconds', async () => {
      const unreachable = new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', 'home gateway home.example did not answer within 5000 ms');
      const { home, directory } = setup({ failureCacheSeconds: 10 }, () => unreachable);
      expect(await failure(directory.verify('alice@home.example', 'home-pw'))).toBe(unreachable);
      expect(await failure(directory.verify('alice@home.example', 'home-pw'))).toBe(unreachable);
      expect(home.calls).toHaveLength(1);
      await wait(10_001);
      home.script = yes();
      expect(await directory.verify('alice@home.example', 'home-pw')).not.toBe(false);
      expect(home.calls).toHaveLength(2);
    });

    test('with failureCacheSeconds 0 it is asked again at once', async () => {
      const unreachable = new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', 'home gateway home.example refused the connection');
      const { home, directory } = setup({ failureCacheSeconds: 0 }, () => unreachable);
      expect(await failure(directory.verify('alice@home.example', 'home-pw'))).toBe(unreachable);
      home.script = yes();
      expect(await directory.verify('alice@home.example', 'home-pw')).not.toBe(false);
      expect(home.calls).toHaveLength(2);
    });

    test('an error that is not a RoamgateError (a bug) is thrown and never remembered', async () => {
      const bug = new TypeError('cannot read properties of undefined');
      const { home, directory } = setup({ failureCacheSeconds: 10 }, () => bug);
      await expect(directory.verify('alice@home.example', 'home-pw')).rejects.toBe(bug);
      await expect(directory.verify('alice@home.example', 'home-pw')).rejects.toBe(bug);
      expect(home.calls).toHaveLength(2);
    });
  });
});

describe('RoamingDirectory.get', () => {
  test('a visitor a home vouched for, by id', async () => {
    const { local, directory } = setup();
    expect(await directory.get('alice@home.example')).toBeUndefined();
    const user = await directory.verify('alice@home.example', 'home-pw');
    expect(await directory.get('alice@home.example')).toBe(user);
    expect(local.calls).toEqual([]);
  });

  test('a local user by bare id and by own-realm id', async () => {
    const { local, directory } = setup();
    expect(await directory.get('alice')).toEqual({ id: 'alice', attributes: { department: 'it', role: 'admin' } });
    expect(await directory.get('alice@visited.example')).toEqual({ id: 'alice', attributes: { department: 'it', role: 'admin' } });
    expect(await directory.get('alice@VISITED.example')).toEqual({ id: 'alice', attributes: { department: 'it', role: 'admin' } });
    expect(await directory.get('nobody')).toBeUndefined();
    expect(local.calls).toEqual(['get alice', 'get alice', 'get alice', 'get nobody']);
  });

  test('an id of an unknown realm is nobody, and not looked up locally', async () => {
    const { local, directory } = setup();
    expect(await directory.get('alice@stranger.example')).toBeUndefined();
    expect(await directory.get('b@c')).toBeUndefined();
    expect(local.calls).toEqual([]);
  });

  test('without peers, an id with `@` is a local id', async () => {
    const local = new LocalDirectory();
    expect(await new RoamingDirectory(local, OWN, []).get('b@c')).toEqual({ id: 'b@c', attributes: {} });
  });

  // Known bug (see report): the home's user id is kept as sent when it holds
  // an `@`, and get() sends an id in the own realm to the local directory. A
  // home (or a home user whose id happens to end in this gateway's realm)
  // thus gets a visitor whose login session resolves to a local user, e.g.
  // this gateway's admin.
  test('get(id) of a vouched visitor is that visitor, whatever id the home sent', async () => {
    for (const id of ['alice@visited.example', 'alice@Visited.Example', 'alice@']) {
      const { directory } = setup({}, yes(homeAnswer({ id })));
      const user = (await directory.verify('mallory@home.example', 'home-pw')) as User;
      expect(await directory.get(user.id)).toBe(user);
    }
  });
});

describe('RoamingDirectory.forget', () => {
  test('drops the visitor and the remembered yes', async () => {
    const { home, directory } = setup();
    await directory.verify('alice@home.example', 'home-pw');
    directory.forget('alice@home.example');
    expect(await directory.get('alice@home.example')).toBeUndefined();
    await directory.verify('alice@home.example', 'home-pw');
    expect(home.calls).toHaveLength(2);
    expect(await directory.get('alice@home.example')).toBeDefined();
  });

  test("drops every remembered yes of that visitor, and nobody else's", async () => {
    const { home, other, directory } = setup({}, (username, password) =>
      password.startsWith('home-pw')
        ? { ok: true, answer: homeAnswer({ id: username.split('@')[0] }) }
        : { ok: false, why: 'credentials', reason: 'no' },
    );
    await directory.verify('alice@home.example', 'home-pw');
    await directory.verify('alice@home.example', 'home-pw-2');
    await directory.verify('bob@home.example', 'home-pw');
    await directory.verify('dave@other.example', 'home-pw');
    directory.forget('alice@home.example');
    await directory.verify('alice@home.example', 'home-pw');
    await directory.verify('alice@home.example', 'home-pw-2');
    await directory.verify('bob@home.example', 'home-pw');
    await directory.verify('dave@other.example', 'home-pw');
    expect(home.calls.map(([username, password]) => `${username} ${password}`)).toEqual([
      'alice@home.example home-pw',
      'alice@home.example home-pw-2',
      'bob@home.example home-pw',
      'alice@home.example home-pw',
      'alice@home.example home-pw-2',
    ]);
    expect(other.calls).toHaveLength(1);
    expect(await directory.get('bob@home.example')).toBeDefined();
    expect(await directory.get('dave@other.example')).toBeDefined();
  });

  test('leaves remembered failures alone', async () => {
    const { home, directory } = setup({ failureCacheSeconds: 10 });
    await directory.verify('alice@home.example', 'wrong');
    directory.forget('alice@home.example');
    await directory.verify('alice@home.example', 'wrong');
    expect(home.calls).toHaveLength(1);
  });

  test('an id never vouched for is a no-op', () => {
    const { directory } = setup();
    expect(() => directory.forget('nobody@home.example')).not.toThrow();
  });
});

describe('reconfirmVisitor', () => {
  test('a visitor whose answer still stands is returned as they are, without asking home', async () => {
    const { home, directory } = setup();
    const user = (await directory.verify('alice@home.example', 'home-pw')) as User;
    expect(await reconfirmVisitor(directory, user, 'alice@home.example', 'home-pw')).toBe(user);
    expect(home.calls).toHaveLength(1);
  });

  test('a visitor whose home lease was released meanwhile is asked about at home again, and gets the new token', async () => {
    const { home, directory } = setup();
    const user = (await directory.verify('alice@home.example', 'home-pw')) as User;
    // What releaseHomeLease does once nothing here stands on the token.
    directory.forgetToken(TOKEN);
    home.script = yes(homeAnswer({ token: 'fresh-lease-token-0123456789' }));
    const again = (await reconfirmVisitor(directory, user, 'alice@home.example', 'home-pw')) as User;
    expect(again.home?.token).toBe('fresh-lease-token-0123456789');
    expect(home.calls).toHaveLength(2);
  });

  test('home saying no on the second asking is a refusal; a local user is never looked at again', async () => {
    const { local, home, directory } = setup();
    const user = (await directory.verify('alice@home.example', 'home-pw')) as User;
    directory.forgetToken(TOKEN);
    home.script = () => ({ ok: false, why: 'credentials', reason: 'wrong user name or password' });
    expect(await reconfirmVisitor(directory, user, 'alice@home.example', 'home-pw')).toBe(false);
    const localUser = (await directory.verify('alice', 'local-pw')) as User;
    const calls = local.calls.length;
    expect(await reconfirmVisitor(directory, localUser, 'alice', 'local-pw')).toBe(localUser);
    expect(local.calls).toHaveLength(calls);
  });
});
