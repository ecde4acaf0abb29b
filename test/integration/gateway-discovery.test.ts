import { createSocket } from 'node:dgram';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { newQuery, parseAnswer, verifyAnswer } from '../../protocols/discovery-message';
import { startGateway } from '../helpers/gateway';

test('a gateway with discovery answers a signed UDP query, makes its key once (0600), and names the key in /discover', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-discovery-'));
  const keyFile = join(dir, 'gateway.key');
  const gw = await startGateway({ discovery: { name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', keyFile, port: 0, host: '127.0.0.1' } });
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
  const again = await startGateway({ discovery: { name: 'visit-lan', url: 'http://127.0.0.1:8080/roamgate', keyFile, port: 0, host: '127.0.0.1' } });
  try {
    const first = (await request(again.app).get('/roamgate/discover')).body.gateway.publicKey;
    expect(again.logger.lines.find((line) => line.obj.event === 'discovery' && line.obj.publicKey)!.obj.publicKey).toBe(first);
  } finally {
    await again.close();
  }
});
