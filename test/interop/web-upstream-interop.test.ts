import { once } from 'node:events';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import WebSocket, { WebSocketServer } from 'ws';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { NGINX_PAGE_TITLE, startNginx, type Nginx } from '../helpers/nginx';

/** Logins come from here: a lease is also bound to the address it was issued to, and 127.0.0.1 stays anonymous. */
const LOGIN_ADDRESS = '127.0.0.2';

function logIn(base: string, username: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}/roamgate/login`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, localAddress: LOGIN_ADDRESS },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 201 ? resolve((JSON.parse(body) as { token: string }).token) : reject(new Error(body))));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ username, password }));
  });
}

describe('gw.web in front of nginx (Debian nginx-light): its page, and a WebSocket echo behind it', () => {
  let echo: WebSocketServer;
  let nginx: Nginx;
  let gw: TestGateway;
  let http: Server;
  let base: string;
  let token: string;

  beforeAll(async () => {
    echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    echo.on('connection', (socket, req) => {
      socket.send(`upgrade seen by the echo: ${req.url} user=${req.headers['x-roamgate-user']}`);
      socket.on('message', (data) => socket.send(`echo: ${data.toString()}`));
    });
    await once(echo, 'listening');
    nginx = await startNginx({ wsPort: (echo.address() as AddressInfo).port });
    gw = await startGateway({
      users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: { team: 'ops' } }],
      access: [{ subject: 'team=ops', service: 'intranet', allow: true }],
      servers: { intranet: [{ host: '127.0.0.1', port: nginx.port }] },
    });
    gw.app.use('/intranet', gw.gateway.web('intranet', { path: '/intranet' }));
    http = gw.app.listen(0, '127.0.0.1');
    await once(http, 'listening');
    gw.gateway.attach(http);
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    token = await logIn(base, 'alice', 'alice-pw');
  });

  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    await gw?.close();
    await nginx?.close();
    for (const client of echo?.clients ?? []) client.terminate();
    await new Promise((resolve) => echo?.close(resolve));
  });

  test("nginx's page through the route, for a user the rules allow; a browser without a lease goes to the login page", async () => {
    const page = await request(base).get('/intranet/').set('Authorization', `Bearer ${token}`).expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers.server).toMatch(/^nginx/);
    expect(page.text).toContain(`<title>${NGINX_PAGE_TITLE}</title>`);
    const byCookie = await request(base).get('/intranet/index.html').set('Cookie', `roamgate.lease=${token}`).expect(200);
    expect(byCookie.text).toContain(NGINX_PAGE_TITLE);
    await request(base).get('/intranet/missing.html').set('Authorization', `Bearer ${token}`).expect(404);
    const browser = await request(base).get('/intranet/').set('Accept', 'text/html').expect(303);
    expect(browser.headers.location).toBe(`/roamgate/login?return=${encodeURIComponent('/intranet/')}`);
    const records = await gw.logger.waitForRecords(4);
    expect(records.filter((entry) => entry.service === 'intranet').map((entry) => [entry.outcome, entry.status])).toEqual([
      ['relayed', 200],
      ['relayed', 200],
      ['relayed', 404],
      ['refused', 303],
    ]);
  });

  test('a WebSocket through gw.attach, the route and nginx to the echo server and back', async () => {
    const socket = new WebSocket(`${base.replace('http', 'ws')}/intranet/ws`, { headers: { Authorization: `Bearer ${token}` } });
    const [first] = await once(socket, 'message');
    // nginx proxied `/ws` (the route took its path off) and passed the gateway's identity header on.
    expect(String(first)).toBe('upgrade seen by the echo: /ws user=alice');
    socket.send('hello through roamgate and nginx');
    const [reply] = await once(socket, 'message');
    expect(String(reply)).toBe('echo: hello through roamgate and nginx');
    socket.close();
    await once(socket, 'close');

    const anonymous = new WebSocket(`${base.replace('http', 'ws')}/intranet/ws`);
    anonymous.on('error', () => undefined);
    const [, response] = await once(anonymous, 'unexpected-response');
    expect((response as { statusCode: number }).statusCode).toBe(401);
    anonymous.terminate();
  });
});
