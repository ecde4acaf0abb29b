import type { PeerAnswer } from '../peer-client';
import { formatTime, type Html, html } from './html';
import { emptyRow } from './layout';

/** A configured peer as the console shows it. */
export interface PeerRow {
  realm: string;
  /** Its management URL: set for a home this gateway asks about its users. */
  url?: string;
  /** The last time it was asked, and what came of it. */
  lastAnswer?: PeerAnswer;
}

const HEAD = ['Realm', 'Role', 'URL', 'Last asked', 'Request', 'Answer'] as const;

function outcome(answer: PeerAnswer | undefined): Html {
  if (!answer) return html`<span class="unknown">not asked yet</span>`;
  if (answer.error !== undefined) return html`<span class="unhealthy">${answer.error}</span>`;
  const ok = answer.status !== undefined && answer.status < 500;
  return html`<span class="${ok ? 'healthy' : 'unhealthy'}">HTTP ${answer.status}, signed</span>`;
}

/** The peers page: every configured peer, and for a home the last answer it gave. */
export function peersBody(peers: readonly PeerRow[]): Html {
  const rows =
    peers.length === 0
      ? emptyRow(HEAD.length, 'No peer is configured.')
      : peers.map(
          (peer) => html`<tr><td>${peer.realm}</td>
<td>${peer.url ? 'home' : 'visited'}</td><td>${peer.url ?? ''}</td>
<td>${formatTime(peer.lastAnswer?.at)}</td><td>${peer.lastAnswer?.request ?? ''}</td><td>${peer.url ? outcome(peer.lastAnswer) : ''}</td></tr>`,
        );
  return html`<p>The gateways this one shares a secret with: homes it asks about their users (the last answer, kept since the gateway started), and visited gateways that ask it about its own.</p>
<div class="scroll"><table><thead><tr>${HEAD.map((cell) => html`<th>${cell}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}
