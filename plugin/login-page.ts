/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}code{word-break:break-all;background:#eee;padding:.2rem}';

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** The login form. `action` is the form's target; `csrfToken` goes in a hidden field, and so does `returnTo`, where to go after. */
export function loginPage(action: string, csrfToken: string, error?: string, username = '', returnTo?: string): string {
  return page(
    'roamgate login',
    `${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">${returnTo ? `<input type="hidden" name="return" value="${escapeHtml(returnTo)}">` : ''}
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required value="${escapeHtml(username)}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>`,
  );
}

/** What a visitor sees when logged in: the lease, its token only right after the login (shown once), and a Log out form. */
export function leasePage(user: string, token: string | undefined, expiresAt: number, logoutAction: string, csrfToken: string): string {
  return page(
    'You are logged in',
    `<p>Logged in as <strong>${escapeHtml(user)}</strong>. This computer's address may now use the services your access allows, until ${escapeHtml(new Date(expiresAt).toISOString())}.</p>
${token === undefined ? '' : `<p>Your lease token (for the roamgate local proxy; it is shown only once):</p><p><code id="lease-token">${escapeHtml(token)}</code></p>`}
<form method="post" action="${escapeHtml(logoutAction)}"><input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}"><button type="submit">Log out</button></form>`,
  );
}
