import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createExpressGateway, type ExpressGateway } from '../../examples/express-gateway/app';
import { launchBrowser, type Browser } from '../helpers/browser';
import { CapturingLogger } from '../helpers/gateway';
import { NGINX_PAGE_GREETING, NGINX_PAGE_TITLE, startNginx, type Nginx } from '../helpers/nginx';

jest.setTimeout(60_000);

/** Where the screenshot of the logged-in intranet page goes, to look at after a run. */
const SCREENSHOT = '/tmp/rg/browser.png';

/** The requests made with plain HTTP come from their own loopback address: a lease is bound to the address it was issued to. */
const PROGRAM = '127.0.0.2';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request from PROGRAM's address. */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, localAddress: PROGRAM }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The `name=value` of a Set-Cookie header for `name`. */
function cookie(reply: Reply, name: string): string | undefined {
  const set = reply.headers['set-cookie'] ?? [];
  return (Array.isArray(set) ? set : [set]).map((line) => line.split(';')[0]).find((pair) => pair.startsWith(`${name}=`));
}

describe('the example express gateway in front of nginx, with Chromium', () => {
  /** Every echo carries it: text with it in the page came from this run's echo server, through nginx and roamgate. */
  const echoTag = `echo-${randomBytes(6).toString('hex')}`;
  let echo: WebSocketServer;
  let nginx: Nginx;
  let gateway: ExpressGateway;
  let browser: Browser | undefined;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    echo.on('connection', (socket) => socket.on('message', (data) => socket.send(`${echoTag}: ${data.toString()}`)));
    await once(echo, 'listening');
    nginx = await startNginx({ wsPort: (echo.address() as AddressInfo).port });
    gateway = await createExpressGateway({ upstreamUrl: nginx.url, logger });
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await nginx?.close();
    for (const client of echo?.clients ?? []) client.terminate();
    await new Promise((resolve) => echo?.close(resolve));
  });

  test("the host's own login, API and proxy work beside roamgate, and the two logins stay apart", async () => {
    expect((await send(`${gateway.url}/api/me`)).status).toBe(401);
    const hostLogin = await send(`${gateway.url}/login`, json({ username: 'ops', password: 'ops-password' }));
    expect(hostLogin.status).toBe(200);
    const hostCookie = cookie(hostLogin, 'host.sid')!;
    expect(hostCookie).toBeDefined();
    const me = await send(`${gateway.url}/api/me`, { headers: { cookie: hostCookie } });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toEqual({ user: { id: 'ops', role: 'admin', attributes: { team: 'ops' } } });
    // The host's http-proxy-middleware route reaches nginx's page.
    const status = await send(`${gateway.url}/status/`, { headers: { cookie: hostCookie } });
    expect(status.status).toBe(200);
    expect(status.body).toContain(NGINX_PAGE_TITLE);
    // Logged in to the host is not logged in to roamgate.
    const whoamiAsHost = await send(`${gateway.url}/whoami`, { headers: { cookie: hostCookie, accept: 'application/json' } });
    expect(whoamiAsHost.status).toBe(401);

    // roamgate checks its logins with the host's passport-local strategy, and takes only id and attributes from it.
    const wrong = await send(`${gateway.url}/roamgate/login`, json({ username: 'ops', password: 'not-the-password' }));
    expect(wrong.status).toBe(401);
    const login = await send(`${gateway.url}/roamgate/login`, json({ username: 'ops', password: 'ops-password' }));
    expect(login.status).toBe(201);
    expect(cookie(login, 'host.sid')).toBeUndefined();
    const { token } = JSON.parse(login.body) as { token: string };
    const whoami = await send(`${gateway.url}/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(whoami.status).toBe(200);
    const grant = JSON.parse(whoami.body) as { identity: { kind: string; user: { id: string; attributes: Record<string, string> } } };
    expect(grant.identity.kind).toBe('user');
    expect(grant.identity.user.id).toBe('ops');
    expect(grant.identity.user.attributes).toEqual({ team: 'ops' });
    // A roamgate lease does not log anyone in to the host.
    expect((await send(`${gateway.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    expect((await send(`${gateway.url}/roamgate/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(
      204,
    );

    // alice is a host user too, but the access table keeps the intranet (all there is here) for team=ops: no rights, no lease.
    const alice = await send(`${gateway.url}/roamgate/login`, json({ username: 'alice', password: 'alice-password' }));
    expect(alice.status).toBe(403);
    expect(JSON.parse(alice.body)).toEqual({ error: 'alice may use no service here' });
  });

  test('a browser is sent to the login page, comes back to the page, talks WebSocket through it, logs out and is refused', async () => {
    browser = await launchBrowser();
    const { page } = browser;
    const intranet = `${gateway.url}/intranet/`;

    await page.goto(intranet);
    const loginUrl = new URL(page.url());
    expect(loginUrl.pathname).toBe('/roamgate/login');
    expect(loginUrl.searchParams.get('return')).toBe('/intranet/');

    await page.fill('#username', 'ops');
    await page.fill('#password', 'ops-password');
    await Promise.all([page.waitForURL(intranet), page.click('button[type=submit]')]);
    expect(page.url()).toBe(intranet);

    // The page nginx serves opens a WebSocket to /intranet/ws and prints what comes back.
    await page.locator('#messages li', { hasText: `${echoTag}: ${NGINX_PAGE_GREETING}` }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The same lease (its cookie) lets the browser through gw.protect on a route of the host's.
    await page.goto(`${gateway.url}/whoami`);
    const grant = JSON.parse((await page.textContent('body')) ?? '') as { identity: { user: { id: string } } };
    expect(grant.identity.user.id).toBe('ops');

    // Back at the login page while logged in: the lease page, without the token (shown once, at the login).
    await page.goto(`${gateway.url}/roamgate/login`);
    expect(await page.locator('#lease-token').count()).toBe(0);
    const loggedOut = page.waitForResponse((response) => new URL(response.url()).pathname === '/roamgate/logout');
    await page.getByRole('button', { name: 'Log out' }).click({ timeout: 5000 });
    expect((await loggedOut).status()).toBe(303);
    // Its redirect lands on the login form.
    await page.locator('#username').waitFor();
    expect((await page.context().cookies(gateway.url)).map((entry) => entry.name)).not.toContain('roamgate.lease');

    await page.goto(intranet);
    expect(new URL(page.url()).pathname).toBe('/roamgate/login');
    // Nor does a WebSocket get through any more.
    const upgrade = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url);
          socket.onopen = () => resolve('open');
          socket.onerror = () => resolve('refused');
        }),
      `${gateway.url.replace(/^http/, 'ws')}/intranet/ws`,
    );
    expect(upgrade).toBe('refused');
  });
});
