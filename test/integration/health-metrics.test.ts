import express from 'express';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import { openSqliteStore } from '../../store/sqlite-store';
import type { StoreHealth } from '../../store/store';
import { CapturingLogger, startGateway, type TestGateway } from '../helpers/gateway';
import { RawClient } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

const ADMIN = 'health-metrics-admin-token-0123';
const OPEN_SMTP = [{ subject: 'anonymous', service: 'smtp', allow: true }] as const;

/** One sample line of Prometheus' text format: name, optional labels, value, optional timestamp. */
const SAMPLE_LINE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)( -?[0-9]+)?$/;
const COMMENT_LINE = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$/;
const FAMILIES = [
  'roamgate_connections_total',
  'roamgate_relays_active',
  'roamgate_relay_bytes_total',
  'roamgate_connection_duration_seconds',
  'roamgate_logins_total',
  'roamgate_leases_live',
  'roamgate_servers',
];

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
    for (const line of text.split('\n').filter((each) => each !== '')) {
      expect(line.startsWith('#') ? COMMENT_LINE.test(line) : SAMPLE_LINE.test(line)).toBe(true);
    }
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
