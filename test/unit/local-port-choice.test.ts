import type { RoamgateErrorCode } from '../../errors';
import { portCandidates, portError, triesNext, type PortCandidate } from '../../local/port-choice';

describe('portCandidates', () => {
  test.each<[string, Parameters<typeof portCandidates>, PortCandidate[]]>([
    ['a given port alone', ['smtp', { explicit: 2526, remembered: 2525, tryStandard: true }], [{ port: 2526, origin: 'explicit' }]],
    ['a given 0 (any free port) alone', ['pop3', { explicit: 0, tryStandard: true }], [{ port: 0, origin: 'explicit' }]],
    [
      'a remembered port alone, so clients keep working',
      ['smtp', { remembered: 2525, tryStandard: true }],
      [{ port: 2525, origin: 'remembered' }],
    ],
    [
      'the standard port, then the default',
      ['smtp', { tryStandard: true }],
      [
        { port: 25, origin: 'standard' },
        { port: 2525, origin: 'default' },
      ],
    ],
    [
      'pop3',
      ['pop3', { tryStandard: true }],
      [
        { port: 110, origin: 'standard' },
        { port: 1110, origin: 'default' },
      ],
    ],
    [
      'nntp',
      ['nntp', { tryStandard: true }],
      [
        { port: 119, origin: 'standard' },
        { port: 1119, origin: 'default' },
      ],
    ],
    ['the web proxy, whose standard is its default', ['http-proxy', { tryStandard: true }], [{ port: 3128, origin: 'default' }]],
    ['the PAC file', ['pac', { tryStandard: true }], [{ port: 3129, origin: 'default' }]],
    ['only the default when standard ports are not wanted', ['smtp', { tryStandard: false }], [{ port: 2525, origin: 'default' }]],
    ['another service: its given port', ['telnet', { explicit: 2323, tryStandard: true }], [{ port: 2323, origin: 'explicit' }]],
    ['another service without a given port: none to try', ['telnet', { tryStandard: true }], []],
    ['a name of Object.prototype is no listener with a standard port', ['constructor', { tryStandard: true }], []],
  ])('%s', (_name, args, expected) => {
    expect(portCandidates(...args)).toEqual(expected);
  });
});

describe('triesNext', () => {
  test.each<[PortCandidate['origin'], string, boolean]>([
    ['standard', 'EACCES', true],
    ['standard', 'EADDRINUSE', true],
    ['standard', 'EPERM', true],
    ['standard', 'EADDRNOTAVAIL', false],
    ['default', 'EADDRINUSE', false],
    ['explicit', 'EADDRINUSE', false],
    ['remembered', 'EACCES', false],
  ])('a %s port failing with %s: %s', (origin, code, expected) => {
    expect(triesNext({ port: 1, origin }, code)).toBe(expected);
  });
});

describe('portError', () => {
  test.each<[string, Parameters<typeof portError>, string, RoamgateErrorCode]>([
    [
      'a given port in use',
      ['smtp', '127.0.0.1', { port: 2600, origin: 'explicit' }, 'EADDRINUSE', '/s/ports.json'],
      'smtp: port 2600 on 127.0.0.1 (given for smtp) is in use by another program: stop that program, or pass --listen smtp=PORT with another port (e.g. --listen smtp=2525)',
      'ROAMGATE_PORT_IN_USE',
    ],
    [
      'the default port in use suggests another',
      ['pop3', '127.0.0.1', { port: 1110, origin: 'default' }, 'EADDRINUSE', '/s/ports.json'],
      'pop3: port 1110 on 127.0.0.1 (the default for pop3) is in use by another program: stop that program, or pass --listen pop3=PORT with another port (e.g. --listen pop3=11110)',
      'ROAMGATE_PORT_IN_USE',
    ],
    [
      'a remembered port in use names the file',
      ['nntp', '127.0.0.1', { port: 1119, origin: 'remembered' }, 'EADDRINUSE', '/s/ports.json'],
      'nntp: port 1119 on 127.0.0.1 (remembered for nntp in /s/ports.json) is in use by another program: stop that program, or pass --listen nntp=PORT with another port (e.g. --listen nntp=11119)',
      'ROAMGATE_PORT_IN_USE',
    ],
    [
      'a privileged port',
      ['smtp', '127.0.0.1', { port: 25, origin: 'explicit' }, 'EACCES', '/s/ports.json'],
      'smtp: not allowed to listen on port 25 (given for smtp); ports below 1024 need root or CAP_NET_BIND_SERVICE: pass --listen smtp=PORT with another port (e.g. --listen smtp=2525)',
      'ROAMGATE_INVALID_OPTIONS',
    ],
    [
      "another service's port in use suggests one 10000 above",
      ['telnet', '127.0.0.1', { port: 2323, origin: 'explicit' }, 'EADDRINUSE', '/s/ports.json'],
      'telnet: port 2323 on 127.0.0.1 (given for telnet) is in use by another program: stop that program, or pass --listen telnet=PORT with another port (e.g. --listen telnet=12323)',
      'ROAMGATE_PORT_IN_USE',
    ],
    [
      'anything else',
      ['pac', '127.0.0.2', { port: 3129, origin: 'default' }, 'EADDRNOTAVAIL', '/s/ports.json'],
      'pac: cannot listen on 127.0.0.2:3129 (the default for pac) (EADDRNOTAVAIL): pass --listen pac=PORT with another port (e.g. --listen pac=13129)',
      'ROAMGATE_INVALID_OPTIONS',
    ],
  ])('%s', (_name, args, message, code) => {
    const error = portError(...args);
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
  });
});
