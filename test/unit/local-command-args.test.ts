import { RoamgateError } from '../../errors';
import { flagError, mergeOptions, parseLocalArgs, type LocalInvocation } from '../../bin/local-command';
import { generateGatewayKey } from '../../protocols/discovery-message';

const key = generateGatewayKey().publicKey;

describe('parseLocalArgs', () => {
  test.each<[string, string[], LocalInvocation]>([
    ['nothing: discovery, defaults', [], { kind: 'run', options: {} }],
    [
      'every flag',
      [
        '--gateway',
        'http://gw:8080/roamgate',
        '--user',
        'alice',
        '--password-file',
        'pw.txt',
        '--listen',
        'smtp=2525',
        '--listen',
        'pop3=0',
        '--mode',
        'direct',
        '--state-dir',
        '/s',
        '--config',
        'local.yaml',
        '--discovery-port',
        '5000',
        '--discovery-address',
        '127.0.0.1',
        '--discovery-address',
        '10.0.0.255',
        '--gateway-key',
        key,
      ],
      {
        kind: 'run',
        options: {
          gateway: 'http://gw:8080/roamgate',
          user: 'alice',
          listen: { smtp: 2525, pop3: 0 },
          mode: 'direct',
          stateDir: '/s',
          discovery: { port: 5000, addresses: ['127.0.0.1', '10.0.0.255'], gatewayKey: key },
        },
        passwordFile: 'pw.txt',
        configFile: 'local.yaml',
      },
    ],
    ['--no-mdns', ['--no-mdns'], { kind: 'run', options: { discovery: { mdns: false } } }],
    [
      'the mDNS flags',
      ['--mdns-port', '5354', '--mdns-interface', '127.0.0.1', '--mdns-interface', '10.0.0.2'],
      { kind: 'run', options: { discovery: { mdns: { port: 5354, interfaces: ['127.0.0.1', '10.0.0.2'] } } } },
    ],
    ['--forget-network', ['--forget-network', 'office'], { kind: 'forget', network: 'office' }],
    [
      '--forget-network with a state dir',
      ['--forget-network', 'office', '--state-dir', '/s'],
      { kind: 'forget', network: 'office', stateDir: '/s' },
    ],
    ['--help', ['--help'], { kind: 'help' }],
    ['-h', ['-h', '--user', 'x'], { kind: 'help' }],
  ])('%s', (_name, args, expected) => {
    expect(parseLocalArgs(args)).toEqual(expected);
  });

  test.each<[string, string[], string | RegExp]>([
    ['an unknown flag', ['--gatway', 'x'], /Unknown option '--gatway'/],
    ['a stray argument', ['http://gw'], /Unexpected argument 'http:\/\/gw'/],
    ['a bad --listen', ['--listen', 'smtp'], '--listen smtp: expected SERVICE=PORT, e.g. smtp=2525'],
    ['a service given twice', ['--listen', 'smtp=1', '--listen', 'smtp=2'], '--listen smtp=2: smtp is given twice'],
    ['two services on one port', ['--listen', 'smtp=2600', '--listen', 'pop3=2600'], '--listen pop3=PORT: port 2600 is also listen.smtp'],
    ['a bad gateway', ['--gateway', 'ftp://gw'], '--gateway: must be an http:// or https:// URL'],
    ['a bad mode', ['--mode', 'tunnel'], /^--mode: /],
    ['a bad discovery port', ['--discovery-port', 'x'], '--discovery-port x: must be an integer 1-65535'],
    ['a discovery port of 0', ['--discovery-port', '0'], '--discovery-port: must be an integer 1-65535'],
    ['a bad discovery address', ['--discovery-address', 'gw.local'], '--discovery-address: must be an IPv4 address'],
    ['a bad key', ['--gateway-key', 'AAAA'], /^--gateway-key: must be the gateway's Ed25519 public key/],
    ['a bad mDNS port', ['--mdns-port', '53x'], '--mdns-port 53x: must be an integer 1-65535'],
    ['an mDNS port of 0', ['--mdns-port', '0'], '--mdns-port: must be an integer 1-65535'],
    ['an mDNS interface by name', ['--mdns-interface', 'eth0'], '--mdns-interface: must be an IPv4 address'],
    ['--no-mdns with --mdns-port', ['--no-mdns', '--mdns-port', '5354'], '--no-mdns: cannot be given with --mdns-port'],
    ['--no-mdns with --mdns-interface', ['--mdns-interface', '127.0.0.1', '--no-mdns'], '--no-mdns: cannot be given with --mdns-interface'],
    [
      '--forget-network with other flags',
      ['--forget-network', 'office', '--user', 'alice'],
      '--forget-network takes only --state-dir (not --user)',
    ],
  ])('%s is a usage error naming the flag', (_name, args, message) => {
    let thrown: unknown;
    try {
      parseLocalArgs(args);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RoamgateError);
    expect((thrown as RoamgateError).code).toBe('ROAMGATE_INVALID_OPTIONS');
    if (typeof message === 'string') expect((thrown as Error).message).toBe(message);
    else expect((thrown as Error).message).toMatch(message);
  });
});

describe('flagError', () => {
  test.each<[string, string]>([
    ['gateway: bad', '--gateway: bad'],
    ['listen.smtp: bad', '--listen smtp=PORT: bad'],
    ['discovery.addresses.2: bad', '--discovery-address: bad'],
    ['discovery.gatewayKey: bad', '--gateway-key: bad'],
    ['discovery.mdns.port: bad', '--mdns-port: bad'],
    ['discovery.mdns.interfaces.1: bad', '--mdns-interface: bad'],
    ['stateDir: bad', '--state-dir: bad'],
    ['limits.connectTimeoutMs: bad', 'limits.connectTimeoutMs: bad'],
  ])('%s', (message, expected) => {
    expect(flagError(message)).toBe(expected);
  });
});

describe('mergeOptions', () => {
  test('flags win over the file; listen and discovery are merged key by key', () => {
    expect(
      mergeOptions(
        { gateway: 'http://file', user: 'file-user', listen: { smtp: 2525, pop3: 1110 }, discovery: { port: 5000, windowMs: 100 } },
        { user: 'flag-user', listen: { pop3: 0 }, discovery: { port: 6000 } },
      ),
    ).toEqual({ gateway: 'http://file', user: 'flag-user', listen: { smtp: 2525, pop3: 0 }, discovery: { port: 6000, windowMs: 100 } });
    expect(mergeOptions({}, {})).toEqual({});
  });

  test('mDNS flags merge into the mDNS settings of the file and turn it on; --no-mdns turns it off', () => {
    expect(
      mergeOptions({ discovery: { mdns: { enabled: false, interfaces: ['10.0.0.2'] } } }, { discovery: { mdns: { port: 5354 } } }),
    ).toEqual({ discovery: { mdns: { enabled: true, port: 5354, interfaces: ['10.0.0.2'] } } });
    expect(mergeOptions({ discovery: { mdns: false } }, { discovery: { mdns: { port: 5354 } } })).toEqual({
      discovery: { mdns: { port: 5354 } },
    });
    expect(mergeOptions({ discovery: { mdns: { port: 5354 } } }, { discovery: { mdns: false } })).toEqual({ discovery: { mdns: false } });
  });
});
