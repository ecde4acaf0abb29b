import type { LeaseState } from './lease-keeper';
import { STATE_FILES, StateDir } from './state-dir';

/** How often a running local proxy rewrites its status file even when nothing changed (its expiry, a heartbeat), ms. */
export const STATUS_REFRESH_MS = 10_000;

/** What `status.json` in the state directory holds: a running local proxy's own account of itself. No secrets. */
export interface LocalStatus {
  pid: number;
  startedAt: string;
  /** When it was written: at each change, and every STATUS_REFRESH_MS. */
  updatedAt: string;
  state: 'running' | 'stopped';
  gateway: string | null;
  mode: 'direct' | 'gateway' | null;
  lease: { state: LeaseState; user?: string; expiresAt?: string };
  /** Set while the gateway is not answering. */
  outage?: { gateway: string; reason: string };
  /** One per service: where its listener is, and where its connections go now. */
  routes: Array<{ service: string; listen: string; route: string }>;
}

/** Writes the status (whole, by rename); a state directory that cannot be written loses only the status. */
export function writeStatus(state: StateDir, status: LocalStatus): void {
  try {
    state.write(STATE_FILES.status, status);
  } catch {
    // The proxy keeps working; `roamgate local status` then says the file is missing or old.
  }
}

/** The status a local proxy wrote in `stateDir`, or undefined when there is none. */
export function readStatus(stateDir: string): LocalStatus | undefined {
  const status = new StateDir(stateDir).read<Partial<LocalStatus>>(STATE_FILES.status);
  return typeof status.pid === 'number' && typeof status.updatedAt === 'string' ? (status as LocalStatus) : undefined;
}

/** Whether the process that wrote the status still runs (a process of another user counts as running). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lines `roamgate local status` prints. */
export function describeStatus(status: LocalStatus, alive: boolean, stateDir: string): string[] {
  const running = alive && status.state === 'running';
  const lines = [
    running
      ? `roamgate local is running (pid ${status.pid}, since ${status.startedAt}); as of ${status.updatedAt}:`
      : `roamgate local is not running (its last status, ${status.updatedAt}, from ${stateDir}):`,
  ];
  const gateway = status.gateway ?? 'none found yet';
  const mode = status.mode ? ` (${status.mode} mode)` : '';
  lines.push(status.outage ? `gateway    ${gateway}${mode}: NOT ANSWERING (${status.outage.reason})` : `gateway    ${gateway}${mode}`);
  const { lease } = status;
  const holder = lease.user ? ` of ${lease.user}` : '';
  const lease_ =
    lease.state === 'live'
      ? `live${holder}, until ${lease.expiresAt}`
      : lease.state === 'none'
        ? 'none (not logged in)'
        : lease.state === 'revoked'
          ? `revoked${holder}, and no new one given`
          : `none: the login failed${holder}`;
  lines.push(`lease      ${lease_}`);
  for (const route of status.routes) lines.push(`${route.service.padEnd(10)} ${route.listen.padEnd(15)} -> ${route.route}`);
  return lines;
}
