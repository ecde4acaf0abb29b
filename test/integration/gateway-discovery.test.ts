import { createSocket } from 'node:dgram';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { newQuery, parseAnswer, verifyAnswer } from '../../protocols/discovery-message';
import type { RoamgateOptions } from '../../plugin/options';
import { startGateway } from '../helpers/gateway';

test('a gateway with discovery answers a signed UDP query, makes its key once (0600), and names the key in /discover', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-discovery-'));
  const keyFile = join(dir, 'gateway.key');
  const gw = await startGateway({
    discovery: { name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', keyFile, port: 0, host: '127.0.0.1' },
  });
  try {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const started = gw.logger.lines.find((line) => line.obj.event === 'discovery' && typeof line.obj.port === 'number')!;
    const port = started.obj.port as number;
    const publicKey = started.obj.publicKey as string;
    const query = newQuery();
    const socket = createSocket('udp4');
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 3000);
      socket.once('message', (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      socket.send(JSON.stringify(query), port, '127.0.0.1');
    });
    socket.close();
    const parsed = parseAnswer(answer)!;
    expect(parsed).toMatchObject({ name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', publicKey });
    expect(verifyAnswer(parsed, { nonce: query.nonce, now: Date.now(), trustedKey: publicKey })).toEqual({ ok: true });
    const discover = await request(gw.app).get('/roamgate/discover').expect(200);
    expect(discover.body.gateway).toEqual({ name: 'visit-lan', publicKey });
  } finally {
    await gw.close();
  }
  // The same key file gives the same key on the next start.
  const again = await startGateway({
    discovery: { name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', keyFile, port: 0, host: '127.0.0.1' },
  });
  try {
    const first = (await request(again.app).get('/roamgate/discover')).body.gateway.publicKey;
    expect(again.logger.lines.find((line) => line.obj.event === 'discovery' && line.obj.publicKey)!.obj.publicKey).toBe(first);
  } finally {
    await again.close();
  }
});

test('discovery.answer false (a worker of `serve --workers` other than the first): the same key and /discover answer, but nothing bound on the LAN', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-discovery-answer-'));
  const keyFile = join(dir, 'gateway.key');
  const answering = await startGateway({
    discovery: { name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', keyFile, port: 0, host: '127.0.0.1' },
  });
  const silent = await startGateway({
    discovery: { name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', keyFile, port: 0, host: '127.0.0.1', answer: false },
  });
  try {
    // The second shares the first's key file: both pin the same key for local proxies.
    const pinned = (await request(answering.app).get('/roamgate/discover').expect(200)).body.gateway;
    expect((await request(silent.app).get('/roamgate/discover').expect(200)).body.gateway).toEqual(pinned);
    expect(answering.logger.lines.some((line) => line.obj.event === 'discovery' && typeof line.obj.port === 'number')).toBe(true);
    expect(silent.logger.lines.some((line) => line.obj.event === 'discovery')).toBe(false);
  } finally {
    await silent.close();
    await answering.close();
  }
});

describe('discovery.mdns (the option)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-discovery-mdns-'));
  /** Options with this `discovery.mdns`, well formed or not. */
  const discovery = (mdns: unknown) =>
    ({
      discovery: {
        name: 'visit-lan',
        url: 'http://127.0.0.1:8080/roamgate',
        keyFile: join(dir, 'gateway.key'),
        port: 0,
        host: '127.0.0.1',
        mdns,
      },
    }) as RoamgateOptions & { discovery: object };

  test.each<[string, unknown, RegExp]>([
    ['an interface that is a name', { interface: 'eth0' }, /discovery\.mdns\.interface: must be the IPv4 address of an interface/],
    ['port 0', { port: 0 }, /discovery\.mdns\.port: must be an integer 1-65535/],
    ['an unknown key', { ports: 5353 }, /discovery\.mdns/],
    ['a string', 'yes', /discovery\.mdns/],
  ])('%s is refused naming the option', async (_name, mdns, message) => {
    await expect(startGateway(discovery(mdns))).rejects.toMatchObject({
      code: 'ROAMGATE_INVALID_OPTIONS',
      message: expect.stringMatching(message),
    });
  });

  test('a network name that cannot be a DNS-SD instance name is refused when mDNS is on, not otherwise', async () => {
    const long = { ...discovery({ interface: '127.0.0.1', port: 5353 }).discovery, name: '\u00e9'.repeat(40) };
    await expect(startGateway({ discovery: long })).rejects.toMatchObject({
      code: 'ROAMGATE_INVALID_OPTIONS',
      message: expect.stringContaining('discovery.name must be at most 63 bytes'),
    });
    const gw = await startGateway({ discovery: { ...long, mdns: false } });
    await gw.close();
  });
});
