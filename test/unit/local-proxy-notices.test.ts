import { fingerprint } from '../../local/key-pinning';
import { describeEvent, levelOf, notice, type LocalProxyEvent } from '../../local/proxy-notices';
import { generateGatewayKey } from '../../protocols/discovery-message';

const GATEWAY = 'http://10.0.0.1:8080/roamgate';
const key = generateGatewayKey().publicKey;

describe('describeEvent and levelOf', () => {
  test.each<[string, LocalProxyEvent, 'info' | 'warn' | 'error', string]>([
    [
      'a route through the gateway',
      { type: 'route', service: 'smtp', address: '127.0.0.1:2525', mode: 'gateway', target: { kind: 'gateway', url: GATEWAY } },
      'info',
      `smtp       127.0.0.1:2525  gateway -> through the gateway ${GATEWAY}`,
    ],
    [
      'a direct route',
      {
        type: 'route',
        service: 'http-proxy',
        address: '127.0.0.1:3128',
        mode: 'direct',
        target: { kind: 'servers', servers: [{ host: 'proxy.example', port: 3128 }] },
      },
      'info',
      'http-proxy 127.0.0.1:3128  direct  -> proxy.example:3128',
    ],
    [
      'a route to nowhere is a warning',
      { type: 'route', service: 'nntp', address: '127.0.0.1:1119', mode: 'direct', target: { kind: 'none', reason: 'no news here' } },
      'warn',
      'nntp       127.0.0.1:1119  direct  -> nowhere: no news here (nntp clients are told so)',
    ],
    [
      'the PAC setting',
      { type: 'pac', url: 'http://127.0.0.1:3129/proxy.pac', proxy: '127.0.0.1:3128' },
      'info',
      'browsers: set the automatic proxy configuration URL to http://127.0.0.1:3129/proxy.pac (or the HTTP and HTTPS proxy to 127.0.0.1:3128)',
    ],
    ['a configured gateway', { type: 'gateway', url: GATEWAY, found: 'configured' }, 'info', `gateway ${GATEWAY}`],
    [
      'a gateway pinned now',
      { type: 'gateway', url: GATEWAY, found: 'discovery', network: 'office', trust: 'new', publicKey: key },
      'info',
      `gateway ${GATEWAY}, found on network "office", key ${fingerprint(key)} pinned on first use`,
    ],
    [
      'a pinned gateway',
      { type: 'gateway', url: GATEWAY, found: 'discovery', network: 'office', trust: 'pinned', publicKey: key },
      'info',
      `gateway ${GATEWAY}, found on network "office", key ${fingerprint(key)} as pinned`,
    ],
    [
      'a gateway found by UDP',
      { type: 'gateway', url: GATEWAY, found: 'discovery', network: 'office', trust: 'pinned', publicKey: key, via: 'udp' },
      'info',
      `gateway ${GATEWAY}, found on network "office", key ${fingerprint(key)} as pinned`,
    ],
    [
      'a gateway found by mDNS',
      { type: 'gateway', url: GATEWAY, found: 'discovery', network: 'office', trust: 'new', publicKey: key, via: 'mdns' },
      'info',
      `gateway ${GATEWAY}, found on network "office" by mDNS, key ${fingerprint(key)} pinned on first use`,
    ],
    [
      'a login',
      { type: 'login', user: 'alice', gateway: GATEWAY, expiresAt: '2030-01-01T00:00:00.000Z', reused: false },
      'info',
      `logged in as alice at ${GATEWAY} (lease valid until 2030-01-01T00:00:00.000Z)`,
    ],
    [
      'a saved lease',
      { type: 'login', user: 'alice', gateway: GATEWAY, expiresAt: '2030-01-01T00:00:00.000Z', reused: true },
      'info',
      `using the saved lease of alice at ${GATEWAY} (lease valid until 2030-01-01T00:00:00.000Z)`,
    ],
    [
      'a revoked lease: its connections were cut, and roamgate local logs in again',
      { type: 'lease-ended', user: 'alice', state: 'revoked' },
      'warn',
      'the gateway revoked the lease of alice and cut its connections; logging in again',
    ],
    ['an expired lease', { type: 'lease-ended', user: 'alice', state: 'expired' }, 'warn', 'the lease of alice expired; logging in again'],
    [
      'the gateway lost',
      { type: 'gateway-lost', gateway: GATEWAY, reason: 'its event stream ended' },
      'warn',
      `lost the gateway ${GATEWAY} (its event stream ended); looking for it again`,
    ],
    [
      'a configured gateway lost: what clients get, and that it is tried again',
      { type: 'gateway-lost', gateway: GATEWAY, reason: 'it sent nothing on its event stream for 3 s', configured: true },
      'warn',
      `lost the gateway ${GATEWAY} (it sent nothing on its event stream for 3 s); clients get a temporary error until it answers again, and it is tried again until then`,
    ],
    [
      'the same gateway back',
      { type: 'gateway-back', gateway: GATEWAY, lost: GATEWAY, afterMs: 4230 },
      'info',
      `the gateway ${GATEWAY} answers again, 4.2 s after it was lost`,
    ],
    [
      'another gateway in its place',
      { type: 'gateway-back', gateway: 'http://10.9.0.1:8080/roamgate', lost: GATEWAY, afterMs: 960 },
      'info',
      `now using the gateway http://10.9.0.1:8080/roamgate, 1.0 s after losing ${GATEWAY}`,
    ],
    [
      'the network changed',
      { type: 'network-changed', change: '10.0.0.5 on wlan0 gone', action: `checking the gateway ${GATEWAY}` },
      'info',
      `this machine's network changed (10.0.0.5 on wlan0 gone): checking the gateway ${GATEWAY}`,
    ],
    [
      'a quietly ignored answer',
      { type: 'discovery-rejected', network: 'cafe', from: '10.0.0.9:41917', reason: 'signature does not verify', keyChanged: false },
      'warn',
      'ignored a gateway answer for network "cafe" from 10.0.0.9:41917: signature does not verify',
    ],
    ['an error', { type: 'error', message: 'no password' }, 'error', 'no password'],
    ['stopped', { type: 'stopped' }, 'info', 'stopped'],
  ])('%s', (_name, event, level, text) => {
    expect(levelOf(event)).toBe(level);
    expect(describeEvent(event)).toBe(text);
    expect(notice(event)).toEqual({ ...event, level, text });
  });

  test('a changed key is loud and tells how to re-pin', () => {
    const event: LocalProxyEvent = {
      type: 'discovery-rejected',
      network: 'office',
      from: '10.0.0.66:41917',
      reason: 'the key of network "office" changed: pinned A, offered B',
      keyChanged: true,
    };
    expect(levelOf(event)).toBe('error');
    expect(describeEvent(event).split('\n')).toEqual([
      'REJECTED a gateway answer for network "office" from 10.0.0.66:41917: the key of network "office" changed: pinned A, offered B.',
      '  Someone on this network may be impersonating its gateway, so it is not used.',
      "  If the network's administrator really changed the gateway's key, forget the old one and start again:",
      '    roamgate local --forget-network office',
    ]);
  });
});

describe('shellQuote in notices', () => {
  test('a network name with shell syntax is quoted in the suggested command', () => {
    const event: LocalProxyEvent = {
      type: 'discovery-rejected',
      network: 'visit lan; curl x | sh',
      from: '10.0.0.66:41917',
      reason: 'changed',
      keyChanged: true,
    };
    expect(describeEvent(event).split('\n').at(-1)).toBe("    roamgate local --forget-network 'visit lan; curl x | sh'");
  });
});
