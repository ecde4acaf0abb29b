import { RoamgateError } from '../errors';
import type { Lease } from './gateway-client';
import type { GatewayLocator } from './gateway-locator';
import { LoginPassword } from './login-password';
import type { NormalizedLocalOptions } from './options';
import type { ReportEvent } from './proxy-notices';
import { SavedLeases } from './saved-leases';
import type { SavedLease, StateDir } from './state-dir';

/** A lease is renewed when this share of its remaining time has passed. */
export const LEASE_RENEW_AT = 0.5;
/** Longest delay Node's timers take (ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** The state of the lease, as a running local proxy shows it. */
export type LeaseState = 'none' | 'live' | 'revoked' | 'failed';

/**
 * The lease a local proxy holds at its gateway: the saved one reused, or a
 * new login with the user's password (one at a time), renewed before it
 * ends, dropped when another gateway takes the current one's place, replaced
 * by a new login when the gateway revokes it. A login refused for good (wrong
 * password, no password, no lease given after a revocation) becomes the
 * refusal every client gets until restart.
 */
export class LeaseKeeper {
  private lease: Lease | null = null;
  /** Who held the lease at the gateway before this one: logged in again as them at a new gateway. */
  private formerUser: string | undefined;
  /** Set when the gateway revoked the lease, or a new login failed for good: clients are refused with it. */
  private failure: RoamgateError | null = null;
  /** How the gateway said the lease ended, if it did. */
  private endedAs: 'revoked' | 'expired' | null = null;
  private loggingIn: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly saved: SavedLeases;
  private readonly password: LoginPassword;

  constructor(
    private readonly options: NormalizedLocalOptions,
    state: StateDir,
    private readonly locator: GatewayLocator,
    private readonly report: ReportEvent,
    private readonly closing: AbortSignal,
  ) {
    this.saved = new SavedLeases(state);
    this.password = new LoginPassword(options.password);
  }

  /** The live lease, if one is held. */
  get current(): Lease | null {
    return this.lease;
  }

  /** Why clients are refused until restart, if they are. */
  get refusal(): RoamgateError | null {
    return this.failure;
  }

  /** How the gateway said the lease ended (revoked, expired), if it did since the last login. */
  get ended(): 'revoked' | 'expired' | null {
    return this.endedAs;
  }

  state(): LeaseState {
    if (this.failure) return this.endedAs === 'revoked' ? 'revoked' : 'failed';
    return this.lease ? 'live' : 'none';
  }

  /** The lease saved for the current gateway (and the configured user), if any. */
  savedLease(): SavedLease | undefined {
    const gateway = this.locator.url;
    return gateway ? this.saved.read(gateway, this.options.user) : undefined;
  }

  /** Who a login would be made as: the configured user, else the one who held the lease here or before, else the saved lease's. */
  loginName(): string | undefined {
    const saved = this.savedLease();
    return this.options.user ?? this.lease?.login ?? this.lease?.user ?? this.formerUser ?? saved?.login ?? saved?.user;
  }

  /** Another gateway takes the current one's place: a lease is one gateway's, so it is dropped (its user is logged in there afresh). */
  leaveGateway(): void {
    if (!this.lease) return;
    this.formerUser = this.lease.user;
    this.lease = null;
    clearTimeout(this.renewTimer);
  }

  /** Makes sure a live lease is held at the current gateway when one is wanted: the current one, the saved one, or a new login. */
  async ensure(): Promise<void> {
    const client = this.locator.client!;
    if (this.failure) return;
    if (this.lease && (await client.leaseAlive(this.lease.token))) return;
    const saved = this.savedLease();
    if (saved && (!this.lease || saved.token !== this.lease.token) && (await client.leaseAlive(saved.token))) {
      this.use(saved);
      this.report({ type: 'login', user: saved.user, gateway: client.url, expiresAt: saved.expiresAt, reused: true });
      return;
    }
    if (!this.options.user && !this.lease && !saved && !this.formerUser) {
      this.lease = null;
      return;
    }
    await this.login();
  }

  /** Logs in with the user's password (one login at a time, however many connections need it). */
  login(): Promise<void> {
    this.loggingIn ??= this.loginNow().finally(() => {
      this.loggingIn = null;
    });
    return this.loggingIn;
  }

  /**
   * The gateway's event stream says the lease ended. Revoked: it is not renewed nor kept for the next start, and the
   * gateway follower logs in again at once (a user the gateway gives no lease any more is refused then, with why).
   */
  endedAtGateway(state: 'revoked' | 'expired'): void {
    const lease = this.lease;
    if (!lease) return;
    this.endedAs = state;
    this.report({ type: 'lease-ended', user: lease.user, state });
    if (state === 'revoked') {
      clearTimeout(this.renewTimer);
      this.saved.write(this.locator.url!, null);
    }
  }

  /** Stops renewing. */
  close(): void {
    clearTimeout(this.renewTimer);
  }

  /** A refusal for good (wrong password, no password to be had) makes every client be refused with the reason until restart. */
  private async loginNow(): Promise<void> {
    const client = this.locator.client!;
    const user = this.loginName();
    if (!user)
      throw new RoamgateError('ROAMGATE_LOGIN_REQUIRED', 'not logged in at the gateway and no user to log in as: pass --user NAME');
    let password: string;
    try {
      password = await this.password.get(user);
    } catch (error) {
      this.failure = new RoamgateError(
        'ROAMGATE_LOGIN_REQUIRED',
        `roamgate needs to log in as ${user} again but has no password: ${(error as Error).message}`,
      );
      throw error;
    }
    // Closed while the password was being read, or while the gateway was looked for: send it nowhere.
    if (this.closing.aborted) throw new RoamgateError('ROAMGATE_SHUTTING_DOWN', 'roamgate local is stopping');
    let lease: Lease;
    try {
      lease = { ...(await client.login(user, password)), login: user };
    } catch (error) {
      if ((error as RoamgateError).code === 'ROAMGATE_LOGIN_FAILED') {
        this.password.refused();
        this.failure = new RoamgateError(
          'ROAMGATE_LOGIN_FAILED',
          `roamgate could not log in as ${user} (wrong user name or password); restart roamgate local with the right password`,
        );
      }
      // After a revocation the gateway may give this user no lease at all (no rights left): that is final too.
      if ((error as RoamgateError).code === 'ROAMGATE_ACCESS_DENIED' && this.endedAs === 'revoked')
        this.failure = new RoamgateError('ROAMGATE_ACCESS_DENIED', `${(error as Error).message}; restart roamgate local once it does`);
      throw error;
    }
    this.password.worked(password);
    this.use(lease);
    this.saved.write(this.locator.url!, lease);
    this.report({ type: 'login', user: lease.user, gateway: client.url, expiresAt: lease.expiresAt, reused: false });
  }

  private use(lease: Lease): void {
    this.lease = {
      user: lease.user,
      token: lease.token,
      id: lease.id,
      expiresAt: lease.expiresAt,
      ...(lease.login ? { login: lease.login } : {}),
    };
    this.endedAs = null;
    this.scheduleRenewal();
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const lease = this.lease;
    if (!lease || this.closing.aborted) return;
    const remaining = Date.parse(lease.expiresAt) - Date.now();
    // A saved lease written by hand may hold anything: an unreadable expiry is renewed after the longest retry wait.
    const delay = Number.isFinite(remaining)
      ? Math.min(MAX_TIMER_MS, Math.max(1_000, Math.floor(remaining * LEASE_RENEW_AT)))
      : this.options.limits.reconnectMaxMs;
    this.renewTimer = setTimeout(() => void this.renew(lease), delay);
    this.renewTimer.unref();
  }

  private async renew(lease: Lease): Promise<void> {
    const client = this.locator.client;
    if (this.lease !== lease || !client) return;
    try {
      const expiresAt = await client.renew(lease);
      if (this.lease !== lease) return;
      if (expiresAt === null) {
        if (this.endedAs !== 'revoked') await this.login();
        return;
      }
      lease.expiresAt = expiresAt;
      this.saved.write(this.locator.url!, lease);
      this.scheduleRenewal();
    } catch {
      // The gateway is unreachable or refused: the gateway follower deals with that; try again later.
      if (this.lease === lease) {
        this.renewTimer = setTimeout(() => void this.renew(lease), this.options.limits.reconnectMaxMs);
        this.renewTimer.unref();
      }
    }
  }
}
