import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { readConfigFile, startStandalone, type Standalone } from '../../plugin/standalone';
import { verifyAssertion } from '../../plugin/web/web-assertion';
import { CapturingLogger } from '../helpers/gateway';

const SECRET = 'assertion-secret-assertion-secret-0123';

describe('roamgate serve: the web: section mounts gw.web routes', () => {
  let upstream: Server;
  let served: Standalone | undefined;
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.end(`intranet ${req.url}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => upstream.close(resolve));
  });
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  function configFile(text: string): string {
    const file = join(mkdtempSync(join(tmpdir(), 'roamgate-web-')), 'gateway.yaml');
    writeFileSync(file, text);
    return file;
  }

  test('a route at its path, guarded by the access table, with the signed assertion', async () => {
    const port = (upstream.address() as AddressInfo).port;
    const config = readConfigFile(
      configFile(`http: { port: 0 }
web:
  assertionSecret: ${SECRET}
  intranet: { path: /intranet }
servers:
  intranet: [{ host: 127.0.0.1, port: ${port} }]
access:
  - { subject: anonymous, service: intranet, allow: true }
`),
    );
    served = await startStandalone({ ...config, options: { ...config.options, logger: new CapturingLogger() } });
    const answer = await request(`http://127.0.0.1:${served.httpAddress.port}`).get('/intranet/page?x=1').expect(200);
    expect(answer.text).toBe('intranet /page?x=1');
    const assertion = String(seen.at(-1)?.['x-roamgate-assertion']);
    expect(verifyAssertion(assertion, SECRET, { audience: 'intranet' })).toBeDefined();
  });

  test('a route without a path, or with a bad option, is refused naming it', async () => {
    expect(() => readConfigFile(configFile('http: { port: 0 }\nweb:\n  intranet: {}\n'))).toThrow(/web\.intranet\.path: required/);
    expect(() => readConfigFile(configFile('http: { port: 0 }\nweb:\n  intranet: { path: /x, nope: 1 }\n'))).toThrow(/nope/);
    const short = readConfigFile(configFile('http: { port: 0 }\nweb:\n  assertionSecret: short\n'));
    await expect(startStandalone(short)).rejects.toThrow(/web\.assertionSecret: must be at least 32 characters/);
  });
});
