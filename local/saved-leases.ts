import type { Lease } from './gateway-client';
import { STATE_FILES, type SavedLease, type StateDir } from './state-dir';

/** The leases kept in the state directory for reuse across restarts, one per gateway URL (a token is only ever shown to its own gateway). */
export class SavedLeases {
  constructor(private readonly state: StateDir) {}

  /** The lease saved for this gateway, when it is well-formed and (given a user) that user's. */
  read(gateway: string, user: string | undefined): SavedLease | undefined {
    const saved = this.state.read<Record<string, SavedLease>>(STATE_FILES.leases)[gateway];
    if (!saved || typeof saved.token !== 'string' || typeof saved.id !== 'string' || typeof saved.user !== 'string') return undefined;
    if (saved.login !== undefined && typeof saved.login !== 'string') return undefined;
    // Matched on the name given at login (the gateway may spell the user's id otherwise).
    if (user && (saved.login ?? saved.user) !== user) return undefined;
    return saved;
  }

  /** Saves the lease of this gateway, or forgets it (null). */
  write(gateway: string, lease: Lease | null): void {
    this.state.update<Record<string, SavedLease>>(STATE_FILES.leases, (leases) => {
      const next = { ...leases };
      if (lease)
        next[gateway] = {
          user: lease.user,
          token: lease.token,
          id: lease.id,
          expiresAt: lease.expiresAt,
          ...(lease.login ? { login: lease.login } : {}),
        };
      else delete next[gateway];
      return next;
    });
  }
}
