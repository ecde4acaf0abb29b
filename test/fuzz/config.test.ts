/**
 * Fuzz: the options validated at the door, the gateway's (plugin/options.ts normalizeOptions), a server
 * table's (sources/table-schema.ts) and the local proxy's (local/options.ts). Each either gives a frozen,
 * complete object or throws the documented ROAMGATE_INVALID_OPTIONS with a message; the caller's input is
 * left as it was, and nothing reaches Object.prototype.
 */
import fc from 'fast-check';
import { isRoamgateError } from '../../errors';
import { isGatewayKey, normalizeLocalOptions, parseListenSpec } from '../../local/options';
import { generateGatewayKey } from '../../protocols/discovery-message';
import { normalizeOptions } from '../../plugin/options';
import { DUMMY_HASH } from '../../plugin/password';
import { describeZodError, serverTableSchema } from '../../sources/table-schema';
import { ensure, fuzzTargets, type Tally } from './fuzz-harness';
import { jsonText, textInputs, treeInputs } from './mutate';

const KEY = generateGatewayKey().publicKey;
const SERVERS = {
  smtp: [{ host: 'mail.example.org', port: 587, priority: 10, tls: { mode: 'starttls', servername: 'mail.example.org' } }],
  pop3: [
    { host: '10.0.0.5', port: 110, for: 'department=sales', credentials: { username: 'svc', password: 'pw' } },
    { host: '::1', port: 995, tls: { mode: 'implicit' }, credentials: 'none' },
  ],
  nntp: [{ host: 'news.example.org', port: 119 }],
};
const GATEWAY_OPTIONS = [
  {
    adapters: { smtp: { port: 0 } },
    servers: { smtp: [{ host: '127.0.0.1', port: 25 }] },
    access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
  },
  {
    realm: 'home.example',
    peers: { 'visited.example': { secret: 's'.repeat(40), url: 'https://visited.example/roamgate', routes: { smtp: 'home' } } },
    adminToken: 'a'.repeat(32),
    registration: { secret: 'r'.repeat(20), services: ['smtp', 'pop3'] },
    adapters: {
      smtp: { host: '0.0.0.0', port: 2525, maxClients: 500, submission: true, login: { allowCleartext: true, maxLineLength: 4096 } },
      pop3: { port: 1110, idleTimeoutMs: 60_000, login: { preLoginIdleMs: 30_000 } },
      nntp: { port: 1119, tls: { cert: '/etc/cert.pem', key: '/etc/key.pem' }, tlsPort: 1563 },
      'http-proxy': { port: 3128, allow: ['*.example.org:443', '10.0.0.0/8:*', '[fd00::/8]:443'], login: { allowCleartext: false } },
      tcp: { telnet: { port: 2323, refusal: 'denied: {reason}' }, 'intranet-http': { port: 8081, maxClients: 10 } },
    },
    servers: SERVERS,
    access: [
      { subject: 'authenticated', service: '*', allow: true },
      { subject: 'user:bob', service: 'smtp', allow: false, reason: 'no mail' },
    ],
    users: [{ id: 'alice', passwordHash: DUMMY_HASH, attributes: { department: 'sales' } }],
    store: { path: '/var/lib/roamgate/store.sqlite' },
    leases: { ttlSeconds: 3600 },
    session: { secret: 'x'.repeat(40), secureCookie: true },
    login: { cacheSeconds: 0, perUser: { failures: 5, windowSeconds: 900 }, perAddress: { failures: 20, windowSeconds: 900 } },
    discovery: { name: 'office', url: 'http://10.0.0.1:8080/roamgate', keyFile: '/etc/roamgate/key.pem', mdns: { port: 5353 } },
    health: { enabled: true, intervalMs: 10_000 },
    mode: 'direct',
    publicHost: 'gateway.example.org',
    onAccessChange: 'finish',
    shutdownGraceMs: 0,
  },
];
const LOCAL_OPTIONS = [
  {},
  {
    gateway: 'http://10.0.0.1:8080/roamgate',
    user: 'alice',
    password: 'pw',
    listen: { smtp: 2525, pop3: 0, pac: 3129, telnet: 2323 },
    services: ['smtp', 'pop3', 'http-proxy'],
    mode: 'gateway',
    stateDir: '/tmp/roamgate-state',
    host: '127.0.0.2',
    discovery: { port: 41917, addresses: ['10.0.0.255'], mdns: { port: 5353, interfaces: ['10.0.0.2'] }, gatewayKey: KEY, windowMs: 500 },
    limits: { connectTimeoutMs: 1000, idleTimeoutMs: 0, reconnectMinMs: 100, reconnectMaxMs: 200 },
  },
];

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).join(',');

function checkUntouched(before: string, input: unknown): void {
  ensure(jsonText(input) === before, "the caller's options were changed");
  ensure(Object.getOwnPropertyNames(Object.prototype).join(',') === PROTOTYPE_KEYS && !('polluted' in {}), 'Object.prototype was changed');
}

/** Runs a validator at the door: a frozen result, or the documented error; counts which. */
function atTheDoor(input: unknown, tally: Tally, validate: (input: unknown) => object): object | null {
  const before = jsonText(input);
  let result: object;
  try {
    result = validate(input);
  } catch (error) {
    ensure(isRoamgateError(error) && error.code === 'ROAMGATE_INVALID_OPTIONS', () => `an undocumented throw: ${String(error)}`);
    ensure(typeof error.message === 'string' && error.message.length > 0, 'a refusal without a message');
    checkUntouched(before, input);
    tally.rejected++;
    return null;
  }
  checkUntouched(before, input);
  ensure(Object.isFrozen(result), 'options not frozen');
  tally.accepted++;
  return result;
}

function checkGatewayOptions(input: unknown, tally: Tally): void {
  const options = atTheDoor(input, tally, normalizeOptions) as ReturnType<typeof normalizeOptions> | null;
  if (!options) return;
  ensure(Object.isFrozen(options.adapters) && Object.isFrozen(options.access), 'nested options not frozen');
  const { tcp, ...builtIn } = options.adapters;
  for (const adapter of [...Object.values(builtIn), ...Object.values(tcp ?? {})])
    ensure(Number.isInteger(adapter.port) && adapter.port >= 0 && adapter.port <= 65535, () => `port ${adapter.port}`);
}

function checkServerTable(input: unknown, tally: Tally): void {
  const parsed = serverTableSchema.safeParse(input);
  if (parsed.success) return void tally.accepted++;
  tally.rejected++;
  const message = describeZodError(parsed.error, 'servers');
  ensure(
    typeof message === 'string' && message.startsWith('servers') && message.includes(': '),
    () => `message ${JSON.stringify(message)}`,
  );
}

function checkLocalOptions(input: unknown, tally: Tally): void {
  const options = atTheDoor(input, tally, normalizeLocalOptions) as ReturnType<typeof normalizeLocalOptions> | null;
  if (!options) return;
  ensure(options.services.length > 0 && new Set(options.services).size === options.services.length, 'services');
  ensure(options.host.startsWith('127.') || options.host === '::1', () => `a listener on ${options.host}`);
}

function checkListenSpec(input: { spec: string; key: string }, tally: Tally): void {
  tally.calls += 2;
  ensure(typeof isGatewayKey(input.key) === 'boolean', 'isGatewayKey');
  try {
    const [name, port] = parseListenSpec(input.spec);
    ensure(typeof name === 'string' && Number.isInteger(port) && port >= 0 && port <= 65535, () => `${name}=${port}`);
    tally.accepted++;
  } catch (error) {
    ensure(isRoamgateError(error) && error.code === 'ROAMGATE_INVALID_OPTIONS', () => `an undocumented throw: ${String(error)}`);
    tally.rejected++;
  }
}

fuzzTargets('configuration', [
  { name: 'plugin/options: normalizeOptions', arbitrary: treeInputs(GATEWAY_OPTIONS), check: checkGatewayOptions },
  { name: 'sources/table-schema: server tables', arbitrary: treeInputs([SERVERS, {}]), check: checkServerTable },
  { name: 'local/options: normalizeLocalOptions', arbitrary: treeInputs(LOCAL_OPTIONS), check: checkLocalOptions },
  {
    name: 'local/options: parseListenSpec and isGatewayKey',
    arbitrary: fc.record({ spec: textInputs(['smtp=2525', 'pac=3129', 'http-proxy=0', ' nntp=119 ']), key: textInputs([KEY, `${KEY}=`]) }),
    check: checkListenSpec,
  },
]);
