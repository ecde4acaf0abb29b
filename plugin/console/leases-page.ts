import type { LeaseRecord } from '../../store/store';
import { formatTime, type Html, html } from './html';
import { buttonForm, type ConsoleContext, emptyRow, liveTable } from './layout';

const HEAD = ['User', 'Bound to', 'Issued', 'Expires', 'Open relays', ''] as const;

/** A live lease and how many open relays stand on it. */
export interface LeaseRow {
  lease: LeaseRecord;
  relays: number;
}

function boundTo(lease: LeaseRecord): string {
  if (lease.peer !== undefined) return `peer ${lease.peer} (${lease.address})`;
  return lease.tokenOnly ? `its token only (from ${lease.address})` : lease.address;
}

/** The rows of the lease table, each with its revoke button. */
export function leaseRows(context: ConsoleContext, leases: readonly LeaseRow[]): Html {
  if (leases.length === 0) return emptyRow(HEAD.length, 'No live lease.');
  return html`${leases.map(
    ({ lease, relays }) => html`<tr data-lease="${lease.id}">
<td>${lease.userId}${lease.home ? html` <small>(visitor from ${lease.home.realm})</small>` : ''}</td><td>${boundTo(lease)}</td>
<td>${formatTime(lease.issuedAt)}</td><td>${formatTime(lease.expiresAt)}</td><td class="num">${relays}</td>
<td>${buttonForm(context, `${context.base}/console/leases/${encodeURIComponent(lease.id)}/revoke`, 'Revoke')}</td>
</tr>`,
  )}`;
}

/** The leases page: every live lease, refreshed every 2 s, with a button that revokes one (its relays close). */
export function leasesBody(context: ConsoleContext, leases: readonly LeaseRow[]): Html {
  return html`<p>Revoking a lease closes the relays that stand on it and is audited; its holder must log in again.</p>
${liveTable(HEAD, leaseRows(context, leases))}`;
}
