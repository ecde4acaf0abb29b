import fc from 'fast-check';
import type { z } from 'zod';
import {
  MAX_OFFERED_SERVERS,
  MAX_OFFERED_SERVICES,
  MAX_REFRESH_TOKENS,
  parseMessage,
  refreshAnswerSchema,
  refreshRequestSchema,
  refusalSchema,
  verifyAnswerSchema,
  verifyRequestSchema,
  type VerifyAnswer,
} from '../../protocols/peer-messages';
import { anyText } from './arbitraries';

const TOKEN = 'home-lease-token-0123456789';

/** A complete, valid verify answer; each case changes one part of a fresh copy. */
function answer(): VerifyAnswer {
  return {
    user: { id: 'alice', attributes: { department: 'sales', 'mail.quota_1-x': '10G' } },
    lease: { token: TOKEN, expiresAt: 1_700_000_000_000 },
    services: [
      {
        service: 'smtp',
        own: true,
        servers: [{ host: 'mail.home.example', port: 587, priority: 10, tls: { mode: 'starttls', servername: 'mail.home.example' } }],
      },
      {
        service: 'pop3',
        own: false,
        servers: [
          { host: '192.0.2.10', port: 995, priority: 0, tls: { mode: 'implicit' } },
          { host: '2001:db8::10', port: 110, priority: 65535 },
        ],
      },
      { service: 'nntp', own: false },
    ],
  };
}

const json = (value: unknown) => JSON.stringify(value);
const server = { host: 'mail.home.example', port: 25, priority: 10 };
const services = (count: number) => Array.from({ length: count }, (_, index) => ({ service: `s${index}`, own: false }));
const tokens = (count: number) => Array.from({ length: count }, (_, index) => `token-${index}`);

describe('limits', () => {
  test('are named constants', () => {
    expect([MAX_OFFERED_SERVICES, MAX_OFFERED_SERVERS, MAX_REFRESH_TOKENS]).toEqual([64, 16, 500]);
  });
});

describe('parseMessage', () => {
  test.each<[string, string]>([
    ['not JSON', 'not json'],
    ['empty', ''],
    ['truncated JSON', '{"username":"alice"'],
    ['JSON null', 'null'],
    ['a JSON string', '"alice"'],
    ['a JSON array', '[]'],
    ['a JSON number', '1'],
  ])('%s is null for every schema', (_name, text) => {
    for (const schema of [
      verifyRequestSchema,
      verifyAnswerSchema,
      refusalSchema,
      refreshRequestSchema,
      refreshAnswerSchema,
    ] as z.ZodType[]) {
      expect(parseMessage(schema, text)).toBeNull();
    }
  });

  describe('verify request', () => {
    test.each<[string, unknown]>([
      ['a user name and password', { username: 'alice@home.example', password: 'secret' }],
      ['the longest user name and password', { username: 'u'.repeat(320), password: 'p'.repeat(1024) }],
      ['one-character fields', { username: 'a', password: 'b' }],
    ])('accepts %s', (_name, value) => {
      expect(parseMessage(verifyRequestSchema, json(value))).toEqual(value);
    });

    test.each<[string, unknown]>([
      ['an unknown key', { username: 'alice', password: 'secret', realm: 'home.example' }],
      ['no password', { username: 'alice' }],
      ['no user name', { password: 'secret' }],
      ['an empty user name', { username: '', password: 'secret' }],
      ['an empty password', { username: 'alice', password: '' }],
      ['a user name too long', { username: 'u'.repeat(321), password: 'secret' }],
      ['a password too long', { username: 'alice', password: 'p'.repeat(1025) }],
      ['a number as password', { username: 'alice', password: 1234 }],
      ['null as user name', { username: null, password: 'secret' }],
    ])('refuses %s', (_name, value) => {
      expect(parseMessage(verifyRequestSchema, json(value))).toBeNull();
    });
  });

  describe('verify answer', () => {
    test('accepts a full answer as sent', () => {
      expect(parseMessage(verifyAnswerSchema, json(answer()))).toEqual(answer());
    });

    type Change = (value: VerifyAnswer & Record<string, any>) => void;
    test.each<[string, Change]>([
      ['no services', (value) => (value.services = [])],
      [`${MAX_OFFERED_SERVICES} services`, (value) => (value.services = services(MAX_OFFERED_SERVICES))],
      [
        `${MAX_OFFERED_SERVERS} servers for a service`,
        (value) => (value.services = [{ service: 'smtp', own: true, servers: Array.from({ length: MAX_OFFERED_SERVERS }, () => server) }]),
      ],
      ['no attributes', (value) => (value.user.attributes = {})],
      [
        '64 attributes',
        (value) => (value.user.attributes = Object.fromEntries(Array.from({ length: 64 }, (_, index) => [`a${index}`, 'v']))),
      ],
      ['an attribute value of 256 characters', (value) => (value.user.attributes = { note: 'v'.repeat(256) })],
      ['an empty attribute value', (value) => (value.user.attributes = { note: '' })],
      ['an attribute name of 64 characters', (value) => (value.user.attributes = { ['n'.repeat(64)]: 'v' })],
      ['a user id that names another realm (a chain)', (value) => (value.user.id = 'carol@far.example')],
      ['a user id of 320 characters', (value) => (value.user.id = 'u'.repeat(320))],
      ['a token of 16 characters', (value) => (value.lease.token = 't'.repeat(16))],
      ['a token of 128 characters', (value) => (value.lease.token = 't'.repeat(128))],
      ['expiresAt 0', (value) => (value.lease.expiresAt = 0)],
      ['a service name of 32 characters', (value) => (value.services = [{ service: `a${'-'.repeat(31)}`, own: true }])],
      [
        'ports 1 and 65535',
        (value) =>
          (value.services = [
            {
              service: 'smtp',
              own: true,
              servers: [
                { ...server, port: 1 },
                { ...server, port: 65535 },
              ],
            },
          ]),
      ],
      [
        'an IPv4 and an IPv6 host',
        (value) =>
          (value.services = [
            {
              service: 'smtp',
              own: true,
              servers: [
                { ...server, host: '10.0.0.1' },
                { ...server, host: '::1' },
              ],
            },
          ]),
      ],
      [
        'a host name with a trailing dot',
        (value) => (value.services = [{ service: 'smtp', own: true, servers: [{ ...server, host: 'mail.home.example.' }] }]),
      ],
      [
        'tls without servername',
        (value) => (value.services = [{ service: 'smtp', own: true, servers: [{ ...server, tls: { mode: 'implicit' } }] }]),
      ],
    ])('accepts %s', (_name, change) => {
      const value = answer();
      change(value);
      expect(parseMessage(verifyAnswerSchema, json(value))).toEqual(value);
    });

    test.each<[string, Change]>([
      // Unknown keys, at every level.
      ['an unknown top-level key', (value) => (value.extra = 1)],
      ['an unknown key in user', (value) => ((value.user as any).role = 'admin')],
      ['an unknown key in lease', (value) => ((value.lease as any).userId = 'alice')],
      ['an unknown key in a service', (value) => ((value.services[0] as any).reveal = true)],
      ['an unknown key in a server', (value) => ((value.services[0].servers![0] as any).for = 'user:alice')],
      ['credentials in a server', (value) => ((value.services[0].servers![0] as any).credentials = { username: 'a', password: 'b' })],
      [
        'a tunnel in a server',
        (value) =>
          ((value.services[0].servers![0] as any).tunnel = { url: 'https://x.example', service: 'smtp', token: TOKEN, label: 'x' }),
      ],
      ['a CA file in tls', (value) => ((value.services[0].servers![0].tls as any).ca = '/etc/passwd')],
      // Missing parts.
      ['no user', (value) => delete (value as any).user],
      ['no lease', (value) => delete (value as any).lease],
      ['no services', (value) => delete (value as any).services],
      ['no attributes', (value) => delete (value.user as any).attributes],
      ['no own flag', (value) => delete (value.services[0] as any).own],
      ['a server without port', (value) => delete (value.services[0].servers![0] as any).port],
      ['a server without priority', (value) => delete (value.services[0].servers![0] as any).priority],
      // Wrong types.
      ['a numeric user id', (value) => ((value.user as any).id = 42)],
      ['an empty user id', (value) => (value.user.id = '')],
      ['a user id of 321 characters', (value) => (value.user.id = 'u'.repeat(321))],
      ['an attribute with a number value', (value) => ((value.user.attributes as any).quota = 10)],
      ['an attribute value of 257 characters', (value) => (value.user.attributes = { note: 'v'.repeat(257) })],
      ['attributes as an array', (value) => ((value.user as any).attributes = ['department'])],
      ['own as a string', (value) => ((value.services[0] as any).own = 'true')],
      ['services as an object', (value) => ((value as any).services = { smtp: { own: true } })],
      ['a port as a string', (value) => ((value.services[0].servers![0] as any).port = '25')],
      ['expiresAt as a string', (value) => ((value.lease as any).expiresAt = '1700000000000')],
      ['a fractional expiresAt', (value) => (value.lease.expiresAt = 1.5)],
      ['a negative expiresAt', (value) => (value.lease.expiresAt = -1)],
      // Oversize.
      [`${MAX_OFFERED_SERVICES + 1} services`, (value) => (value.services = services(MAX_OFFERED_SERVICES + 1))],
      [
        `${MAX_OFFERED_SERVERS + 1} servers for a service`,
        (value) =>
          (value.services = [{ service: 'smtp', own: true, servers: Array.from({ length: MAX_OFFERED_SERVERS + 1 }, () => server) }]),
      ],
      ['an empty server list', (value) => (value.services = [{ service: 'smtp', own: true, servers: [] }])],
      [
        '65 attributes',
        (value) => (value.user.attributes = Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`a${index}`, 'v']))),
      ],
      // Bad names.
      ['an attribute name with a space', (value) => (value.user.attributes = { 'a b': 'v' })],
      ['an attribute name of 65 characters', (value) => (value.user.attributes = { ['n'.repeat(65)]: 'v' })],
      ['an empty attribute name', (value) => (value.user.attributes = { '': 'v' })],
      ['an upper-case service name', (value) => (value.services = [{ service: 'SMTP', own: true }])],
      ['a service name starting with a dash', (value) => (value.services = [{ service: '-smtp', own: true }])],
      ['a service name of 33 characters', (value) => (value.services = [{ service: 's'.repeat(33), own: true }])],
      ['an empty service name', (value) => (value.services = [{ service: '', own: true }])],
      // Bad tokens.
      ['a token of 15 characters', (value) => (value.lease.token = 't'.repeat(15))],
      ['a token of 129 characters', (value) => (value.lease.token = 't'.repeat(129))],
      ['a token with +', (value) => (value.lease.token = `${TOKEN}+`)],
      ['a token with =', (value) => (value.lease.token = `${TOKEN}=`)],
      ['a token with a dot', (value) => (value.lease.token = `${TOKEN}.x`)],
      ['a token with a newline', (value) => (value.lease.token = `${TOKEN}\n`)],
      // Bad hosts and ports.
      ['an empty host', (value) => (value.services[0].servers![0].host = '')],
      ['a host with a space', (value) => (value.services[0].servers![0].host = 'mail home.example')],
      ['a host with a port', (value) => (value.services[0].servers![0].host = 'mail.home.example:25')],
      ['a bracketed IPv6 host', (value) => (value.services[0].servers![0].host = '[2001:db8::1]')],
      ['a URL as host', (value) => (value.services[0].servers![0].host = 'http://mail.home.example/')],
      ['a host label starting with a dash', (value) => (value.services[0].servers![0].host = '-mail.home.example')],
      ['a host with a control character', (value) => (value.services[0].servers![0].host = 'mail\r\n.home.example')],
      ['a bad tls servername', (value) => (value.services[0].servers![0].tls = { mode: 'starttls', servername: 'not a host' })],
      ['an unknown tls mode', (value) => ((value.services[0].servers![0].tls as any).mode = 'none')],
      ['port 0', (value) => (value.services[0].servers![0].port = 0)],
      ['port 65536', (value) => (value.services[0].servers![0].port = 65536)],
      ['a fractional port', (value) => (value.services[0].servers![0].port = 25.5)],
      ['a negative priority', (value) => (value.services[0].servers![0].priority = -1)],
      ['priority 65536', (value) => (value.services[0].servers![0].priority = 65536)],
    ])('refuses %s', (_name, change) => {
      const value = answer();
      change(value);
      expect(parseMessage(verifyAnswerSchema, json(value))).toBeNull();
    });

    test('an own __proto__ attribute does not change the prototype of the parsed attributes', () => {
      for (const proto of ['{"role":"admin"}', '"x"', 'null']) {
        const text = json(answer()).replace('"attributes":{', `"attributes":{"__proto__":${proto},`);
        const parsed = parseMessage(verifyAnswerSchema, text);
        expect(parsed).not.toBeNull();
        expect(Object.getPrototypeOf(parsed!.user.attributes)).toBe(Object.prototype);
        expect(Object.keys(parsed!.user.attributes)).toEqual(['department', 'mail.quota_1-x']);
        expect((parsed!.user.attributes as Record<string, unknown>).role).toBeUndefined();
      }
    });
  });

  describe('refusal', () => {
    test.each<[string, unknown]>([
      ['a reason', { error: 'alice may not roam' }],
      ['an empty reason', { error: '' }],
      ['a reason of 500 characters', { error: 'r'.repeat(500) }],
    ])('accepts %s', (_name, value) => {
      expect(parseMessage(refusalSchema, json(value))).toEqual(value);
    });

    test('keeps only the reason of a refusal with other keys', () => {
      const parsed = parseMessage(refusalSchema, json({ error: 'no', code: 'X', user: { id: 'root' } }));
      expect(parsed === null || Object.keys(parsed).join() === 'error').toBe(true);
    });

    test.each<[string, unknown]>([
      ['no reason', {}],
      ['a numeric reason', { error: 403 }],
      ['a reason of 501 characters', { error: 'r'.repeat(501) }],
      ['an array', [{ error: 'no' }]],
    ])('refuses %s', (_name, value) => {
      expect(parseMessage(refusalSchema, json(value))).toBeNull();
    });
  });

  describe('refresh request', () => {
    test.each<[string, unknown]>([
      ['no tokens', { tokens: [] }],
      ['one token', { tokens: [TOKEN] }],
      [`${MAX_REFRESH_TOKENS} tokens`, { tokens: tokens(MAX_REFRESH_TOKENS) }],
      ['a token of 128 characters', { tokens: ['t'.repeat(128)] }],
    ])('accepts %s', (_name, value) => {
      expect(parseMessage(refreshRequestSchema, json(value))).toEqual(value);
    });

    test.each<[string, unknown]>([
      [`${MAX_REFRESH_TOKENS + 1} tokens`, { tokens: tokens(MAX_REFRESH_TOKENS + 1) }],
      ['an empty token', { tokens: [''] }],
      ['a token of 129 characters', { tokens: ['t'.repeat(129)] }],
      ['a numeric token', { tokens: [1] }],
      ['tokens as a string', { tokens: TOKEN }],
      ['an unknown key', { tokens: [], realm: 'home.example' }],
      ['no tokens key', {}],
    ])('refuses %s', (_name, value) => {
      expect(parseMessage(refreshRequestSchema, json(value))).toBeNull();
    });
  });

  describe('refresh answer', () => {
    test.each<[string, unknown]>([
      ['no leases', { leases: [] }],
      ['live and ended leases', { leases: [{ active: true, expiresAt: 1_700_000_000_000 }, { active: false }] }],
      [`${MAX_REFRESH_TOKENS} leases`, { leases: Array.from({ length: MAX_REFRESH_TOKENS }, () => ({ active: true })) }],
    ])('accepts %s', (_name, value) => {
      expect(parseMessage(refreshAnswerSchema, json(value))).toEqual(value);
    });

    test.each<[string, unknown]>([
      [`${MAX_REFRESH_TOKENS + 1} leases`, { leases: Array.from({ length: MAX_REFRESH_TOKENS + 1 }, () => ({ active: true })) }],
      ['active as a string', { leases: [{ active: 'yes' }] }],
      ['active missing', { leases: [{ expiresAt: 1 }] }],
      ['a fractional expiresAt', { leases: [{ active: true, expiresAt: 0.5 }] }],
      ['a negative expiresAt', { leases: [{ active: true, expiresAt: -1 }] }],
      ['an unknown key in a lease', { leases: [{ active: true, userId: 'alice' }] }],
      ['an unknown top-level key', { leases: [], more: true }],
      ['a lease as a boolean', { leases: [true] }],
    ])('refuses %s', (_name, value) => {
      expect(parseMessage(refreshAnswerSchema, json(value))).toBeNull();
    });
  });
});

describe('properties', () => {
  const schemas = [verifyRequestSchema, verifyAnswerSchema, refusalSchema, refreshRequestSchema, refreshAnswerSchema] as z.ZodType[];

  test('parseMessage never throws on arbitrary text', () => {
    fc.assert(
      fc.property(anyText(300), (text) => {
        for (const schema of schemas) expect(() => parseMessage(schema, text)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  test('parseMessage never throws on arbitrary JSON, and what it accepts is a plain object', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        for (const schema of schemas) {
          const parsed = parseMessage(schema, json(value));
          if (parsed !== null) expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('parseMessage never throws on answers with one part replaced by arbitrary JSON', () => {
    const paths = fc.constantFrom<string[]>(
      ['user'],
      ['user', 'id'],
      ['user', 'attributes'],
      ['lease'],
      ['lease', 'token'],
      ['lease', 'expiresAt'],
      ['services'],
      ['services', '0'],
      ['services', '0', 'servers'],
      ['services', '0', 'servers', '0', 'host'],
      ['services', '0', 'servers', '0', 'tls'],
      ['__proto__'],
    );
    fc.assert(
      fc.property(paths, fc.jsonValue({ maxDepth: 3 }), (path, replacement) => {
        const value: any = answer();
        let parent = value;
        for (const key of path.slice(0, -1)) parent = parent[key];
        Object.defineProperty(parent, path[path.length - 1], { value: replacement, enumerable: true, writable: true, configurable: true });
        const parsed = parseMessage(verifyAnswerSchema, json(value));
        // Whatever is accepted is itself a valid answer, unchanged by another round trip.
        if (parsed !== null) expect(parseMessage(verifyAnswerSchema, json(parsed))).toStrictEqual(parsed);
      }),
      { numRuns: 300 },
    );
  });

  const hosts = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6());
  const validServer = fc.record(
    {
      host: hosts,
      port: fc.integer({ min: 1, max: 65535 }),
      priority: fc.integer({ min: 0, max: 65535 }),
      tls: fc.record(
        { mode: fc.constantFrom('starttls' as const, 'implicit' as const), servername: fc.domain() },
        { requiredKeys: ['mode'] },
      ),
    },
    { requiredKeys: ['host', 'port', 'priority'] },
  );
  const validAnswer: fc.Arbitrary<VerifyAnswer> = fc.record({
    user: fc.record({
      id: fc.string({ minLength: 1, maxLength: 320 }),
      // zod drops a `__proto__` key from records, as it should: it is no attribute.
      attributes: fc.dictionary(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/).filter((name) => name !== '__proto__'),
        fc.string({ maxLength: 256 }),
        { maxKeys: 64 },
      ),
    }),
    lease: fc.record({ token: fc.stringMatching(/^[A-Za-z0-9_-]{16,128}$/), expiresAt: fc.maxSafeNat() }),
    services: fc.array(
      fc.record(
        {
          service: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/),
          own: fc.boolean(),
          servers: fc.array(validServer, { minLength: 1, maxLength: MAX_OFFERED_SERVERS }),
        },
        { requiredKeys: ['service', 'own'] },
      ),
      { maxLength: 8 },
    ),
  });

  test('a valid answer survives the JSON round trip unchanged', () => {
    fc.assert(
      fc.property(validAnswer, (value) => {
        expect(parseMessage(verifyAnswerSchema, json(value))).toStrictEqual(JSON.parse(json(value)));
        expect(parseMessage(verifyAnswerSchema, json(value))).toEqual(value);
      }),
      { numRuns: 200 },
    );
  });

  test('valid refresh requests and answers survive the JSON round trip unchanged', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 128 }), { maxLength: 50 }),
        fc.array(fc.record({ active: fc.boolean(), expiresAt: fc.maxSafeNat() }, { requiredKeys: ['active'] }), { maxLength: 50 }),
        (tokenList, leases) => {
          expect(parseMessage(refreshRequestSchema, json({ tokens: tokenList }))).toStrictEqual({ tokens: tokenList });
          expect(parseMessage(refreshAnswerSchema, json({ leases }))).toStrictEqual(JSON.parse(json({ leases })));
        },
      ),
      { numRuns: 200 },
    );
  });
});
