import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import type { IdentifiedUser, Identity } from '../identity';
import type { LeaseRecord, Store } from '../store/store';
import { DEFAULT_LEASE_TTL_SECONDS } from './defaults';
import type { User } from './directory';

/** How often expired leases are looked for, so their relays close promptly (ms). */
export const LEASE_SWEEP_INTERVAL_MS = 1000;

export type LeaseEnd = 'revoked' | 'expired';

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same client. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

/** The identity a connection has when this lease identifies it. */
export function identityOfLease(lease: LeaseRecord, address: string): Identity & { kind: 'user' } {
  const user: IdentifiedUser = { id: lease.userId, attributes: lease.attributes };
  if (lease.home) user.home = lease.home;
  return { kind: 'user', address, user, leaseId: lease.id };
}

/** The SHA-256 of a token: what the store keeps instead of the token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Live leases, kept in memory for the per-connection lookups (by source
 * address, by token) and written through to the store, so a restart loses
 * none. A revoked or expired lease stops working at once; listeners hear of
 * it so that its open relays can be closed.
 */
/** How a lease is issued: to a peer gateway, for less than the configured lifetime, bound to no address. */
export interface IssueOptions {
  peer?: string;
  ttlSeconds?: number;
  tokenOnly?: boolean;
}

export class LeaseManager {
  private readonly byId = new Map<string, LeaseRecord>();
  private readonly byTokenHash = new Map<string, LeaseRecord>();
  /** Per source address, its live leases: the lookup every adapter connection makes. */
  private readonly byAddress = new Map<string, Set<LeaseRecord>>();
  private readonly listeners = new Set<(lease: LeaseRecord, why: LeaseEnd) => void>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly ttlSeconds: number = DEFAULT_LEASE_TTL_SECONDS,
    /** What time it is, for issuing, renewing and expiring leases. */
    private readonly clock: Clock = systemClock,
    /** Addresses shared by many people (`leases.sharedAddresses`): a lease there identifies nobody by address. */
    private readonly shared: (address: string) => boolean = () => false,
  ) {}

  /** Loads the live leases from the store and starts the expiry sweep. */
  async load(): Promise<void> {
    if (this.sweeper) return;
    for (const lease of await this.store.leases.listLive(this.clock.now())) this.remember(lease);
    this.sweeper = setInterval(() => this.sweep(), LEASE_SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Stops the expiry sweep. */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Calls `listener` when a lease ends; returns an unsubscribe function. */
  onEnd(listener: (lease: LeaseRecord, why: LeaseEnd) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Issues a lease to a user who logged in from `address`, or, with `peer`,
   * to that peer gateway (at `address`) for one of our users visiting it.
   * The token is returned once and never stored. `ttlSeconds` may shorten
   * the lease, never lengthen it past the configured lifetime; `tokenOnly`
   * binds no address (see LeaseRecord).
   */
  async issue(user: User, address: string, options: IssueOptions = {}): Promise<{ token: string; lease: LeaseRecord }> {
    const { peer, ttlSeconds = this.ttlSeconds } = options;
    const token = randomBytes(32).toString('base64url');
    const issuedAt = this.clock.now();
    const lease: LeaseRecord = {
      id: randomUUID(),
      tokenHash: hashToken(token),
      userId: user.id,
      attributes: { ...user.attributes },
      address: normalizeAddress(address),
      issuedAt,
      // A visitor's lease never outlives the home lease it stands on.
      expiresAt: Math.min(issuedAt + Math.min(ttlSeconds, this.ttlSeconds) * 1000, user.home?.expiresAt ?? Infinity),
    };
    if (user.home) lease.home = user.home;
    if (peer !== undefined) lease.peer = peer;
    if (options.tokenOnly) lease.tokenOnly = true;
    // Held from now on, not once written: a visitor's home lease is released only when no lease
    // here stands on it, and this one must count while it is being written.
    this.remember(lease);
    try {
      await this.store.leases.create(lease);
    } catch (error) {
      this.forget(lease);
      throw error;
    }
    return { token, lease };
  }

  /** The live lease with this token, if any. */
  findByToken(token: string): LeaseRecord | undefined {
    return this.live(this.byTokenHash.get(hashToken(token)));
  }

  /** Whether the address is shared by many people (`leases.sharedAddresses`): no lease identifies by it. */
  isShared(address: string): boolean {
    return this.shared(normalizeAddress(address));
  }

  /** The newest live lease issued to a login from this address, if any; none on a shared address. */
  findByAddress(address: string | undefined): LeaseRecord | undefined {
    const wanted = normalizeAddress(address);
    if (!wanted || this.shared(wanted)) return undefined;
    const leases = this.byAddress.get(wanted);
    if (!leases) return undefined;
    let best: LeaseRecord | undefined;
    for (const lease of leases) {
      if (this.live(lease) && (!best || lease.issuedAt > best.issuedAt)) best = lease;
    }
    return best;
  }

  get(id: string): LeaseRecord | undefined {
    return this.live(this.byId.get(id));
  }

  /** Every live lease, newest first. */
  list(): LeaseRecord[] {
    return [...this.byId.values()].filter((lease) => this.live(lease)).sort((a, b) => b.issuedAt - a.issuedAt);
  }

  /** Extends a live lease by the TTL from now; undefined when it is not live. */
  async renew(id: string): Promise<LeaseRecord | undefined> {
    const lease = this.get(id);
    if (!lease) return undefined;
    const expiresAt = Math.min(this.clock.now() + this.ttlSeconds * 1000, lease.home?.expiresAt ?? Infinity);
    if (!(await this.store.leases.renew(id, expiresAt, this.clock.now()))) return undefined;
    lease.expiresAt = expiresAt;
    return lease;
  }

  /** Revokes a lease; its relays are closed by the listeners. Returns false when it was not live. */
  async revoke(id: string): Promise<boolean> {
    const lease = this.get(id);
    if (!lease) return false;
    const at = this.clock.now();
    // Persist first: if the store fails, the lease stays live everywhere rather than half-revoked.
    const revokedHere = await this.store.leases.revoke(id, at);
    lease.revokedAt = at;
    this.forget(lease);
    this.emit(lease, 'revoked');
    // Another process revoked it first (and audited it): it ends here too, but this call did not revoke it.
    return revokedHere;
  }

  /**
   * Takes in what another process did to a lease (the store's change feed):
   * a lease issued or renewed there is live here too, one revoked there ends
   * here (its relays close through the listeners). The revocation was audited
   * where it was made.
   */
  async refresh(id: string): Promise<void> {
    const record = await this.store.leases.get(id);
    const known = this.byId.get(id);
    if (record && this.live(record)) {
      if (known) known.expiresAt = record.expiresAt;
      else this.remember(record);
      return;
    }
    if (!known) return;
    this.forget(known);
    if (record?.revokedAt !== undefined || !record) {
      known.revokedAt = record?.revokedAt ?? this.clock.now();
      this.emit(known, 'revoked');
    } else this.emit(known, 'expired');
  }

  /** Reads every lease again (the change feed may have missed some): each known one is refreshed, each new live one taken in. */
  async reloadAll(): Promise<void> {
    const live = await this.store.leases.listLive(this.clock.now());
    const ids = new Set(live.map((lease) => lease.id));
    for (const lease of live) {
      const known = this.byId.get(lease.id);
      if (known) known.expiresAt = lease.expiresAt;
      else this.remember(lease);
    }
    for (const id of [...this.byId.keys()]) if (!ids.has(id)) await this.refresh(id);
  }

  /**
   * Deletes from the store the leases that expired or were revoked more than
   * `retentionMs` ago (their events stay in the audit trail); returns how many.
   */
  purgeEnded(retentionMs: number): Promise<number> {
    const before = this.clock.now() - retentionMs;
    return this.store.leases.purge(before);
  }

  /** Ends expired leases now; returns how many. */
  sweep(): number {
    let ended = 0;
    for (const lease of [...this.byId.values()]) {
      if (lease.expiresAt <= this.clock.now()) {
        this.forget(lease);
        this.emit(lease, 'expired');
        ended++;
      }
    }
    return ended;
  }

  private live(lease: LeaseRecord | undefined): LeaseRecord | undefined {
    return lease && lease.revokedAt === undefined && lease.expiresAt > this.clock.now() ? lease : undefined;
  }

  private remember(lease: LeaseRecord): void {
    this.byId.set(lease.id, lease);
    this.byTokenHash.set(lease.tokenHash, lease);
    // A peer's lease identifies nobody by address: everyone behind the peer's address is not its user. Nor does a token-only one.
    if (lease.peer !== undefined || lease.tokenOnly) return;
    const forAddress = this.byAddress.get(lease.address) ?? new Set<LeaseRecord>();
    forAddress.add(lease);
    this.byAddress.set(lease.address, forAddress);
  }

  private forget(lease: LeaseRecord): void {
    this.byId.delete(lease.id);
    this.byTokenHash.delete(lease.tokenHash);
    const forAddress = this.byAddress.get(lease.address);
    forAddress?.delete(lease);
    if (forAddress?.size === 0) this.byAddress.delete(lease.address);
  }

  private emit(lease: LeaseRecord, why: LeaseEnd): void {
    for (const listener of this.listeners) listener(lease, why);
  }
}
