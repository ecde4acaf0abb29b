import type { AddressInfo } from 'node:net';
import { get, type IncomingMessage } from 'node:http';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { EVENTS_HEARTBEAT_MS } from '../../plugin/defaults';
import { EVENTS_PING, MAX_EVENT_STREAMS_PER_CALLER } from '../../plugin/routes/events-route';
import { startGateway, type TestGateway } from '../helpers/gateway';
import { until, untilValue } from '../helpers/until';

const ADMIN = 'events-admin-token-0123456789';

/** Opens the event stream and collects its text. */
function subscribe(url: string, token: string): Promise<{ res: IncomingMessage; text: () => string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      const ended = new Promise<void>((done) => res.once('end', () => done()));
      resolve({ res, text: () => text, ended });
    });
    req.on('error', reject);
  });
}

describe('GET <mount>/events', () => {
  let gw: TestGateway;
  let base: string;
  let alice: { token: string; lease: { id: string } };
  beforeEach(async () => {
    gw = await startGateway(
      {
        adminToken: ADMIN,
        users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
        access: [{ subject: 'authenticated', service: '*', allow: true }],
      },
      true,
    );
    base = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
    alice = (await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201)).body;
  });
  afterEach(() => gw.close());

  test('announces table changes, then the end of the lease, and ends the stream', async () => {
    const stream = await subscribe(`${base}/events`, alice.token);
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers['content-type']).toMatch(/^text\/event-stream/);
    await request(gw.app)
      .post('/roamgate/servers')
      .set('Authorization', `Bearer ${ADMIN}`)
      .send({ service: 'smtp', host: '127.0.0.1', port: 2525 })
      .expect(201);
    await until(() => stream.text().includes('event: servers'), 'the servers event');
    expect(stream.text()).toContain('event: servers\ndata: {}\n\n');
    await request(gw.app).delete(`/roamgate/leases/${alice.lease.id}`).set('Authorization', `Bearer ${ADMIN}`).expect(204);
    await stream.ended;
    expect(stream.text()).toMatch(/event: lease\ndata: \{"state":"revoked"\}\n\n$/);
  });

  test('a ping at once, naming its interval, then one every EVENTS_HEARTBEAT_MS to every open stream', async () => {
    const first = await subscribe(`${base}/events`, alice.token);
    const second = await subscribe(`${base}/events`, ADMIN);
    const pings = (text: string) => text.split(EVENTS_PING).length - 1;
    expect(EVENTS_PING).toBe(`event: ping\ndata: {"intervalMs":${EVENTS_HEARTBEAT_MS}}\n\n`);
    await until(() => pings(first.text()) >= 1 && pings(second.text()) >= 1, 'the first ping on both streams');
    const began = Date.now();
    await until(() => pings(first.text()) >= 3 && pings(second.text()) >= 3, 'two more pings on both streams', 10 * EVENTS_HEARTBEAT_MS);
    // Two intervals for two pings, give or take a timer's slack: neither a flood nor a long silence.
    expect(Date.now() - began).toBeGreaterThanOrEqual(EVENTS_HEARTBEAT_MS - 100);
    expect(Date.now() - began).toBeLessThan(4 * EVENTS_HEARTBEAT_MS);
    first.res.destroy();
    second.res.destroy();
  });

  test('one user holds at most a few streams (429 past them); others still get theirs, and a closed one frees its place', async () => {
    const streams = [];
    for (let index = 0; index < MAX_EVENT_STREAMS_PER_CALLER; index++) streams.push(await subscribe(`${base}/events`, alice.token));
    expect(streams.every((stream) => stream.res.statusCode === 200)).toBe(true);
    // Another lease of the same user counts as the same user.
    const again = (await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201)).body;
    const refused = await subscribe(`${base}/events`, again.token);
    expect(refused.res.statusCode).toBe(429);
    expect(refused.res.headers['retry-after']).toBe('60');
    const admin = await subscribe(`${base}/events`, ADMIN);
    expect(admin.res.statusCode).toBe(200);
    admin.res.destroy();
    streams[0]!.res.destroy();
    // The gateway frees the place when it sees the stream closed: asked again until it has.
    const reopened = await untilValue(
      () => subscribe(`${base}/events`, again.token),
      (stream) => {
        if (stream.res.statusCode === 200) return true;
        stream.res.destroy();
        return false;
      },
      'the place of the closed stream to be free',
      2000,
      20,
    );
    expect(reopened.res.statusCode).toBe(200);
    for (const stream of [...streams, reopened]) stream.res.destroy();
  });

  test('needs a lease token', async () => {
    await request(gw.app).get('/roamgate/events').expect(401);
  });
});
