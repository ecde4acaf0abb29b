import fc from 'fast-check';
import { escapeHtml, leasePage, loginPage } from '../../plugin/login-page';
import { anyText } from './arbitraries';

const ENTITY = /&(amp|lt|gt|quot|#39);/g;
/** Inverse of escapeHtml, for the round-trip property. */
const unescapeHtml = (html: string) =>
  html.replace(ENTITY, (_all, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name]!);

const HOSTILE = `"><script>alert('x')</script>&amp;`;
const HOSTILE_ESCAPED = '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;';

describe('escapeHtml', () => {
  test.each<[string, string]>([
    ['', ''],
    ['plain text 123', 'plain text 123'],
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['&', '&amp;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['&amp;', '&amp;amp;'],
    ['a & b < c > d', 'a &amp; b &lt; c &gt; d'],
    ['" onmouseover="x', '&quot; onmouseover=&quot;x'],
    ["' autofocus onfocus='x", '&#39; autofocus onfocus=&#39;x'],
    ['é ü 🎉 \u2028', 'é ü 🎉 \u2028'],
    [HOSTILE, HOSTILE_ESCAPED],
  ])('%j -> %j', (text, expected) => {
    expect(escapeHtml(text)).toBe(expected);
  });

  const htmlish = fc.oneof(
    anyText(60),
    fc.string({ unit: fc.constantFrom('<', '>', '&', '"', "'", 'a', ';', '#', 'amp', 'lt', ' ', '='), maxLength: 60 }),
  );

  test('the output never contains <, >, ", \' or an & that does not start one of its entities', () => {
    fc.assert(
      fc.property(htmlish, (text) => {
        const html = escapeHtml(text);
        expect(html).not.toMatch(/[<>"']/);
        expect(html.replace(ENTITY, '')).not.toContain('&');
      }),
    );
  });

  test('unescaping gives the text back, and text without special characters is unchanged', () => {
    fc.assert(
      fc.property(htmlish, (text) => {
        expect(unescapeHtml(escapeHtml(text))).toBe(text);
        if (!/[&<>"']/.test(text)) expect(escapeHtml(text)).toBe(text);
      }),
    );
  });
});

describe('loginPage', () => {
  test('escapes the user name, the error, the CSRF token and the action', () => {
    const html = loginPage(`/login?x=${HOSTILE}`, `tok${HOSTILE}`, `err${HOSTILE}`, `<script>alert(1)</script>${HOSTILE}`);
    expect(html).not.toContain('<script>');
    expect(html).toContain(`value="&lt;script&gt;alert(1)&lt;/script&gt;${HOSTILE_ESCAPED}"`);
    expect(html).toContain(`<p class="error" role="alert">err${HOSTILE_ESCAPED}</p>`);
    expect(html).toContain(`name="_csrf" value="tok${HOSTILE_ESCAPED}"`);
    expect(html).toContain(`action="/login?x=${HOSTILE_ESCAPED}"`);
  });

  test('any user name stays inside its value attribute', () => {
    fc.assert(
      fc.property(anyText(60), (username) => {
        const html = loginPage('/login', 'tok', undefined, username);
        expect(html).toContain(`autocomplete="username" required value="${escapeHtml(username)}">`);
        // The page has exactly the tags of the form, whatever the name.
        expect(html.match(/<input /g)).toHaveLength(3);
      }),
    );
  });

  test('without an error there is no alert, and the user name defaults to empty', () => {
    const html = loginPage('/login', 'tok');
    expect(html).not.toContain('role="alert"');
    expect(html).toContain('required value="">');
    expect(html).toContain('<form method="post" action="/login">');
  });

  test('the password field is never pre-filled', () => {
    expect(loginPage('/login', 'tok', 'Wrong user name or password.', 'alice')).toMatch(
      /<input id="password" name="password" type="password" autocomplete="current-password" required>/,
    );
  });
});

describe('leasePage', () => {
  const expiresAt = Date.UTC(2030, 0, 2, 3, 4, 5);

  test('shows the user, the token and the expiry time', () => {
    const html = leasePage('alice', 'TOKEN-abc_123', expiresAt, '/gate/logout', 'csrf-1');
    expect(html).toContain('Logged in as <strong>alice</strong>');
    expect(html).toContain('<code id="lease-token">TOKEN-abc_123</code>');
    expect(html).toContain('2030-01-02T03:04:05.000Z');
    expect(html).toContain('<form method="post" action="/gate/logout"><input type="hidden" name="_csrf" value="csrf-1">');
  });

  test('escapes the user, the token, the logout action and the CSRF token', () => {
    const html = leasePage(`<script>alert(1)</script>${HOSTILE}`, `t${HOSTILE}`, expiresAt, `/out${HOSTILE}`, `c${HOSTILE}`);
    expect(html).not.toContain('<script>');
    expect(html).toContain(`<strong>&lt;script&gt;alert(1)&lt;/script&gt;${HOSTILE_ESCAPED}</strong>`);
    expect(html).toContain(`<code id="lease-token">t${HOSTILE_ESCAPED}</code>`);
    expect(html).toContain(`action="/out${HOSTILE_ESCAPED}"`);
    expect(html).toContain(`value="c${HOSTILE_ESCAPED}"`);
  });
});
