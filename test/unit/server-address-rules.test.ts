import { networkInterfaces } from 'node:os';
import { ownEndpointReason, serversToUse, type ServerAddressRules } from '../../plugin/server-address-rules';
import type { ServerInfo } from '../../server-info';
import { serverHostProblem } from '../../sources/table-schema';

const OWN = new Set([2525, 1110]);
const registered = { forwardCredentials: false };
/** An address of one of this machine's interfaces other than loopback, when it has one. */
const interfaceAddress = Object.values(networkInterfaces())
  .flat()
  .find((info) => info && !info.internal && info.family === 'IPv4')?.address;

describe('serverHostProblem', () => {
  test.each<[string, RegExp]>([
    ['169.254.169.254', /link-local/],
    ['0xA9FEA9FE', /^0xA9FEA9FE \(169\.254\.169\.254\) is refused as a server: link-local/],
    ['0XA9FEA9FE', /link-local/],
    ['2852039166', /link-local/],
    ['0251.0376.0251.0376', /link-local/],
    ['::ffff:169.254.169.254', /link-local/],
    ['::ffff:a9fe:a9fe', /link-local/],
    ['64:ff9b::a9fe:a9fe', /link-local/],
    ['fe80::1', /link-local/],
    ['0.0.0.0', /unspecified/],
    ['0', /unspecified/],
    ['::', /unspecified/],
    ['0:0:0:0:0:0:0:0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['::10.0.0.1', /IPv4-compatible/],
    ['1.2.3.256', /must be a hostname or an IP address/],
    ['bad host', /must be a hostname or an IP address/],
  ])('%s is refused', (host, reason) => {
    expect(serverHostProblem(host)).toMatch(reason);
  });

  test.each(['127.0.0.1', '::1', '10.0.0.5', '192.168.1.2', 'fd00::25', '203.0.113.7', 'mail.internal', 'localhost'])(
    '%s is a fine server (loopback and private ones included)',
    (host) => {
      expect(serverHostProblem(host)).toBeNull();
    },
  );
});

describe('ownEndpointReason', () => {
  test.each([
    '127.0.0.1',
    '127.0.0.2',
    '127.1',
    '0x7f000001',
    '2130706433',
    '::1',
    '0::1',
    '::ffff:127.0.0.1',
    'localhost',
    'Mail.LOCALHOST.',
  ])("%s at one of the gateway's ports is the gateway itself", (host) => {
    expect(ownEndpointReason(host, 2525, OWN)).toMatch(/the gateway's own port/);
    expect(ownEndpointReason(host, 25, OWN)).toBeNull();
  });

  test("an address of one of the gateway's interfaces, in any spelling", () => {
    if (!interfaceAddress) return;
    expect(ownEndpointReason(interfaceAddress, 1110, OWN)).toMatch(/the gateway's own port/);
    expect(ownEndpointReason(`::ffff:${interfaceAddress}`, 1110, OWN)).toMatch(/the gateway's own port/);
  });

  test.each(['10.0.0.5', '203.0.113.7', 'mail.internal'])('%s is not (names are not resolved here)', (host) => {
    expect(ownEndpointReason(host, 2525, OWN)).toBeNull();
  });
});

describe('serversToUse', () => {
  const refusals: string[] = [];
  const rules = (names: Record<string, string[]> = {}): ServerAddressRules => ({
    ownPorts: () => OWN,
    resolveName: async (name) => {
      if (!(name in names)) throw new Error(`ENOTFOUND ${name}`);
      return names[name];
    },
    onRefused: (server, reason) => refusals.push(`${server.host}:${server.port} ${reason}`),
  });
  beforeEach(() => refusals.splice(0));
  const at = (host: string, port: number, extra: Partial<ServerInfo> = {}): ServerInfo => ({ host, port, priority: 10, ...extra });
  const shown = (servers: readonly ServerInfo[]) => servers.map((server) => `${server.host}:${server.port}`);

  test('when every server may be used as it is, the list itself comes back at once (no copy, no promise)', () => {
    const candidates = [at('10.0.0.5', 110), at('127.0.0.1', 110)];
    expect(serversToUse(candidates, rules())).toBe(candidates);
    expect(refusals).toEqual([]);
  });

  test('skips the gateway’s own ports and forbidden addresses from any source, keeping the order of the rest', async () => {
    const candidates = [
      at('127.0.0.1', 2525),
      at('10.0.0.5', 110),
      at('169.254.169.254', 80),
      at('::ffff:127.0.0.1', 1110),
      at('127.0.0.1', 110),
    ];
    expect(shown(await serversToUse(candidates, rules()))).toEqual(['10.0.0.5:110', '127.0.0.1:110']);
    expect(refusals).toEqual([
      expect.stringMatching(/^127\.0\.0\.1:2525 .*own port/),
      expect.stringMatching(/^169\.254\.169\.254:80 .*link-local/),
      expect.stringMatching(/^::ffff:127\.0\.0\.1:1110 .*own port/),
    ]);
  });

  test('a registered name is resolved now, every address checked, and the checked address connected to', async () => {
    const names = {
      'good.example': ['10.0.0.7', '10.0.0.8'],
      'metadata.example': ['10.0.0.9', '169.254.169.254'],
      'self.example': ['127.0.0.1'],
    };
    const candidates = [
      at('good.example', 25, { registered }),
      at('metadata.example', 80, { registered }),
      at('self.example', 2525, { registered }),
      at('gone.example', 25, { registered }),
    ];
    const usable = await serversToUse(candidates, rules(names));
    expect(usable).toEqual([{ host: '10.0.0.7', port: 25, priority: 10, registered }]);
    expect(refusals).toEqual([
      expect.stringMatching(/^metadata\.example:80 metadata\.example: 169\.254\.169\.254 .*link-local/),
      expect.stringMatching(/^self\.example:2525 self\.example: .*own port/),
      expect.stringMatching(/^gone\.example:25 gone\.example cannot be resolved/),
    ]);
  });

  test('the operator’s names keep their name (TLS verifies it); they are resolved only at one of the gateway’s ports', async () => {
    const names = { 'mail.internal': ['127.0.0.1'], 'relay.internal': ['10.0.0.3'] };
    const candidates = [at('mail.internal', 110), at('mail.internal', 1110), at('relay.internal', 2525), at('unknown.internal', 2525)];
    expect(shown(await serversToUse(candidates, rules(names)))).toEqual([
      'mail.internal:110',
      'relay.internal:2525',
      'unknown.internal:2525',
    ]);
    expect(refusals).toEqual([expect.stringMatching(/^mail\.internal:1110 .*own port/)]);
  });

  test('a hop to another gateway is not one of our servers: passed as it is', async () => {
    const hop = at('127.0.0.1', 2525, { tunnel: { url: 'http://127.0.0.1:2525/roamgate', service: 'pop3', token: 't', label: 'home' } });
    expect(await serversToUse([hop], rules())).toEqual([hop]);
  });
});
