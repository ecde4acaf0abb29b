import { type Html, html } from './html';

/** The console's pages, in the order of its menu: path under `<mount>/console/` and title. */
export const CONSOLE_PAGES = [
  { path: 'servers', title: 'Servers' },
  { path: 'relays', title: 'Relays' },
  { path: 'leases', title: 'Leases' },
  { path: 'rules', title: 'Rules' },
  { path: 'audit', title: 'Audit' },
  { path: 'peers', title: 'Peers' },
] as const;

export type ConsolePageName = (typeof CONSOLE_PAGES)[number]['path'];

/** What every page is rendered with: where the router is mounted, the admin, and the session's CSRF token for forms. */
export interface ConsoleContext {
  /** The router's mount path (`/roamgate`): the console is under `<base>/console`. */
  base: string;
  admin: string;
  csrf: string;
}

/** A hidden field with the session's CSRF token: every form that writes has one. */
export function csrfField(context: ConsoleContext): Html {
  return html`<input type="hidden" name="_csrf" value="${context.csrf}">`;
}

/** A POST form of one button (cut, revoke, remove), with the CSRF token. */
export function buttonForm(context: ConsoleContext, action: string, label: string, fields: Record<string, string> = {}): Html {
  const hidden = Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  return html`<form method="post" action="${action}" class="inline">${csrfField(context)}${hidden}<button type="submit">${label}</button></form>`;
}

/**
 * A whole console page: the menu with `active` marked, who is logged in and a log-out button, then `body`.
 * Styles and the script are the gateway's own files (the Content-Security-Policy allows nothing else).
 */
export function consolePage(context: ConsoleContext, active: ConsolePageName | null, title: string, body: Html): string {
  const root = `${context.base}/console`;
  const menu = CONSOLE_PAGES.map(
    (page) => html`<a href="${root}/${page.path}"${page.path === active ? html` aria-current="page"` : ''}>${page.title}</a>`,
  );
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · roamgate console</title>
<link rel="stylesheet" href="${root}/console.css">
<script src="${root}/console.js" defer></script>
</head><body>
<header><strong>roamgate</strong><nav>${menu}</nav>
<form method="post" action="${context.base}/logout" class="inline who">${csrfField(context)}<span>${context.admin}</span> <button type="submit">Log out</button></form>
</header>
<main><h1>${title}</h1>${body}</main>
</body></html>`.text;
}

/** A table with a live body: console.js fetches this page with `live=1` every 2 s and puts the rows it answers in its place. */
export function liveTable(head: readonly string[], rows: Html): Html {
  return html`<div class="scroll"><table><thead><tr>${head.map((cell) => html`<th>${cell}</th>`)}</tr></thead>
<tbody data-live>${rows}</tbody></table></div>`;
}

/** The one row of a table with nothing in it. */
export function emptyRow(columns: number, text: string): Html {
  return html`<tr><td colspan="${columns}" class="empty">${text}</td></tr>`;
}
