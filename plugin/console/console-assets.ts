/**
 * The console's one script, served by the gateway as `<mount>/console/console.js` (the Content-Security-Policy
 * allows scripts from the gateway only, none inline). A page with a live table has it refreshed every 2 s with the
 * rows the server renders (and escapes): `<page>?live=1`. A session that ended reloads the page, which then goes to
 * the login page.
 */
export const CONSOLE_SCRIPT = `'use strict';
(function () {
  var body = document.querySelector('tbody[data-live]');
  if (!body) return;
  var query = new URLSearchParams(location.search);
  query.set('live', '1');
  var url = location.pathname + '?' + query.toString();
  function refresh() {
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'text/html' } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (rows) {
        if (typeof rows === 'string') {
          body.innerHTML = rows;
          document.documentElement.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () {})
      .then(function () {
        setTimeout(refresh, 2000);
      });
  }
  setTimeout(refresh, 2000);
})();
`;

/** The console's styles (`<mount>/console/console.css`): plain, readable on a phone (one column below 600px). */
export const CONSOLE_STYLE = `*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fafafa;line-height:1.4}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#1f3a5f;color:#fff}
header a{color:#dde7f5;text-decoration:none;padding:.2rem .4rem;border-radius:.2rem}
header a[aria-current=page]{background:#fff;color:#1f3a5f}
header nav{display:flex;flex-wrap:wrap;gap:.2rem}
main{padding:0 1rem 2rem;max-width:80rem}
h1{font-size:1.3rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#eef2f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.empty{color:#666;font-style:italic}
.healthy{color:#176b2c;font-weight:600}.unhealthy{color:#a00;font-weight:600}.unknown{color:#666}
.allow{color:#176b2c}.deny{color:#a00}
form.inline{display:inline;margin:0}
header form.who{margin-left:auto}
button{padding:.3rem .7rem;cursor:pointer}
fieldset{border:1px solid #ccc;background:#fff;margin:1rem 0;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end}
fieldset label{display:flex;flex-direction:column;font-size:.85rem}
input,select{padding:.3rem;font:inherit}
.effect{padding:.6rem .8rem;border-left:4px solid #1f3a5f;background:#fff}
.effect.closes{border-color:#a00}
.error{color:#a00}
pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:.8rem}
@media (max-width:600px){header form.who{margin-left:0}fieldset{flex-direction:column;align-items:stretch}main{padding:0 .5rem 2rem}}
`;
