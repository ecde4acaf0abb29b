import express from 'express';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { readConfigFile, startStandalone } from '../../plugin/standalone';
import { hashPassword } from '../../plugin/password';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import { openSqliteStore } from '../../store/sqlite-store';
import type { StoreHealth } from '../../store/store';
import { CapturingLogger, startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient, refusedPort } from '../helpers/net';
import { until } from '../helpers/until';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

const ADMIN = 'health-metrics-admin-token-0123';
const OPEN_SMTP = [{ subject: 'anonymous', service: 'smtp', allow: true }] as const;

/** One sample line of Prometheus' text format: name, optional labels, value (NaN in any case, as Prometheus reads it), optional timestamp. */
const SAMPLE_LINE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|[Nn][Aa][Nn]|[+-]Inf)( -?[0-9]+)?$/;
const COMMENT_LINE = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$/;
const FAMILIES = [
  'roamgate_connections_total',
  'roamgate_relays_active',
  'roamgate_relay_bytes_total',
  'roamgate_connection_duration_seconds',
  'roamgate_logins_total',
  'roamgate_leases_live',
  'roamgate_servers',
  'roamgate_connect_duration_seconds',
  'roamgate_login_duration_seconds',
  'roamgate_peer_requests_total',
  'roamgate_event_streams',
];

/** Every line of an exposition is a HELP or TYPE comment or a sample. */
function expectParses(exposition: string): void {
  for (const line of exposition.split('\n').filter((each) => each !== '')) {
    expect([line, line.startsWith('#') ? COMMENT_LINE.test(line) : SAMPLE_LINE.test(line)]).toEqual([line, true]);
  }
}

/** The scrape of a gateway's /metrics, as the admin. */
async function scrapeAdmin(gw: TestGateway): Promise<string> {
  const res = await request(gw.app).get('/roamgate/metrics').set('Authorization', `Bearer ${ADMIN}`);
  expect(res.status).toBe(200);
  return res.text;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function outsideAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((each) => each && each.family === 'IPv4' && !each.internal)?.address;
}

/** The value of one sample, by its name and labels as written (`name{a="b"}`); undefined when absent. */
function sample(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((text) => text.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('health, readiness and metrics', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  function mounted(gateway: Roamgate): express.Express {
    const app = express();
    app.use('/roamgate', gateway.router);
    return app;
  }

  test('healthz answers at once; readyz is 503 before listen(), 200 after, and 503 again once closing', async () => {
    const gateway = roamgate({ adapters: { smtp: { port: 0 } }, health: { enabled: false }, logger: new CapturingLogger() });
    cleanups.push(() => gateway.close());
    const app = mounted(gateway);
    const health = await request(app).get('/roamgate/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    expect(health.headers['cache-control']).toBe('no-store');
    const before = await request(app).get('/roamgate/readyz');
    expect(before.status).toBe(503);
    expect(before.headers['cache-control']).toBe('no-store');
    expect(before.body).toEqual({ status: 'not ready', reasons: ['the adapters are not listening'] });
    await gateway.listen();
    const after = await request(app).get('/roamgate/readyz');
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ status: 'ready' });
    await gateway.close();
    const closed = await request(app).get('/roamgate/readyz');
    expect(closed.status).toBe(503);
    expect(closed.body.reasons).toEqual(['the adapters are not listening']);
  });

  test('readyz is 503 naming the store, without its path, while the store is unusable; healthz stays 200', async () => {
    const store = openSqliteStore(':memory:');
    cleanups.push(() => store.close());
    let broken: StoreHealth | undefined;
    const healthy = store.health.bind(store);
    store.health = () => broken ?? healthy();
    const gw = await startGateway({ store, adapters: { smtp: { port: 0 } } });
    cleanups.push(() => gw.close());
    expect((await request(gw.app).get('/roamgate/readyz')).status).toBe(200);
    broken = {
      ok: false,
      problem: 'unwritable',
      file: '/secret/place/roamgate.db',
      reason: 'cannot write /secret/place',
      since: Date.now(),
    };
    const refused = await request(gw.app).get('/roamgate/readyz');
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({ status: 'not ready', reasons: ['the store cannot be used: its store cannot be written'] });
    expect(JSON.stringify(refused.body)).not.toContain('/secret');
    expect((await request(gw.app).get('/roamgate/healthz')).status).toBe(200);
    broken = undefined;
    expect((await request(gw.app).get('/roamgate/readyz')).status).toBe(200);
  });

  test('metrics need the admin; a real SMTP relay and a failed login move the counters; the exposition parses', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    const gw: TestGateway = await startGateway({
      adminToken: ADMIN,
      adapters: { smtp: { port: 0 } },
      servers: { smtp: [{ host: '127.0.0.1', port: upstream.port }] },
      access: [...OPEN_SMTP],
      users: [{ id: 'alice', passwordHash: await hashPassword('alice-password-1') }],
    });
    cleanups.push(() => gw.close());
    expect((await request(gw.app).get('/roamgate/metrics')).status).toBe(401);
    expect((await request(gw.app).get('/roamgate/metrics').set('Authorization', 'Bearer wrong-token')).status).toBe(401);
    const scrape = async () => {
      const res = await request(gw.app).get('/roamgate/metrics').set('Authorization', `Bearer ${ADMIN}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.headers['cache-control']).toBe('no-store');
      return res.text;
    };
    const relayed = 'roamgate_connections_total{service="smtp",outcome="relayed"}';
    expect(sample(await scrape(), relayed)).toBeUndefined();

    const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtp, secure: false, ignoreTLS: true });
    const raw = Buffer.from('From: a@example.test\r\nTo: b@example.test\r\nSubject: metrics\r\n\r\nhello\r\n');
    await mailer.sendMail({ envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw });
    await gw.logger.waitForRecords(1);
    const failed = await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'not-her-password' });
    expect(failed.status).toBe(401);

    const text = await scrape();
    expect(sample(text, relayed)).toBe(1);
    expect(sample(text, 'roamgate_relay_bytes_total{service="smtp",direction="from_client"}')).toBeGreaterThan(raw.length);
    expect(sample(text, 'roamgate_relay_bytes_total{service="smtp",direction="from_server"}')).toBeGreaterThan(0);
    expect(sample(text, 'roamgate_connection_duration_seconds_count{service="smtp"}')).toBe(1);
    expect(sample(text, 'roamgate_logins_total{via="api",result="failure"}')).toBe(1);
    expect(sample(text, 'roamgate_leases_live')).toBe(0);
    expect(sample(text, `roamgate_servers{service="smtp",health="healthy"}`)).toBe(1);
    expect(sample(text, 'roamgate_relays_active{service="smtp"}')).toBeUndefined();
    expect(text).toContain('process_cpu_user_seconds_total');
    // Sampled every EVENT_LOOP_SAMPLE_MS rather than prom-client's 10 ms: still there, and a number.
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expectParses(text);
    const open = await RawClient.open(gw.ports.smtp);
    await open.waitFor((received) => received.startsWith('220'));
    expect(sample(await scrape(), 'roamgate_relays_active{service="smtp"}')).toBe(1);
    open.close();
    for (const family of FAMILIES) expect(text).toMatch(new RegExp(`^# TYPE ${family} (counter|gauge|histogram)$`, 'm'));
  });

  test('two gateways in one process keep their metrics apart', async () => {
    const first = await startGateway({ adminToken: ADMIN });
    cleanups.push(() => first.close());
    const second = await startGateway({ adminToken: ADMIN });
    cleanups.push(() => second.close());
    await request(first.app).post('/roamgate/login').send({ username: 'nobody', password: 'wrong-password' });
    const scrape = async (gw: TestGateway) => (await request(gw.app).get('/roamgate/metrics').set('Authorization', `Bearer ${ADMIN}`)).text;
    expect(sample(await scrape(first), 'roamgate_logins_total{via="api",result="failure"}')).toBe(1);
    expect(sample(await scrape(second), 'roamgate_logins_total{via="api",result="failure"}')).toBeUndefined();
  });
});

describe('metrics: connect and login times, peers, event streams, the table, metrics.port', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  test('connect times by outcome; login times by via and result (the API, the form, SMTP AUTH)', async () => {
    const upstream = await startSmtpUpstream();
    cleanups.push(upstream.close);
    const gw = await startGateway({
      adminToken: ADMIN,
      adapters: { smtp: { port: 0, login: { allowCleartext: true } }, pop3: { port: 0 } },
      servers: {
        smtp: [{ host: '127.0.0.1', port: upstream.port, credentials: 'none' }],
        pop3: [{ host: '127.0.0.1', port: await refusedPort() }],
      },
      access: [
        { subject: 'authenticated', service: 'smtp', allow: true },
        { subject: 'anonymous', service: 'pop3', allow: true },
      ],
      users: [{ id: 'alice', passwordHash: await hashPassword('alice-password-1') }],
      login: { cacheSeconds: 0 },
    });
    cleanups.push(() => gw.close());
    const mailer = nodemailer.createTransport({
      host: '127.0.0.1',
      port: gw.ports.smtp,
      secure: false,
      ignoreTLS: true,
      localAddress: '127.0.0.5',
      auth: { user: 'alice', pass: 'alice-password-1' },
    });
    await mailer.sendMail({ from: 'alice@example.test', to: 'b@example.test', subject: 'timed', text: 'hello' });
    const pop3 = await RawClient.open(gw.ports.pop3);
    await pop3.closed;
    expect(pop3.received).toMatch(/^-ERR \[SYS\/TEMP\]/);
    expect((await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'wrong-password' })).status).toBe(401);
    const form = await request(gw.app).get('/roamgate/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
    const cookie = form.headers['set-cookie'];
    await request(gw.app)
      .post('/roamgate/login')
      .set('Cookie', cookie)
      .type('form')
      .send({ username: 'alice', password: 'alice-password-1', _csrf: csrf });
    await gw.logger.waitForRecords(2);

    const text = await scrapeAdmin(gw);
    expect(sample(text, 'roamgate_connect_duration_seconds_count{service="smtp",outcome="connected"}')).toBe(1);
    expect(sample(text, 'roamgate_connect_duration_seconds_count{service="pop3",outcome="unreachable"}')).toBe(1);
    expect(sample(text, 'roamgate_connect_duration_seconds_sum{service="smtp",outcome="connected"}')).toBeGreaterThan(0);
    expect(sample(text, 'roamgate_login_duration_seconds_count{via="smtp",result="success"}')).toBe(1);
    expect(sample(text, 'roamgate_login_duration_seconds_count{via="api",result="failure"}')).toBe(1);
    expect(sample(text, 'roamgate_login_duration_seconds_count{via="form",result="success"}')).toBe(1);
    // scrypt takes milliseconds: the sum says the check was timed, not just counted.
    expect(sample(text, 'roamgate_login_duration_seconds_sum{via="api",result="failure"}')).toBeGreaterThan(0.001);
    expect(sample(text, 'roamgate_login_duration_seconds_bucket{le="+Inf",via="api",result="failure"}')).toBe(1);
    expectParses(text);
    for (const family of FAMILIES) expect(text).toMatch(new RegExp(`^# TYPE ${family} (counter|gauge|histogram)$`, 'm'));
  });

  test('a removed server leaves roamgate_servers', async () => {
    const gw = await startGateway({ adminToken: ADMIN, adapters: { smtp: { port: 0 } } });
    cleanups.push(() => gw.close());
    const port = await refusedPort();
    const added = await request(gw.app)
      .post('/roamgate/servers')
      .set('Authorization', `Bearer ${ADMIN}`)
      .send({ service: 'pop3', host: '127.0.0.1', port });
    expect(added.status).toBe(201);
    expect(sample(await scrapeAdmin(gw), 'roamgate_servers{service="pop3",health="unknown"}')).toBe(1);
    const removed = await request(gw.app).delete(`/roamgate/servers/${added.body.id}`).set('Authorization', `Bearer ${ADMIN}`);
    expect(removed.status).toBe(204);
    const text = await scrapeAdmin(gw);
    expect(text).not.toMatch(/^roamgate_servers\{service="pop3"/m);
  });

  test('peer requests by realm, direction and outcome; open event streams', async () => {
    const secret = 'metrics-home-visit-shared-secret-0123456789';
    const home = await startGateway(
      {
        adminToken: ADMIN,
        realm: 'home.example',
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-password-1') }],
        peers: { 'visit.example': { secret } },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    cleanups.push(() => home.close());
    const homeUrl = `http://127.0.0.1:${(home.http!.address() as AddressInfo).port}/roamgate`;
    const visited = await startGateway(
      {
        adminToken: ADMIN,
        realm: 'visit.example',
        peers: { 'home.example': { secret, url: homeUrl, failureCacheSeconds: 0 } },
        access: [{ subject: 'realm=home.example', service: '*', allow: true }],
      },
      true,
    );
    cleanups.push(() => visited.close());
    const login = await request(visited.app).post('/roamgate/login').send({ username: 'alice@home.example', password: 'alice-password-1' });
    expect(login.status).toBe(201);
    const wrong = await request(visited.app).post('/roamgate/login').send({ username: 'alice@home.example', password: 'not-hers' });
    expect(wrong.status).toBe(401);
    const stranger = await fetch(`${homeUrl}/federation/verify`, { method: 'POST', body: '{}' });
    expect(stranger.status).toBe(401);

    const atVisited = await scrapeAdmin(visited);
    expect(sample(atVisited, 'roamgate_peer_requests_total{realm="home.example",direction="outbound",outcome="ok"}')).toBe(1);
    expect(sample(atVisited, 'roamgate_peer_requests_total{realm="home.example",direction="outbound",outcome="rejected"}')).toBe(1);
    await until(
      async () =>
        sample(await scrapeAdmin(home), 'roamgate_peer_requests_total{realm="unknown",direction="inbound",outcome="rejected"}') === 1,
      'the stranger counted',
    );
    const atHome = await scrapeAdmin(home);
    expect(sample(atHome, 'roamgate_peer_requests_total{realm="visit.example",direction="inbound",outcome="ok"}')).toBe(1);
    expect(sample(atHome, 'roamgate_peer_requests_total{realm="visit.example",direction="inbound",outcome="rejected"}')).toBe(1);
    expectParses(atHome);

    // A real /events stream, held by a visitor (its lease token) and by the admin.
    const streams = [login.body.token, ADMIN].map((token) => {
      const aborter = new AbortController();
      const opened = fetch(`${visited.http && `http://127.0.0.1:${(visited.http.address() as AddressInfo).port}`}/roamgate/events`, {
        headers: { Authorization: `Bearer ${token}` },
        signal: aborter.signal,
      });
      return { aborter, opened };
    });
    for (const stream of streams) expect((await stream.opened).status).toBe(200);
    const open = await scrapeAdmin(visited);
    expect(sample(open, 'roamgate_event_streams{caller="user"}')).toBe(1);
    expect(sample(open, 'roamgate_event_streams{caller="admin"}')).toBe(1);
    streams[0].aborter.abort();
    await until(async () => sample(await scrapeAdmin(visited), 'roamgate_event_streams{caller="user"}') === 0, 'the stream counted closed');
    streams[1].aborter.abort();
    await until(
      async () => sample(await scrapeAdmin(visited), 'roamgate_event_streams{caller="admin"}') === 0,
      'the stream counted closed',
    );
  });

  test('metrics.port serves /metrics without a login, on loopback by default, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-metrics-port-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      'http: { host: 127.0.0.1, port: 0 }\nadminToken: metrics-port-admin-token\nmetrics: { port: 0 }\nadapters: { smtp: { port: 0 } }\n',
    );
    const config = readConfigFile(file);
    expect(config.metrics).toEqual({ port: 0, host: '127.0.0.1' });
    const served = await startStandalone({ ...config, options: { ...config.options, logger: new CapturingLogger() } });
    cleanups.push(() => served.close());
    const { address, port } = served.metricsAddress!;
    expect(address).toBe('127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE roamgate_connections_total counter');
    expectParses(text);
    expect((await fetch(`http://127.0.0.1:${port}/roamgate/servers`)).status).toBe(404);
    // The management API still wants the admin for its /metrics.
    expect((await fetch(`http://127.0.0.1:${served.httpAddress.port}/roamgate/metrics`)).status).toBe(401);
    const outside = outsideAddress();
    if (outside) {
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(port, outside);
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
    }
  });
});
