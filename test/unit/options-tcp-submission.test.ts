import { RoamgateError } from '../../errors';
import * as D from '../../plugin/defaults';
import { normalizeOptions } from '../../plugin/options';
import { adapterServiceNames } from '../../plugin/protocol-adapters';
import { isBuiltInAdapterName } from '../../protocols/services';

/** The message of the error normalizeOptions throws for `adapters`, checked to be ROAMGATE_INVALID_OPTIONS. */
function rejection(adapters: unknown): string {
  try {
    normalizeOptions({ adapters });
  } catch (error) {
    expect(error).toBeInstanceOf(RoamgateError);
    expect((error as RoamgateError).code).toBe('ROAMGATE_INVALID_OPTIONS');
    return (error as RoamgateError).message;
  }
  throw new Error('normalizeOptions accepted invalid options');
}

describe('normalizeOptions: generic TCP adapters (adapters.tcp.<name>)', () => {
  test('each gets the adapter defaults; the refusal line is kept as written, and absent by default', () => {
    const { adapters } = normalizeOptions({
      adapters: { tcp: { telnet: { port: 2323, refusal: 'denied: {reason}' }, 'line-echo': { port: 0, host: '0.0.0.0', maxClients: 3 } } },
    });
    expect(adapters.tcp).toEqual({
      telnet: {
        host: D.DEFAULT_ADAPTER_HOST,
        port: 2323,
        connectTimeoutMs: D.DEFAULT_CONNECT_TIMEOUT_MS,
        idleTimeoutMs: D.DEFAULT_IDLE_TIMEOUT_MS,
        maxClients: D.DEFAULT_MAX_CLIENTS,
        maxClientsPerAddress: D.DEFAULT_MAX_CLIENTS_PER_ADDRESS,
        loopbackExempt: true,
        refusal: 'denied: {reason}',
      },
      'line-echo': expect.objectContaining({ host: '0.0.0.0', port: 0, maxClients: 3 }),
    });
    expect(adapters.tcp!['line-echo'].refusal).toBeUndefined();
    expect(Object.isFrozen(adapters.tcp) && Object.isFrozen(adapters.tcp!.telnet)).toBe(true);
  });

  test('the services with an adapter are the built-in sections and each TCP adapter by name', () => {
    const { adapters } = normalizeOptions({ adapters: { smtp: { port: 0 }, tcp: { telnet: { port: 0 }, db: { port: 0 } } } });
    expect(adapterServiceNames(adapters)).toEqual(['smtp', 'telnet', 'db']);
    expect(adapterServiceNames(normalizeOptions({}).adapters)).toEqual([]);
  });

  test.each<[string, unknown, string]>([
    [
      'a name that is no service name',
      { tcp: { Telnet: { port: 1 } } },
      'adapters.tcp.Telnet: must be a service name (lowercase letters, digits, dashes)',
    ],
    ['a built-in adapter', { tcp: { smtp: { port: 1 } } }, 'adapters.tcp.smtp: is taken by the built-in adapters.smtp'],
    ['the web proxy', { tcp: { 'http-proxy': { port: 1 } } }, 'adapters.tcp.http-proxy: is taken by the built-in adapters.http-proxy'],
    [
      "a built-in adapter's TLS port",
      { tcp: { 'pop3-tls': { port: 1 } } },
      'adapters.tcp.pop3-tls: is taken by the built-in adapters.pop3',
    ],
    ['a missing port', { tcp: { telnet: {} } }, 'adapters.tcp.telnet.port: '],
    ['an unknown key', { tcp: { telnet: { port: 1, banner: 'x' } } }, 'adapters.tcp.telnet.banner: '],
    ['a refusal of two lines', { tcp: { telnet: { port: 1, refusal: 'a\r\nb' } } }, 'adapters.tcp.telnet.refusal: must be one line'],
    ['an empty refusal', { tcp: { telnet: { port: 1, refusal: '' } } }, 'adapters.tcp.telnet.refusal: must be one line'],
    [
      'two TCP adapters on one port',
      { tcp: { a: { port: 2323 }, b: { port: 2323 } } },
      'adapters.tcp.a.port: 2323 is also adapters.tcp.b.port',
    ],
    [
      "a TCP adapter on a built-in one's port",
      { pop3: { port: 1110 }, tcp: { a: { port: 1110 } } },
      'adapters.pop3.port: 1110 is also adapters.tcp.a.port',
    ],
    [
      "a TCP adapter on a built-in one's TLS port",
      { smtp: { port: 0, tlsPort: 4650, tls: { cert: 'c', key: 'k' } }, tcp: { a: { port: 4650 } } },
      'adapters.smtp.tlsPort: 4650 is also adapters.tcp.a.port',
    ],
  ])('%s is refused naming it', (_name, adapters, message) => {
    expect(rejection(adapters)).toContain(message);
  });

  test('one port on different hosts is no clash', () => {
    expect(() =>
      normalizeOptions({ adapters: { tcp: { a: { port: 2323, host: '127.0.0.1' }, b: { port: 2323, host: '127.0.0.2' } } } }),
    ).not.toThrow();
  });

  test.each<[string, boolean]>([
    ['smtp', true],
    ['ldap-tls', false],
    ['smtp-tls', true],
    ['http-proxy-tls', true],
    ['telnet', false],
    ['-tls', false],
    ['tls', false],
  ])('isBuiltInAdapterName(%s): %s', (name, expected) => {
    expect(isBuiltInAdapterName(name)).toBe(expected);
  });
});

describe('normalizeOptions: SMTP submission (adapters.smtp.submission)', () => {
  test('off by default', () => {
    expect(normalizeOptions({ adapters: { smtp: { port: 25 } } }).adapters.smtp).toMatchObject({ submission: false });
    expect(normalizeOptions({ adapters: { smtp: { port: 25 } } }).adapters.smtp!.login).toBeUndefined();
  });

  test('implies in-protocol login with its defaults', () => {
    const smtp = normalizeOptions({ adapters: { smtp: { port: 587, submission: true, tls: { cert: 'c', key: 'k' } } } }).adapters.smtp!;
    expect(smtp).toMatchObject({ port: 587, submission: true, tls: { cert: 'c', key: 'k' } });
    expect(smtp.login).toEqual({
      allowCleartext: false,
      maxLoginAttempts: D.DEFAULT_MAX_LOGIN_ATTEMPTS,
      maxUnauthenticatedCommands: D.DEFAULT_MAX_UNAUTHENTICATED_COMMANDS,
      maxLineLength: D.DEFAULT_MAX_LINE_LENGTH,
      preLoginIdleMs: D.DEFAULT_PRE_LOGIN_IDLE_MS,
      preLoginDeadlineMs: D.DEFAULT_PRE_LOGIN_DEADLINE_MS,
      pipelining: false,
    });
  });

  test('keeps the login settings given', () => {
    const smtp = normalizeOptions({
      adapters: { smtp: { port: 587, submission: true, login: { allowCleartext: true, maxLoginAttempts: 1 } } },
    }).adapters.smtp!;
    expect(smtp.login).toMatchObject({ allowCleartext: true, maxLoginAttempts: 1 });
  });

  test('without a certificate, only where cleartext logins are allowed (else nobody could log in)', () => {
    expect(rejection({ smtp: { port: 587, submission: true } })).toBe(
      'adapters.smtp.submission: needs tls: { cert, key } (for STARTTLS), or login: { allowCleartext: true }',
    );
    expect(rejection({ smtp: { port: 587, submission: true, login: {} } })).toMatch(/^adapters\.smtp\.submission: needs tls/);
  });

  test('is an option of the smtp adapter only', () => {
    expect(rejection({ pop3: { port: 110, submission: true } })).toMatch(/^adapters\.pop3\.submission: /);
  });
});
