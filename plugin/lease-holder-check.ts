import type { AuditLog } from './audit-log';
import type { Directory } from './directory';
import type { LeaseManager } from './lease-manager';
import type { Logger } from './options';

export interface LeaseHolderCheckDeps {
  leases: LeaseManager;
  directory: Directory;
  audit: AuditLog;
  logger: Logger;
}

/**
 * A user disabled or removed (`roamgate users disable`, another process on
 * the store) loses their leases here, and with them their relays and the
 * leases peers hold for them, within `userCheckSeconds`. Visitors from
 * another realm are their home's business (home refresh).
 */
export class LeaseHolderCheck {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(
    private readonly deps: LeaseHolderCheckDeps,
    private readonly userCheckSeconds: number,
  ) {}

  /** Checks every `userCheckSeconds` until closed. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.userCheckSeconds * 1000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Checks the holder of every live lease now; a check already running makes this one do nothing. */
  async check(): Promise<void> {
    // A directory that cannot look users up cannot tell a removed user from one it has not seen: leases then stay.
    if (this.checking || this.deps.directory.canLookUp === false) return;
    this.checking = true;
    const { leases, directory, audit, logger } = this.deps;
    try {
      const stillThere = new Map<string, boolean>();
      for (const lease of leases.list()) {
        if (lease.home) continue;
        if (!stillThere.has(lease.userId)) stillThere.set(lease.userId, (await directory.get(lease.userId)) !== undefined);
        if (stillThere.get(lease.userId)) continue;
        if (await leases.revoke(lease.id))
          audit.record('lease.revoked', {
            actor: lease.userId,
            detail: { lease: lease.id, by: 'user disabled or removed', ...(lease.peer ? { peer: lease.peer } : {}) },
          });
      }
    } catch (error) {
      logger.warn({ event: 'lease-user-check', err: error }, 'checking lease holders against the directory failed; trying again later');
    } finally {
      this.checking = false;
    }
  }
}
