import type { AddressInfo } from 'node:net';
import { get, type IncomingMessage } from 'node:http';
import request from 'supertest';
import { hashPassword } from '../../plugin/password';
import { startGateway, type TestGateway } from '../helpers/gateway';

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

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('GET <mount>/events', () => {
  let gw: TestGateway;
  let base: string;
  let alice: { token: string; lease: { id: string } };
  beforeEach(async () => {
    gw = await startGateway({ adminToken: ADMIN, users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }] }, true);
    base = `http://127.0.0.1:${(gw.http!.address() as AddressInfo).port}/roamgate`;
    alice = (await request(gw.app).post('/roamgate/login').send({ username: 'alice', password: 'alice-pw' }).expect(201)).body;
  });
  afterEach(() => gw.close());

  test('announces table changes, then the end of the lease, and ends the stream', async () => {
    const stream = await subscribe(`${base}/events`, alice.token);
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers['content-type']).toMatch(/^text\/event-stream/);
    await request(gw.app).post('/roamgate/servers').set('Authorization', `Bearer ${ADMIN}`).send({ service: 'smtp', host: '127.0.0.1', port: 2525 }).expect(201);
    await until(() => stream.text().includes('event: servers'));
    expect(stream.text()).toContain('event: servers\ndata: {}\n\n');
    await request(gw.app).delete(`/roamgate/leases/${alice.lease.id}`).set('Authorization', `Bearer ${ADMIN}`).expect(204);
    await stream.ended;
    expect(stream.text()).toMatch(/event: lease\ndata: \{"state":"revoked"\}\n\n$/);
  });

  test('needs a lease token', async () => {
    await request(gw.app).get('/roamgate/events').expect(401);
  });
});
