import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { lruPerf, systemClock, type Clock } from '../clock';
import { RoamgateError } from '../errors';
import type { Directory, User } from './directory';
import { mapAttributes, type AttributeMapping } from './visitor-attributes';
import type { VerifyOutcome } from './peer-client';

/** Most home answers (yes and no) remembered at once. */
export const HOME_ANSWER_CACHE_MAX_ENTRIES = 10_000;

/** One realm whose users this gateway asks about. */
export interface HomePeer {
  realm: string;
  client: { verify(username: string, password: string): Promise<VerifyOutcome> };
  attributes: AttributeMapping;
  /** How long a yes is remembered (seconds); 0: never. */
  cacheSeconds: number;
  /** How long a no, or an unreachable home, is remembered (seconds); 0: never. */
  failureCacheSeconds: number;
  /** Keep the server addresses the home reveals (else its services go through its tunnel endpoint). */
  acceptAddresses: boolean;
}

type Remembered =
  | { kind: 'user'; user: User }
  | { kind: 'wrong-password' }
  | { kind: 'refused'; reason: string }
  | { kind: 'failed'; error: RoamgateError };

/** Splits `alice@home.example` into name and realm (the last `@`); a name without one has no realm. */
export function splitRealm(username: string): { name: string; realm?: string } {
  const at = username.lastIndexOf('@');
  if (at <= 0 || at === username.length - 1) return { name: username };
  return { name: username.slice(0, at), realm: username.slice(at + 1).toLowerCase() };
}

/**
 * A visitor's id here: always in the realm of the home that vouched for them
 * (`alice` -> `alice@home.example`; a chain's `alice@home.example` stays).
 * Whatever id a home sends, it can never name a local user or another
 * peer's visitor: `alice@visit.example` from home.example becomes
 * `alice@visit.example@home.example`.
 */
export function qualifiedId(homeId: string, realm: string): string {
  return homeId.toLowerCase().endsWith(`@${realm}`) && splitRealm(homeId).realm === realm ? homeId : `${homeId}@${realm}`;
}

/**
 * A visitor's login, checked a moment ago, whose home lease may since have
 * been released (the answer it came from aged out and nothing here stood on
 * it): checked again, asking home anew when the answer is gone, so that no
 * lease or connection starts on a dead home token. Anyone else is returned
 * as they are. Throws what `verify` throws; false when home now says no.
 */
export async function reconfirmVisitor(directory: Directory, user: User, username: string, password: string): Promise<User | false> {
  if (!user.home || (await directory.get(user.id))?.home?.token === user.home.token) return user;
  return directory.verify(username, password);
}

/**
 * The directory of a gateway with peers: `alice` and `alice@<own realm>` are
 * checked here; `alice@home.example` is sent, over a signed request, only to
 * the peer configured for `home.example`, whose answer (the user, a home
 * lease, the services home offers) becomes a visitor here with mapped
 * attributes. Any other realm is refused with the reason. Answers are
 * remembered (yes for `cacheSeconds`, no and silence briefly), keyed by an
 * HMAC of name and password under a per-process key.
 *
 * A refusal carries its reason as ROAMGATE_LOGIN_FAILED; a home that cannot
 * be reached throws ROAMGATE_UPSTREAM_REFUSED/TIMEOUT naming the home.
 */
export class RoamingDirectory implements Directory {
  private readonly key = randomBytes(32);
  /**
   * Remembered answers. One that ages out or is pushed out (not one deleted
   * on purpose) is reported to `onAnswerDropped`, so that its home lease can
   * be released once nothing else here stands on it.
   */
  private readonly answers: LRUCache<string, Remembered>;
  /** Logins being checked at home, by cache key: the same name and password at once ask home once. */
  private readonly pending = new Map<string, Promise<Remembered>>();
  /** Visitors recently vouched for, by id: for login sessions, which look users up by id. */
  private readonly visitors = new LRUCache<string, User>({ max: HOME_ANSWER_CACHE_MAX_ENTRIES });
  private peers: ReadonlyMap<string, HomePeer>;

  constructor(
    private readonly local: Directory,
    private readonly ownRealm: string | undefined,
    peers: readonly HomePeer[],
    /** Called when a remembered yes ages out or is pushed out of the cache. */
    private readonly onAnswerDropped?: (realm: string, token: string) => void,
    /** What time it is: for how long an answer may be remembered, and its age. */
    private readonly clock: Clock = systemClock,
  ) {
    this.peers = new Map(peers.map((peer) => [peer.realm.toLowerCase(), peer]));
    this.answers = new LRUCache<string, Remembered>({
      max: HOME_ANSWER_CACHE_MAX_ENTRIES,
      ttlAutopurge: true,
      perf: lruPerf(clock),
      dispose: (value, _key, reason) => {
        const home = value.kind === 'user' ? value.user.home : undefined;
        // Told once the cache has settled: an evicted entry is still listed while its place is being reused.
        if ((reason === 'expire' || reason === 'evict') && home) queueMicrotask(() => this.onAnswerDropped?.(home.realm, home.token));
      },
    });
  }

  /**
   * The homes to ask from now on (a reload): a realm no longer listed is refused at once; answers already remembered
   * from a home still listed are kept until they age out.
   */
  setHomes(peers: readonly HomePeer[]): void {
    this.peers = new Map(peers.map((peer) => [peer.realm.toLowerCase(), peer]));
  }

  async verify(username: string, password: string): Promise<User | false> {
    const { name, realm } = splitRealm(username);
    if (realm !== undefined && realm === this.ownRealm?.toLowerCase()) return this.local.verify(name, password);
    // Without homes to ask, `@` is just part of a local user name.
    if (realm === undefined || this.peers.size === 0) return this.local.verify(username, password);
    const peer = this.peers.get(realm);
    if (!peer) throw new RoamgateError('ROAMGATE_LOGIN_FAILED', `unknown realm ${realm}: this gateway trusts no home gateway for it`);
    const cacheKey = createHmac('sha256', this.key)
      .update(realm)
      .update('\u0000')
      .update(username)
      .update('\u0000')
      .update(password)
      .digest('base64');
    const known = this.answers.get(cacheKey);
    if (known) return this.settle(known);
    let asking = this.pending.get(cacheKey);
    if (!asking) {
      asking = this.ask(peer, realm, name, username, password, cacheKey).finally(() => this.pending.delete(cacheKey));
      this.pending.set(cacheKey, asking);
    }
    return this.settle(await asking);
  }

  /** Asks the home, remembers its answer for as long as the peer allows, and returns it. */
  private async ask(
    peer: HomePeer,
    realm: string,
    name: string,
    username: string,
    password: string,
    cacheKey: string,
  ): Promise<Remembered> {
    let remembered: Remembered;
    let ttlSeconds: number;
    try {
      const outcome = await peer.client.verify(username, password);
      if (outcome.ok) {
        const answer = outcome.answer;
        const user: User = {
          id: qualifiedId(answer.user.id, realm),
          attributes: mapAttributes(answer.user.attributes, peer.attributes, realm),
          home: {
            realm,
            username: name,
            token: answer.lease.token,
            expiresAt: answer.lease.expiresAt,
            services: peer.acceptAddresses ? answer.services : answer.services.map(({ servers: _ignored, ...service }) => service),
          },
        };
        this.visitors.set(user.id, user);
        remembered = { kind: 'user', user };
        // Never past the home lease: its token is what opens the home's tunnels.
        ttlSeconds = Math.min(peer.cacheSeconds, Math.floor((answer.lease.expiresAt - this.clock.now()) / 1000));
      } else {
        remembered = outcome.why === 'credentials' ? { kind: 'wrong-password' } : { kind: 'refused', reason: outcome.reason };
        ttlSeconds = peer.failureCacheSeconds;
      }
    } catch (error) {
      if (!(error instanceof RoamgateError)) throw error;
      remembered = { kind: 'failed', error };
      ttlSeconds = peer.failureCacheSeconds;
    }
    if (ttlSeconds > 0) this.answers.set(cacheKey, remembered, { ttl: ttlSeconds * 1000 });
    return remembered;
  }

  async get(id: string): Promise<User | undefined> {
    const { name, realm } = splitRealm(id);
    if (realm !== undefined && realm === this.ownRealm?.toLowerCase()) return this.local.get(name);
    if (realm === undefined || this.peers.size === 0) return this.local.get(id);
    return this.visitors.get(id);
  }

  get canLookUp(): boolean | undefined {
    return this.local.canLookUp;
  }

  /** Forgets what a home said about a visitor (their home lease ended). */
  forget(userId: string): void {
    this.visitors.delete(userId);
    for (const [key, value] of this.answers.entries()) if (value.kind === 'user' && value.user.id === userId) this.answers.delete(key);
  }

  /** Home tokens of remembered answers for a realm: visitors who may log in again without asking home. */
  tokensOf(realm: string): string[] {
    const tokens: string[] = [];
    for (const value of this.answers.values())
      if (value.kind === 'user' && value.user.home?.realm === realm) tokens.push(value.user.home.token);
    return tokens;
  }

  /** Forgets every remembered answer standing on this home token. */
  forgetToken(token: string): void {
    for (const [key, value] of this.answers.entries()) {
      if (value.kind === 'user' && value.user.home?.token === token) {
        this.answers.delete(key);
        this.visitors.delete(value.user.id);
      }
    }
  }

  private settle(remembered: Remembered): User | false {
    if (remembered.kind === 'user') return remembered.user;
    if (remembered.kind === 'failed') throw remembered.error;
    if (remembered.kind === 'wrong-password') return false;
    throw new RoamgateError('ROAMGATE_LOGIN_FAILED', remembered.reason);
  }
}
