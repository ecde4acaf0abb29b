import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { isRoamgateError } from '../errors';
import { isPostgresUrl, maskPostgresUrl } from '../store/postgres-connection';
import { openPostgresStore, type PostgresStore } from '../store/postgres-store';
import { everySqliteLease } from '../store/sqlite-leases';
import { openSqliteStore } from '../store/sqlite-store';
import type { AuditEvent, LeaseRecord, Store } from '../store/store';

export const STORE_USAGE = '       roamgate store copy --from FILE --to URL [--force]';

export const STORE_HELP = `  store copy            copy a SQLite store (--from FILE, brought to this version's schema
                        first) into a PostgreSQL one (--to postgres://USER:PASSWORD@HOST/DB,
                        migrated if new): users, rules, registrations, leases (live, revoked
                        and expired alike, as they are) and the audit trail (in order, with
                        its times; ids are numbered anew). Stop the gateways on the file
                        first. Refuses a target that already holds users, leases or rules
                        unless --force (then rows with the same id are replaced, leases
                        already there are kept, and the audit trail is added after the
                        target's). Prints what it copied. Exit status 0, or 2 when nothing
                        or not all was copied`;

/** Exit statuses: copied; refused or failed (a usage error, a target in use, a store error). */
const EXIT_OK = 0;
const EXIT_FAILED = 2;

/** Audit events read and written per step: the trail is never held in memory whole. */
const AUDIT_PAGE = 1000;

/** A refusal with its message; only this module throws or catches it. */
class CopyRefused extends Error {}

interface CopyCounts {
  users: number;
  rules: number;
  registrations: number;
  leases: number;
  revoked: number;
  expired: number;
  keptLeases: number;
  audit: number;
}

function parseCopyArguments(args: string[]): { from: string; to: string; force: boolean } {
  let parsed: ReturnType<typeof parseArgs<{ options: { from: { type: 'string' }; to: { type: 'string' }; force: { type: 'boolean' } } }>>;
  try {
    parsed = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, force: { type: 'boolean' } }, strict: true });
  } catch (error) {
    throw new CopyRefused(`${(error as Error).message}\nusage: ${STORE_USAGE.trim()}`);
  }
  const { from, to, force } = parsed.values;
  if (!from || !to) throw new CopyRefused(`store copy needs --from FILE and --to URL\nusage: ${STORE_USAGE.trim()}`);
  if (!existsSync(from)) throw new CopyRefused(`${from}: no such file (--from names the SQLite store to copy)`);
  if (!isPostgresUrl(to)) throw new CopyRefused('--to must be a URL postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  return { from, to, force: force === true };
}

/** Refuses a target already in use, unless forced. */
async function checkTarget(target: PostgresStore, force: boolean): Promise<void> {
  const { users, leases, rules } = await target.counts();
  if (force || users + leases + rules === 0) return;
  throw new CopyRefused(
    `${target.target.masked} already holds ${users} users, ${leases} leases and ${rules} rules: copy into an empty database, or add --force to copy over them`,
  );
}

/** Leases one by one; with --force, one whose id or token is there already is kept as it is. */
async function copyLeases(leases: readonly LeaseRecord[], target: Store, force: boolean, counts: CopyCounts): Promise<void> {
  const now = Date.now();
  for (const lease of leases) {
    if (force && ((await target.leases.get(lease.id)) || (await target.leases.getByTokenHash(lease.tokenHash)))) {
      counts.keptLeases++;
      continue;
    }
    await target.leases.create(lease);
    counts.leases++;
    if (lease.revokedAt !== undefined) counts.revoked++;
    else if (lease.expiresAt <= now) counts.expired++;
  }
}

/** The audit trail, oldest first, a page at a time: pages are found newest first, then copied from the oldest. */
async function copyAudit(source: Store, target: Store): Promise<number> {
  const starts: Array<number | undefined> = [undefined];
  for (;;) {
    const page = await source.audit.list({ limit: AUDIT_PAGE, beforeId: starts[starts.length - 1] });
    if (page.length < AUDIT_PAGE) break;
    starts.push(page[page.length - 1]!.id);
  }
  let copied = 0;
  for (const beforeId of starts.reverse()) {
    const page = await source.audit.list({ limit: AUDIT_PAGE, beforeId });
    const events = page.reverse().map(({ id: _id, ...event }: AuditEvent) => event);
    await target.audit.appendMany(events);
    copied += events.length;
  }
  return copied;
}

async function copy(source: Store, leases: readonly LeaseRecord[], target: PostgresStore, force: boolean): Promise<CopyCounts> {
  await checkTarget(target, force);
  const counts: CopyCounts = { users: 0, rules: 0, registrations: 0, leases: 0, revoked: 0, expired: 0, keptLeases: 0, audit: 0 };
  for (const user of await source.users.list()) {
    await target.users.put(user);
    counts.users++;
  }
  for (const rule of await source.rules.list()) {
    await target.rules.put(rule);
    counts.rules++;
  }
  for (const entry of await source.registrations.list()) {
    await target.registrations.put(entry);
    counts.registrations++;
  }
  await copyLeases(leases, target, force, counts);
  counts.audit = await copyAudit(source, target);
  return counts;
}

function describeCounts(counts: CopyCounts): string {
  const kept = counts.keptLeases > 0 ? `, ${counts.keptLeases} already there kept` : '';
  return [
    `${counts.users} users`,
    `${counts.rules} rules`,
    `${counts.registrations} registrations`,
    `${counts.leases} leases (${counts.revoked} revoked, ${counts.expired} expired${kept})`,
    `${counts.audit} audit events`,
  ].join(', ');
}

/** Reads every lease of the file, ended ones included, through a read-only connection of its own. */
function readLeases(file: string): LeaseRecord[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return everySqliteLease(db);
  } finally {
    db.close();
  }
}

async function storeCopy(args: string[], out: (line: string) => void): Promise<void> {
  const { from, to, force } = parseCopyArguments(args);
  const source = openSqliteStore(from);
  try {
    const leases = readLeases(from);
    const target = await openPostgresStore(to, { changeFeed: false });
    try {
      const counts = await copy(source, leases, target, force);
      out(`copied ${from} to ${target.target.masked}: ${describeCounts(counts)}`);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/**
 * `roamgate store copy --from FILE --to URL [--force]`; resolves to the exit
 * status. Messages name the target by its URL with the password masked.
 */
export async function storeCommand(
  args: string[],
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const [verb, ...rest] = args;
  try {
    if (verb !== 'copy')
      throw new CopyRefused(`${verb ? `unknown store command ${verb}` : 'store needs a command'}\nusage: ${STORE_USAGE.trim()}`);
    await storeCopy(rest, out);
    return EXIT_OK;
  } catch (error) {
    const message = error instanceof CopyRefused || isRoamgateError(error) ? error.message : String(error);
    // A driver's message could quote the URL it was given: never with its password.
    const urls = rest.map((arg) => (arg.startsWith('--to=') ? arg.slice('--to='.length) : arg)).filter(isPostgresUrl);
    const shown = urls.reduce((text, url) => text.split(url).join(maskPostgresUrl(url)), message);
    process.stderr.write(`roamgate: store${verb ? ` ${verb}` : ''}: ${shown}\n`);
    return EXIT_FAILED;
  }
}
