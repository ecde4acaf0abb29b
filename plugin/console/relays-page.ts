import type { RelayView } from '../routes/relay-routes';
import { formatBytes, formatDuration, type Html, html } from './html';
import { buttonForm, type ConsoleContext, emptyRow, liveTable } from './layout';

const HEAD = ['User', 'Service', 'Client', 'Server', 'From client', 'From server', 'Duration', ''] as const;

/** The rows of the relay table, each with its cut button. */
export function relayRows(context: ConsoleContext, relays: readonly RelayView[]): Html {
  if (relays.length === 0) return emptyRow(HEAD.length, 'No open relay.');
  return html`${relays.map(
    (relay) => html`<tr data-relay="${relay.id}">
<td>${relay.user}</td><td>${relay.service}</td><td>${relay.client}</td><td>${relay.server ?? 'connecting'}</td>
<td class="num">${formatBytes(relay.bytesFromClient)}</td><td class="num">${formatBytes(relay.bytesFromServer)}</td>
<td class="num" title="since ${relay.startedAt}">${formatDuration(relay.durationMs)}</td>
<td>${buttonForm(context, `${context.base}/console/relays/${encodeURIComponent(relay.id)}/cut`, 'Cut')}</td>
</tr>`,
  )}`;
}

/** The relays page: every open relay, refreshed every 2 s, with a button that cuts one. */
export function relaysBody(context: ConsoleContext, relays: readonly RelayView[]): Html {
  return html`<p>Connections relayed now, through every adapter and the tunnel endpoint. Cutting one closes both its sockets and is audited.</p>
${liveTable(HEAD, relayRows(context, relays))}`;
}
