import type { HealthStatus } from '../../sources/health-monitor';
import type { ServerEntry } from '../../sources/server-info-source';
import { formatTime, type Html, html } from './html';
import { emptyRow, liveTable } from './layout';

/** A server-info entry with its health now. */
export type ServerRow = ServerEntry & { health: HealthStatus };

const HEAD = ['Service', 'Server', 'Priority', 'For', 'Origin', 'Health', 'Checked', 'Why'] as const;

/** The rows of the server table (what the live refresh replaces). */
export function serverRows(servers: readonly ServerRow[]): Html {
  if (servers.length === 0) return emptyRow(HEAD.length, 'The server-info table is empty.');
  return html`${servers.map(
    (server) => html`<tr>
<td>${server.service}</td><td>${server.host}:${server.port}</td><td class="num">${server.priority}</td>
<td>${server.for ?? 'everyone'}</td><td>${server.origin}</td>
<td class="${server.health.state}">${server.health.state}</td><td>${formatTime(server.health.checkedAt)}</td><td>${server.health.reason}</td>
</tr>`,
  )}`;
}

/** The servers page: the server-info table with health, refreshed every 2 s. */
export function serversBody(servers: readonly ServerRow[]): Html {
  return html`<p>Every server the gateway may use, with its health as the checks and the relays last saw it.</p>
${liveTable(HEAD, serverRows(servers))}`;
}
