import fc from 'fast-check';
import { join } from 'node:path';
import { RoamgateError } from '../../errors';
import { DEFAULT_DISCOVERY_PORT, generateGatewayKey } from '../../protocols/discovery-message';
import { DEFAULT_MDNS_PORT } from '../../protocols/mdns-announcement';
import {
  DEFAULT_DISCOVERY_ADDRESSES,
  DEFAULT_DISCOVERY_WINDOW_MS,
  DEFAULT_LISTEN_HOST,
  defaultStateDir,
  isGatewayKey,
  LISTENER_NAMES,
  LOCAL_SERVICES,
  normalizeLocalOptions,
  parseListenSpec,
} from '../../local/options';

function errorOf(input: unknown): string {
  try {
    normalizeLocalOptions(input);
  } catch (error) {
    expect(error).toBeInstanceOf(RoamgateError);
    expect((error as RoamgateError).code).toBe('ROAMGATE_INVALID_OPTIONS');
    return (error as Error).message;
  }
  throw new Error('expected the options to be refused');
}

describe('normalizeLocalOptions', () => {
  test('fills in every default, and freezes the result', () => {
    const options = normalizeLocalOptions({ stateDir: '/tmp/state' });
    expect(options).toMatchObject({
      listen: {},
      services: [...LOCAL_SERVICES],
      pac: true,
      host: DEFAULT_LISTEN_HOST,
      tryStandardPorts: true,
      stateDir: '/tmp/state',
      discovery: {
        port: DEFAULT_DISCOVERY_PORT,
        addresses: [...DEFAULT_DISCOVERY_ADDRESSES],
        mdns: { enabled: true, port: DEFAULT_MDNS_PORT, interfaces: [] },
        windowMs: DEFAULT_DISCOVERY_WINDOW_MS,
      },
    });
    expect(options.gateway).toBeUndefined();
    expect(options.mode).toBeUndefined();
    expect(Object.isFrozen(options)).toBe(true);
    expect(Object.isFrozen(options.discovery.addresses)).toBe(true);
    expect(Object.isFrozen(options.limits)).toBe(true);
  });

  test('a port for another service adds a listener for it; a known service needs services to list it', () => {
    expect(normalizeLocalOptions({ listen: { telnet: 2323, 'line-echo': 0 } }).services).toEqual([
      ...LOCAL_SERVICES,
      'telnet',
      'line-echo',
    ]);
    expect(normalizeLocalOptions({ services: ['smtp'], listen: { telnet: 2323, pop3: 1110 } }).services).toEqual(['smtp', 'telnet']);
    expect(normalizeLocalOptions({ services: ['telnet'], listen: { telnet: 2323 } })).toMatchObject({ services: ['telnet'], pac: false });
  });

  test('a gateway URL loses its trailing slash', () => {
    expect(normalizeLocalOptions({ gateway: 'http://gw.example:8080/roamgate/' }).gateway).toBe('http://gw.example:8080/roamgate');
    expect(normalizeLocalOptions({ gateway: 'https://gw.example' }).gateway).toBe('https://gw.example');
  });

  test('a password may be a string or a function, and the function is kept as it is', () => {
    const ask = async () => 'secret-pw';
    expect(normalizeLocalOptions({ password: ask }).password).toBe(ask);
    expect(normalizeLocalOptions({ password: 'secret-pw' }).password).toBe('secret-pw');
  });

  test('no PAC file without the web proxy', () => {
    expect(normalizeLocalOptions({ services: ['smtp'] }).pac).toBe(false);
    expect(normalizeLocalOptions({ services: ['smtp', 'http-proxy'] }).pac).toBe(true);
  });

  test.each<[string, unknown, { enabled: boolean; port: number; interfaces: string[] }]>([
    ['false: UDP only', false, { enabled: false, port: DEFAULT_MDNS_PORT, interfaces: [] }],
    ['true: the defaults', true, { enabled: true, port: DEFAULT_MDNS_PORT, interfaces: [] }],
    [
      'an object turns it on',
      { port: 5354, interfaces: ['127.0.0.1', '10.0.0.2'] },
      { enabled: true, port: 5354, interfaces: ['127.0.0.1', '10.0.0.2'] },
    ],
    ['an object may turn it off', { enabled: false, port: 5354 }, { enabled: false, port: 5354, interfaces: [] }],
  ])('discovery.mdns %s', (_name, mdns, expected) => {
    const options = normalizeLocalOptions({ discovery: { mdns } });
    expect(options.discovery.mdns).toEqual(expected);
    expect(Object.isFrozen(options.discovery.mdns.interfaces)).toBe(true);
  });

  test('a gateway key in the form discovery answers carry is accepted', () => {
    const { publicKey } = generateGatewayKey();
    expect(normalizeLocalOptions({ discovery: { gatewayKey: publicKey } }).discovery.gatewayKey).toBe(publicKey);
  });

  test.each<[string, unknown, string | RegExp]>([
    ['not an object', 'smtp', 'options must be an object'],
    ['an unknown option', { gatway: 'http://x' }, 'gatway: is not an option'],
    [
      'a gateway that is not a URL',
      { gateway: 'gateway.example' },
      /^gateway: must be the gateway's management URL, e\.g\. http:\/\/gateway\.example:8080\/roamgate/,
    ],
    ['a gateway that is not http', { gateway: 'ftp://gw.example/' }, 'gateway: must be an http:// or https:// URL'],
    [
      'a gateway with credentials',
      { gateway: 'http://alice:pw@gw.example/' },
      'gateway: must be a plain URL without credentials, query or fragment',
    ],
    ['a user name with a space', { user: 'alice smith' }, /^user: must be a user name/],
    ['an empty password', { password: '' }, 'password: must be a non-empty string or a function returning the password'],
    ['a port out of range', { listen: { smtp: 65536 } }, 'listen.smtp: must be an integer 0-65535 (0 picks a free port)'],
    ['a port that is not an integer', { listen: { pop3: 110.5 } }, 'listen.pop3: must be an integer 0-65535 (0 picks a free port)'],
    [
      'a listener that is not a service name',
      { listen: { Telnet: 23 } },
      'listen.Telnet: is not a service name (lowercase letters, digits, dashes)',
    ],
    ['two listeners on one port', { listen: { smtp: 2525, nntp: 2525 } }, 'listen.nntp: port 2525 is also listen.smtp'],
    ['a service that is not a service name', { services: ['smtp', 'IMAP'] }, /^services\.1: must be a service name/],
    [
      'another service without a port',
      { services: ['smtp', 'telnet'] },
      'services: telnet has no standard port; give it one in listen.telnet',
    ],
    ['no service', { services: [] }, 'services: must name at least one service'],
    ['an unknown mode', { mode: 'tunnel' }, /^mode: /],
    [
      'listening beyond loopback',
      { host: '0.0.0.0' },
      'host: must be a loopback address (127.x.x.x or ::1): a local proxy never listens for other machines',
    ],
    ['an IPv6 discovery address', { discovery: { addresses: ['::1'] } }, 'discovery.addresses.0: must be an IPv4 address'],
    ['a discovery port of 0', { discovery: { port: 0 } }, 'discovery.port: must be an integer 1-65535'],
    ['an mDNS port of 0', { discovery: { mdns: { port: 0 } } }, 'discovery.mdns.port: must be an integer 1-65535'],
    [
      'an mDNS interface by name',
      { discovery: { mdns: { interfaces: ['127.0.0.1', 'eth0'] } } },
      'discovery.mdns.interfaces.1: must be an IPv4 address',
    ],
    ['an unknown mDNS option', { discovery: { mdns: { interface: '127.0.0.1' } } }, 'discovery.mdns.interface: is not an option'],
    [
      'a gateway key that is not a key',
      { discovery: { gatewayKey: 'c2VjcmV0' } },
      /^discovery\.gatewayKey: must be the gateway's Ed25519 public key in base64/,
    ],
    [
      'backoff bounds the wrong way round',
      { limits: { reconnectMinMs: 1000, reconnectMaxMs: 10 } },
      'limits.reconnectMaxMs: must be at least reconnectMinMs',
    ],
    ['a zero timeout', { limits: { connectTimeoutMs: 0 } }, 'limits.connectTimeoutMs: must be at least 1 ms'],
  ])('%s is refused naming the option', (_name, input, message) => {
    if (typeof message === 'string') expect(errorOf(input)).toBe(message);
    else expect(errorOf(input)).toMatch(message);
  });
});

describe('defaultStateDir', () => {
  test('is under XDG_CONFIG_HOME when set, else ~/.config', () => {
    expect(defaultStateDir({ XDG_CONFIG_HOME: '/xdg' })).toBe(join('/xdg', 'roamgate'));
    expect(defaultStateDir({})).toMatch(/[/\\]\.config[/\\]roamgate$/);
  });
});

describe('parseListenSpec', () => {
  test.each<[string, [string, number]]>([
    ['smtp=2525', ['smtp', 2525]],
    ['pop3=110', ['pop3', 110]],
    ['nntp=0', ['nntp', 0]],
    ['http-proxy=3128', ['http-proxy', 3128]],
    ['pac=8089', ['pac', 8089]],
    [' smtp=25 ', ['smtp', 25]],
    ['telnet=2323', ['telnet', 2323]],
  ])('%s', (spec, expected) => {
    expect(parseListenSpec(spec)).toEqual(expected);
  });

  test.each<[string, string]>([
    ['smtp', '--listen smtp: expected SERVICE=PORT, e.g. smtp=2525'],
    ['smtp=', '--listen smtp=: expected SERVICE=PORT, e.g. smtp=2525'],
    ['smtp=-1', '--listen smtp=-1: expected SERVICE=PORT, e.g. smtp=2525'],
    ['smtp=25x', '--listen smtp=25x: expected SERVICE=PORT, e.g. smtp=2525'],
    ['=25', '--listen =25: expected SERVICE=PORT, e.g. smtp=2525'],
    ['-x=143', '--listen -x=143: -x is not a service name (smtp, pop3, '],
    ['smtp=70000', '--listen smtp=70000: port must be an integer 0-65535'],
  ])('%s is refused', (spec, message) => {
    expect(() => parseListenSpec(spec)).toThrow(message);
  });

  test('every listener and port reads back as written', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LISTENER_NAMES), fc.integer({ min: 0, max: 65535 }), (name, port) => {
        expect(parseListenSpec(`${name}=${port}`)).toEqual([name, port]);
      }),
    );
  });

  test('any service name reads back as written; anything else before = is refused, never taken for another name', () => {
    const serviceName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/);
    fc.assert(
      fc.property(serviceName, fc.integer({ min: 0, max: 65535 }), (name, port) => {
        expect(parseListenSpec(`${name}=${port}`)).toEqual([name, port]);
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.integer({ min: 0, max: 65535 }), (name, port) => {
        fc.pre(!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name.trim()) && name.trim() !== 'pac');
        expect(() => parseListenSpec(`${name}=${port}`)).toThrow(/^--listen /);
      }),
    );
  });
});

describe('isGatewayKey', () => {
  test('an Ed25519 SPKI key in base64 is one; other text is not', () => {
    expect(isGatewayKey(generateGatewayKey().publicKey)).toBe(true);
    for (const text of ['', 'not base64!', 'AAAA', Buffer.from('x'.repeat(44)).toString('base64')]) expect(isGatewayKey(text)).toBe(false);
  });
});
