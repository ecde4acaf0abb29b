import type { AuditEvent } from '../../store/store';
import { formatTime, type Html, html } from './html';
import type { ConsoleContext } from './layout';

/** The filters as the form holds them (text, as typed). */
export interface AuditFilters {
  type?: string;
  actor?: string;
  since?: string;
  until?: string;
}

/** Events shown per page. */
export const AUDIT_PAGE_SIZE = 50;

function filterForm(context: ConsoleContext, filters: AuditFilters): Html {
  return html`<form method="get" action="${context.base}/console/audit"><fieldset><legend>Filter</legend>
<label>Type <input name="type" value="${filters.type ?? ''}" placeholder="login.failure"></label>
<label>Actor <input name="actor" value="${filters.actor ?? ''}" placeholder="alice"></label>
<label>From (UTC) <input name="since" value="${filters.since ?? ''}" placeholder="2026-12-04T09:00"></label>
<label>Until (UTC) <input name="until" value="${filters.until ?? ''}" placeholder="2026-12-04T18:00"></label>
<button type="submit">Show</button> <a href="${context.base}/console/audit">Clear</a>
</fieldset></form>`;
}

/** The link to the next older page: the same filters, before the last event shown. */
function olderLink(context: ConsoleContext, filters: AuditFilters, events: readonly AuditEvent[]): Html {
  if (events.length < AUDIT_PAGE_SIZE) return html``;
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  query.set('beforeId', String(events[events.length - 1].id));
  return html`<p><a href="${context.base}/console/audit?${query.toString()}" rel="next">Older events →</a></p>`;
}

/** The audit page: the filter form, one page of events (newest first), and the link to older ones. */
export function auditBody(context: ConsoleContext, filters: AuditFilters, events: readonly AuditEvent[], error?: string): Html {
  const rows =
    events.length === 0
      ? html`<tr><td colspan="6" class="empty">No event matches.</td></tr>`
      : events.map(
          (event) => html`<tr><td class="num">${event.id}</td><td>${formatTime(event.at)}</td><td>${event.type}</td>
<td>${event.actor}</td><td>${event.address}</td><td><pre>${JSON.stringify(event.detail)}</pre></td></tr>`,
        );
  return html`${filterForm(context, filters)}${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<div class="scroll"><table><thead><tr><th>#</th><th>Time (UTC)</th><th>Type</th><th>Actor</th><th>Address</th><th>Detail</th></tr></thead>
<tbody>${rows}</tbody></table></div>${olderLink(context, filters, events)}`;
}
