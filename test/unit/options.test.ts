import { RoamgateError } from '../../errors';
import { normalizeOptions } from '../../plugin/options';
import * as D from '../../plugin/defaults';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_HEALTH_TIMEOUT_MS } from '../../sources/health-monitor';
import { DEFAULT_PRIORITY, type ServerInfoSource } from '../../sources/server-info-source';
import { ManualClock } from '../helpers/clock';

/** The error normalizeOptions throws for `input`, checked to be ROAMGATE_INVALID_OPTIONS. */
function rejection(input: unknown): RoamgateError {
  try {
    normalizeOptions(input);
  } catch (error) {
    expect(error).toBeInstanceOf(RoamgateError);
    expect((error as RoamgateError).code).toBe('ROAMGATE_INVALID_OPTIONS');
    return error as RoamgateError;
  }
  throw new Error('normalizeOptions accepted invalid options');
}

const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('normalizeOptions', () => {
  describe('defaults', () => {
    test('an empty object gets every top-level default', () => {
      const options = normalizeOptions({});
      expect(options).toEqual({
        mode: 'gateway',
        registration: {
          defaultTtlSeconds: D.DEFAULT_REGISTRATION_TTL_SECONDS,
          services: ['smtp', 'pop3', 'nntp'],
          maxEntries: D.DEFAULT_REGISTRATION_MAX_ENTRIES,
          forwardCredentials: [],
          perAddress: D.DEFAULT_REGISTRATION_THROTTLE_PER_ADDRESS,
        },
        access: [],
        health: { enabled: true, intervalMs: DEFAULT_HEALTH_INTERVAL_MS, timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS },
        shutdownGraceMs: D.DEFAULT_SHUTDOWN_GRACE_MS,
        adapters: {},
        servers: { table: {} },
        logger: undefined,
        users: [],
        store: { path: ':memory:', checkIntervalMs: D.DEFAULT_STORE_CHECK_INTERVAL_MS },
        audit: { retentionDays: D.DEFAULT_AUDIT_RETENTION_DAYS, maxRows: D.DEFAULT_AUDIT_MAX_ROWS },
        leases: { ttlSeconds: D.DEFAULT_LEASE_TTL_SECONDS, userCheckSeconds: D.DEFAULT_LEASE_USER_CHECK_SECONDS, sharedAddresses: [] },
        session: { secureCookie: 'auto', maxAgeSeconds: D.DEFAULT_SESSION_MAX_AGE_SECONDS },
        login: {
          perUser: D.DEFAULT_LOGIN_THROTTLE_PER_USER,
          perUserAddress: D.DEFAULT_LOGIN_THROTTLE_PER_USER_ADDRESS,
          perAddress: D.DEFAULT_LOGIN_THROTTLE_PER_ADDRESS,
          perUserDelayMs: D.DEFAULT_LOGIN_PER_USER_DELAY_MS,
          perUserMaxDelayMs: D.DEFAULT_LOGIN_PER_USER_MAX_DELAY_MS,
          cacheSeconds: D.DEFAULT_LOGIN_CACHE_SECONDS,
          requireRights: true,
        },
        onAccessChange: 'close',
        mountPath: '/roamgate',
        web: {},
        tunnel: {
          maxTunnels: D.DEFAULT_MAX_TUNNELS,
          maxTunnelsPerLease: D.DEFAULT_MAX_TUNNELS_PER_LEASE,
          maxTunnelsPerAddress: D.DEFAULT_MAX_CLIENTS_PER_ADDRESS,
          loopbackExempt: true,
        },
        peers: {},
      });
    });

    test('a line adapter gets host, timeouts and client limit', () => {
      expect(normalizeOptions({ adapters: { pop3: { port: 1110 } } }).adapters).toEqual({
        pop3: {
          host: D.DEFAULT_ADAPTER_HOST,
          port: 1110,
          connectTimeoutMs: D.DEFAULT_CONNECT_TIMEOUT_MS,
          idleTimeoutMs: D.DEFAULT_IDLE_TIMEOUT_MS,
          maxClients: D.DEFAULT_MAX_CLIENTS,
          maxClientsPerAddress: D.DEFAULT_MAX_CLIENTS_PER_ADDRESS,
          loopbackExempt: true,
        },
      });
    });

    test('adapters.imap has the shape of adapters.pop3: port, tlsPort with tls, login limits', () => {
      const imap = normalizeOptions({
        adapters: { imap: { port: 1143, tlsPort: 1993, tls: { cert: 'c.pem', key: 'k.pem' }, login: { allowCleartext: true } } },
      }).adapters.imap;
      expect(imap).toMatchObject({
        port: 1143,
        tlsPort: 1993,
        tls: { cert: 'c.pem', key: 'k.pem' },
        login: {
          allowCleartext: true,
          maxLineLength: D.DEFAULT_MAX_LINE_LENGTH,
          maxUnauthenticatedCommands: D.DEFAULT_MAX_UNAUTHENTICATED_COMMANDS,
          maxLoginAttempts: D.DEFAULT_MAX_LOGIN_ATTEMPTS,
        },
      });
      expect(rejection({ adapters: { imap: { port: 1143, tlsPort: 1993 } } }).message).toMatch(
        /^adapters\.imap\.tlsPort: tlsPort needs tls/,
      );
      expect(rejection({ adapters: { pop3: { port: 1143 }, imap: { port: 1143 } } }).message).toMatch(
        /adapters\.(pop3|imap)\.port: 1143 is also/,
      );
    });

    test('the web proxy also gets a header limit and an empty (allow nothing) list', () => {
      const proxy = normalizeOptions({ adapters: { 'http-proxy': { port: 3128 } } }).adapters['http-proxy'];
      expect(proxy).toMatchObject({ host: D.DEFAULT_ADAPTER_HOST, maxHeaderBytes: D.DEFAULT_MAX_HEADER_BYTES, allow: [] });
    });

    test('the web proxy allowlist is parsed into rules', () => {
      const proxy = normalizeOptions({ adapters: { 'http-proxy': { port: 3128, allow: ['*.example.org:443', 'intranet:80-81'] } } })
        .adapters['http-proxy'];
      expect(proxy?.allow).toEqual([
        { host: '.example.org', wildcard: 'suffix', portMin: 443, portMax: 443 },
        { host: 'intranet', wildcard: 'none', portMin: 80, portMax: 81 },
      ]);
    });

    test('servers without a priority get DEFAULT_PRIORITY', () => {
      expect(
        normalizeOptions({
          servers: {
            smtp: [
              { host: 'mx.example.org', port: 25 },
              { host: '10.0.0.2', port: 2525, priority: 5 },
            ],
          },
        }).servers,
      ).toEqual({
        table: {
          smtp: [
            { host: 'mx.example.org', port: 25, priority: DEFAULT_PRIORITY },
            { host: '10.0.0.2', port: 2525, priority: 5 },
          ],
        },
      });
    });

    test('given values are kept', () => {
      const options = normalizeOptions({
        mode: 'direct',
        shutdownGraceMs: 0,
        health: { enabled: false },
        adapters: { smtp: { host: '0.0.0.0', port: 0, maxClients: 5 } },
      });
      expect(options.mode).toBe('direct');
      expect(options.shutdownGraceMs).toBe(0);
      expect(options.health).toEqual({ enabled: false, intervalMs: DEFAULT_HEALTH_INTERVAL_MS, timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS });
      expect(options.adapters.smtp).toMatchObject({ host: '0.0.0.0', port: 0, maxClients: 5 });
    });
  });

  describe('freezing', () => {
    test('the result is frozen, adapters and the server table deeply', () => {
      const options = normalizeOptions({
        adapters: { smtp: { port: 2525 }, 'http-proxy': { port: 3128, allow: ['*:443'] } },
        servers: { smtp: [{ host: 'a', port: 25 }] },
        access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
      });
      const frozen: unknown[] = [
        options,
        options.adapters,
        options.adapters.smtp,
        options.adapters['http-proxy'],
        options.adapters['http-proxy']!.allow,
        options.adapters['http-proxy']!.allow[0],
        options.health,
        options.registration,
        options.access,
        options.access[0],
        options.servers,
      ];
      if ('table' in options.servers) frozen.push(options.servers.table, options.servers.table.smtp, options.servers.table.smtp[0]);
      for (const value of frozen) expect(Object.isFrozen(value)).toBe(true);
      expect(() => {
        (options.adapters.smtp as { port: number }).port = 1;
      }).toThrow(TypeError);
    });

    test('the caller’s objects are copied, not frozen', () => {
      const input = {
        adapters: { smtp: { port: 2525 } },
        servers: { smtp: [{ host: 'a', port: 25 }] },
        access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
      };
      const options = normalizeOptions(input);
      expect(options.adapters.smtp).not.toBe(input.adapters.smtp);
      for (const value of [input, input.adapters, input.adapters.smtp, input.servers, input.servers.smtp[0], input.access, input.access[0]])
        expect(Object.isFrozen(value)).toBe(false);
    });

    test('a custom source is accepted as servers, kept by reference and not frozen', () => {
      const source: ServerInfoSource & { calls: number } = { calls: 0, resolve: () => [] };
      const options = normalizeOptions({ servers: source, logger });
      expect(options.servers).toEqual({ source });
      expect('source' in options.servers && options.servers.source).toBe(source);
      expect(Object.isFrozen(options.servers)).toBe(true);
      expect(Object.isFrozen(source)).toBe(false);
      source.calls++;
      expect(source.calls).toBe(1);
    });

    test('the logger is kept by reference and not frozen', () => {
      const options = normalizeOptions({ logger });
      expect(options.logger).toBe(logger);
      expect(Object.isFrozen(logger)).toBe(false);
    });

    test('a clock (a seam for tests) is kept by reference and not frozen', () => {
      const clock = new ManualClock();
      const options = normalizeOptions({ clock });
      expect(options.clock).toBe(clock);
      expect(Object.isFrozen(clock)).toBe(false);
    });
  });

  describe('errors name the path of the bad option', () => {
    test.each<[string, unknown, RegExp]>([
      ['not an object', 'smtp', /^options must be an object$/],
      ['null', null, /^options must be an object$/],
      ['an unknown top-level key', { adaptors: {} }, /^adaptors: .*"adaptors"/],
      ['a bad mode', { mode: 'relay' }, /^mode: /],
      ['port 70000', { adapters: { smtp: { port: 70000 } } }, /^adapters\.smtp\.port: must be an integer 0-65535/],
      ['port -1', { adapters: { smtp: { port: -1 } } }, /^adapters\.smtp\.port: must be an integer 0-65535/],
      ['a string port', { adapters: { smtp: { port: 'x' } } }, /^adapters\.smtp\.port: /],
      ['a fractional port', { adapters: { nntp: { port: 119.5 } } }, /^adapters\.nntp\.port: /],
      ['a missing port', { adapters: { pop3: {} } }, /^adapters\.pop3\.port: /],
      [
        'a bad adapter host',
        { adapters: { smtp: { port: 25, host: 'not a host' } } },
        /^adapters\.smtp\.host: must be an IP address or hostname$/,
      ],
      ['an unknown adapter key', { adapters: { smtp: { port: 25, starttls: true } } }, /^adapters\.smtp\.starttls: .*"starttls"/],
      ['an unknown adapter', { adapters: { telnet: { port: 23 } } }, /^adapters\.telnet: .*"telnet"/],
      [
        'an imap adapter option of the wrong type',
        { adapters: { imap: { port: 143, login: { allowCleartext: 'yes' } } } },
        /^adapters\.imap\.login\.allowCleartext: /,
      ],
      ['a zero connect timeout', { adapters: { smtp: { port: 25, connectTimeoutMs: 0 } } }, /^adapters\.smtp\.connectTimeoutMs: /],
      [
        'a tiny header limit',
        { adapters: { 'http-proxy': { port: 3128, maxHeaderBytes: 10 } } },
        /^adapters\.http-proxy\.maxHeaderBytes: /,
      ],
      [
        'a bad allow entry',
        { adapters: { 'http-proxy': { port: 3128, allow: ['*:443', 'example.org'] } } },
        /^adapters\.http-proxy\.allow\.1: "example\.org" is not host:port/,
      ],
      [
        'an allow port out of range',
        { adapters: { 'http-proxy': { port: 3128, allow: ['example.org:0'] } } },
        /^adapters\.http-proxy\.allow\.0: .*outside 1-65535/,
      ],
      ['a server port 0', { servers: { smtp: [{ host: 'a', port: 0 }] } }, /^servers\.smtp\.0\.port: /],
      [
        'a server port 70000 in the second entry',
        {
          servers: {
            smtp: [
              { host: 'a', port: 25 },
              { host: 'b', port: 70000 },
            ],
          },
        },
        /^servers\.smtp\.1\.port: /,
      ],
      ['a server with a bad host', { servers: { pop3: [{ host: 'a b', port: 110 }] } }, /^servers\.pop3\.0\.host: /],
      ['a bad service name', { servers: { SMTP: [] } }, /^servers\.SMTP: /],
      ['servers that are neither table nor source', { servers: 42 }, /^servers: /],
      [
        'a bad access subject',
        { access: [{ subject: 'everyone', service: 'smtp', allow: true }] },
        /^access\.0\.subject: must be anonymous, authenticated, user:<id> or <attribute>=<value>$/,
      ],
      [
        'a bad access service',
        { access: [{ subject: 'anonymous', service: 'SMTP!', allow: true }] },
        /^access\.0\.service: must be a service name or \*$/,
      ],
      ['access allow not a boolean', { access: [{ subject: 'anonymous', service: 'smtp', allow: 'yes' }] }, /^access\.0\.allow: /],
      [
        'a second access rule',
        {
          access: [
            { subject: 'anonymous', service: 'smtp', allow: true },
            { subject: 'user:', service: 'smtp', allow: true },
          ],
        },
        /^access\.1\.subject: /,
      ],
      ['a short admin token', { adminToken: 'short' }, /^adminToken: must be at least 16 characters$/],
      ['a registration TTL of 0', { registration: { defaultTtlSeconds: 0 } }, /^registration\.defaultTtlSeconds: /],
      ['an audit retention of 0 days', { audit: { retentionDays: 0 } }, /^audit\.retentionDays: /],
      ['an audit cap of 10 rows', { audit: { maxRows: 10 } }, /^audit\.maxRows: /],
      ['a store checked every 0 ms', { store: { path: 'x.db', checkIntervalMs: 0 } }, /^store\.checkIntervalMs: /],
      ['a store URL that is not PostgreSQL', { store: { url: 'mysql://u:s3cret@h/db' } }, /^store\.url: must be a URL postgres:\/\/[^s]*$/],
      ['a PostgreSQL pool of 0', { store: { url: 'postgres://u:s3cret@h/db', poolSize: 0 } }, /^store\.poolSize: /],
      ['a PostgreSQL connect timeout of 0', { store: { url: 'postgres://h/db', connectTimeoutMs: 0 } }, /^store\.connectTimeoutMs: /],
      [
        'a bad service to forward credentials to',
        { registration: { forwardCredentials: ['POP3'] } },
        /^registration\.forwardCredentials\.0: /,
      ],
      [
        'no wrong registration secret allowed',
        { registration: { perAddress: { failures: 0, windowSeconds: 60 } } },
        /^registration\.perAddress\.failures: /,
      ],
      ['a link-local server', { servers: { smtp: [{ host: '0xA9FEA9FE', port: 80 }] } }, /^servers\.smtp\.0\.host: .*link-local/],
      ['an unspecified server', { servers: { pop3: [{ host: '::', port: 110 }] } }, /^servers\.pop3\.0\.host: .*unspecified/],
      ['a logger without info()', { logger: { warn: () => undefined, error: () => undefined } }, /^logger: must be a pino logger/],
      ['a logger that is a function', { logger: () => undefined }, /^logger: /],
      ['a clock without monotonic()', { clock: { now: () => 0 } }, /^clock: must be a Clock/],
      [
        'two adapters on one port',
        { adapters: { smtp: { port: 2525 }, pop3: { port: 2525 } } },
        /^adapters\.smtp\.port: 2525 is also adapters\.pop3\.port$/,
      ],
      [
        'two adapters on one port and explicit host',
        { adapters: { nntp: { port: 1119, host: '127.0.0.1' }, 'http-proxy': { port: 1119 } } },
        /^adapters\.nntp\.port: 1119 is also adapters\.http-proxy\.port$/,
      ],
    ])('%s', (_name, input, message) => {
      expect(rejection(input).message).toMatch(message);
    });

    test.each([
      ['port 0 on several adapters (free ports)', { adapters: { smtp: { port: 0 }, pop3: { port: 0 } } }],
      ['one port on different hosts', { adapters: { smtp: { port: 2525, host: '127.0.0.1' }, pop3: { port: 2525, host: '127.0.0.2' } } }],
    ])('accepts %s', (_name, input) => {
      expect(() => normalizeOptions(input)).not.toThrow();
    });

    test('store: { url } (PostgreSQL) is taken with its pool defaults', () => {
      expect(normalizeOptions({ store: { url: 'postgres://gw:s3cret@db.example.org/gw' } }).store).toEqual({
        url: 'postgres://gw:s3cret@db.example.org/gw',
        poolSize: D.DEFAULT_POSTGRES_POOL_SIZE,
        connectTimeoutMs: D.DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS,
      });
    });
  });

  // BUG (plugin/options.ts:126): the logger check tests only for info(), although the
  // message (and the Logger interface) require info, warn and error; a logger
  // without warn() is accepted and fails later with a TypeError at the first warning.
  test('rejects a logger without warn() and error()', () => {
    expect(rejection({ logger: { info: () => undefined } }).message).toMatch(/^logger: /);
  });
});
