/**
 * Fuzz: the web proxy's head pieces (protocols/http/): request targets, the allowlist, IP address spellings
 * and classes, response heads, Proxy-Authorization, tunnel targets and the responses the proxy writes.
 * Besides "no throw, well-formed", every address is checked against the WHATWG URL parser's reading of it,
 * and the allowlist and address classes against the canonical spelling: a spelling must not change a verdict.
 */
import fc from 'fast-check';
import { isIP } from 'node:net';
import { RoamgateError } from '../../errors';
import { forbiddenAddressReason, internalAddressKind, isLoopback, isLoopbackName } from '../../protocols/http/address-class';
import { allowance, isAllowed, parseAllowRule, type AllowRule } from '../../protocols/http/allowlist';
import { canonicalHost, canonicalIp, ipInRange, ipNetwork, ipWidth, lowIpv4 } from '../../protocols/http/ip-address';
import { parseBasicCredentials } from '../../protocols/http/proxy-authorization';
import { endToEndHeaders, findHeadEnd, parseStatusLine } from '../../protocols/http/response-head';
import { formatHttpResponse, httpRefusal } from '../../protocols/http/status';
import { hostHeader, isValidHost, numericIpv4, parseAbsoluteTarget, parseAuthority } from '../../protocols/http/target';
import { parseBearer, parseTunnelTarget, tunnelTarget } from '../../protocols/http/tunnel-target';
import { ensure, fuzzTargets, type Tally } from './fuzz-harness';
import { byteInputs, textInputs } from './mutate';

const ADDRESSES = [
  '127.0.0.1',
  '169.254.169.254',
  '0XA9FEA9FE',
  '0xa9.0xfe.0xa9fe',
  '0251.0376.0251.0376',
  '2852039166',
  '127.1',
  '10.0.0.1.',
  '::1',
  '0::1',
  '0:0:0:0:0:0:0:1',
  '::ffff:a9fe:a9fe',
  '::ffff:127.0.0.1',
  '64:ff9b::a9fe:a9fe',
  'fe80::1%eth0',
  '2001:DB8::01',
  'fd00::1',
  '100.64.0.1',
  '224.0.0.251',
  'example.org',
  'localhost',
  'a.localhost.',
  'example.0x10',
  '1.2.3.256',
];
const AUTHORITIES = [
  ...ADDRESSES.map((host) => (host.includes(':') ? `[${host}]:443` : `${host}:80`)),
  'smtp.roamgate:1',
  'mail.example.org:25',
  '_srv.example.org:1',
  'example.org:0443',
];
const TARGETS = AUTHORITIES.map((authority) => `http://${authority}/path?q=1`).concat([
  'http://user:pw@example.org/',
  'HTTP://EXAMPLE.ORG',
  'http://example.org:99999/',
  'https://example.org/',
  'http://[::1]/%0d%0aInjected: yes',
  'http://example.org/a b\r\nX: y',
]);
const ALLOW_RULES = [
  '127.0.0.1:8080',
  '*:*',
  '*.example.org:443',
  'example.org:80-8080',
  '10.0.0.0/8:*',
  '[fd00::/8]:443',
  '[::1]:*',
  'localhost:1-65535',
];

/** What the URL parser makes of an authority's host: its hostname, brackets off; null when it does not parse. */
function whatwgHost(authority: string): string | null {
  try {
    return new URL(`http://${authority}/`).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return null;
  }
}

function checkAuthority(text: string, tally: Tally): void {
  const destination = parseAuthority(text);
  if (destination === null) return void tally.rejected++;
  tally.accepted++;
  const { host, port } = destination;
  ensure(Number.isInteger(port) && port >= 1 && port <= 65535, () => `port ${port}`);
  ensure(isValidHost(host), () => `not a host: ${JSON.stringify(host)}`);
  ensure(!/[\r\n\0 ]/.test(hostHeader(destination)), 'a Host header with a line break or space');
  // The URL parser, and so a resolver, must read the same address, or no address at all.
  const seen = whatwgHost(text);
  if (seen === null) return;
  const ip = canonicalIp(host);
  if (ip !== null) ensure(canonicalIp(seen) === ip, () => `${JSON.stringify(text)}: we read ${ip}, a URL parser ${seen}`);
  else ensure(canonicalIp(seen) === null, () => `${JSON.stringify(text)}: we read the name ${host}, a URL parser the address ${seen}`);
}

function checkAbsoluteTarget(text: string, tally: Tally): void {
  const target = parseAbsoluteTarget(text);
  if (target === null) return void tally.rejected++;
  tally.accepted++;
  ensure(isValidHost(target.host) && target.port >= 1 && target.port <= 65535, () => `bad destination ${JSON.stringify(target)}`);
  // The path goes on to the origin's request line: nothing in it may end or split that line.
  ensure(
    target.path.startsWith('/') && !/[\x00-\x20\x7f]/.test(target.path),
    () => `a path unfit for a request line: ${JSON.stringify(target.path)}`,
  );
}

function checkAddress(text: string, tally: Tally): void {
  const ip = canonicalIp(text);
  const host = canonicalHost(text);
  ensure(ip === null || host === ip, 'canonicalHost disagrees with canonicalIp');
  for (const [name, answer] of [
    ['forbiddenAddressReason', forbiddenAddressReason(text)],
    ['internalAddressKind', internalAddressKind(text)],
    ['isLoopback', isLoopback(text)],
    ['isLoopbackName', isLoopbackName(text)],
    ['numericIpv4', numericIpv4(text)],
    ['lowIpv4', lowIpv4(text)],
  ] as const)
    ensure(answer === null || typeof answer === 'string' || typeof answer === 'boolean', () => `${name} gave ${String(answer)}`);
  if (ip === null) return void tally.rejected++;
  tally.accepted++;
  ensure(isIP(ip) !== 0 && canonicalIp(ip) === ip, () => `${JSON.stringify(text)} -> ${ip}, not canonical`);
  // A spelling changes no verdict.
  ensure(
    forbiddenAddressReason(text) === forbiddenAddressReason(ip),
    () => `forbiddenAddressReason(${JSON.stringify(text)}) differs from ${ip}'s`,
  );
  ensure(internalAddressKind(text) === internalAddressKind(ip), () => `internalAddressKind(${JSON.stringify(text)}) differs from ${ip}'s`);
  const width = ipWidth(ip)!;
  for (const length of [0, 8, width / 2, width]) {
    const network = ipNetwork(ip, length);
    ensure(network !== null && ipInRange(text, network, length), () => `${ip} is not in its own /${length}`);
  }
  if (!text.includes(':') && /^[0-9a-fA-FxX.]+$/.test(text) && whatwgHost(text) !== null)
    ensure(canonicalIp(whatwgHost(text)!) === ip, () => `${JSON.stringify(text)}: we read ${ip}, a URL parser ${whatwgHost(text)}`);
}

function checkAllowlist(input: { entries: string[]; host: string; port: number }, tally: Tally): void {
  const rules: AllowRule[] = [];
  for (const entry of input.entries) {
    try {
      rules.push(parseAllowRule(entry));
    } catch (error) {
      // Documented: an Error whose message is fit for an option path.
      ensure(error instanceof Error && !(error instanceof RoamgateError) && error.message.length > 0, 'an undocumented throw');
      tally.rejected++;
      continue;
    }
    tally.accepted++;
    const rule = rules[rules.length - 1];
    ensure(rule.portMin >= 1 && rule.portMin <= rule.portMax && rule.portMax <= 65535, () => `ports ${rule.portMin}-${rule.portMax}`);
  }
  const verdict = allowance(rules, input.host, input.port);
  ensure(verdict === null || verdict === 'named' || verdict === 'wildcard', () => `allowance gave ${String(verdict)}`);
  ensure(isAllowed(rules, input.host, input.port) === (verdict !== null), 'isAllowed disagrees with allowance');
  const canonical = canonicalHost(input.host);
  if (canonical !== null)
    ensure(
      allowance(rules, canonical, input.port) === verdict,
      () => `${JSON.stringify(input.host)} and ${canonical} are allowed differently`,
    );
}

function checkResponseHead(bytes: Buffer, tally: Tally): void {
  const end = findHeadEnd(bytes);
  if (end === -1) tally.rejected++;
  else {
    tally.accepted++;
    ensure(end >= 2 && end <= bytes.length && bytes[end - 1] === 0x0a, () => `head end at ${end}`);
    ensure(findHeadEnd(bytes.subarray(0, end - 1)) === -1, 'not the first empty line');
  }
  const lines = bytes.toString('latin1').split('\n');
  const status = parseStatusLine(lines[0]);
  ensure(status === null || (status.status >= 100 && status.status <= 599), () => `status ${JSON.stringify(status)}`);
  const raw = lines.slice(1).flatMap((line) => {
    const colon = line.indexOf(':');
    return colon === -1 ? [] : [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  const hopByHop =
    /^(?:connection|proxy-connection|keep-alive|proxy-authenticate|proxy-authorization|te|trailer|transfer-encoding|upgrade)$/i;
  for (const [name] of endToEndHeaders(raw)) ensure(!hopByHop.test(name), () => `hop-by-hop header kept: ${name}`);
}

function checkCredentials(header: string, tally: Tally): void {
  const credentials = parseBasicCredentials(header);
  if (credentials === null) return void tally.rejected++;
  tally.accepted++;
  ensure(credentials.username !== '' && !credentials.username.includes(':'), () => `user name ${JSON.stringify(credentials.username)}`);
  const again = parseBasicCredentials(`Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`);
  ensure(again?.username === credentials.username && again.password === credentials.password, 'no round trip');
}

function checkTunnel(text: string, tally: Tally): void {
  const service = parseTunnelTarget(text);
  const token = parseBearer(text);
  if (service === null && token === null) return void tally.rejected++;
  tally.accepted++;
  if (service !== null) ensure(/^[a-z0-9][a-z0-9-]{0,31}$/.test(service) && tunnelTarget(service) === text, () => `service ${service}`);
  if (token !== null) ensure(token.length <= 512 && /^[A-Za-z0-9._~+/-]+=*$/.test(token), () => `token ${JSON.stringify(token)}`);
}

function checkResponse(input: { status: number; text: string }, tally: Tally): void {
  tally.accepted++;
  for (const response of [
    formatHttpResponse(input.status, input.text),
    httpRefusal(new RoamgateError('ROAMGATE_ACCESS_DENIED', input.text)),
  ]) {
    const end = response.indexOf('\r\n\r\n');
    ensure(end > 0, 'no end of head');
    const head = response.slice(0, end).split('\r\n');
    ensure(/^HTTP\/1\.1 [1-5][0-9]{2} [^\r\n]*$/.test(head[0]), () => `status line ${JSON.stringify(head[0])}`);
    for (const line of head.slice(1)) ensure(/^[A-Za-z-]+: [^\x00-\x1f\x7f]*$/.test(line), () => `header line ${JSON.stringify(line)}`);
    const body = response.slice(end + 4);
    const length = /\r\nContent-Length: ([0-9]+)\r\n/.exec(response.slice(0, end + 2));
    ensure(length && Number(length[1]) === Buffer.byteLength(body), 'Content-Length differs from the body');
  }
}

const heads = [
  'HTTP/1.1 200 Connection established\r\n\r\n',
  'HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n' +
    'Connection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n\r\nbody',
  'HTTP/1.1 502 Bad Gateway\nContent-Length: 0\n\n',
].map((head) => Buffer.from(head, 'latin1'));

fuzzTargets('http proxy head', [
  { name: 'http target: parseAuthority', arbitrary: textInputs(AUTHORITIES), check: checkAuthority },
  { name: 'http target: parseAbsoluteTarget', arbitrary: textInputs(TARGETS), check: checkAbsoluteTarget },
  { name: 'http ip-address and address-class', arbitrary: textInputs(ADDRESSES), check: checkAddress },
  {
    name: 'http allowlist',
    arbitrary: fc.record({
      entries: fc.array(textInputs(ALLOW_RULES), { minLength: 1, maxLength: 6 }),
      host: textInputs(ADDRESSES),
      port: fc.oneof(fc.constantFrom(80, 443, 8080), fc.integer({ min: -1, max: 70_000 })),
    }),
    check: checkAllowlist,
  },
  { name: 'http response-head', arbitrary: byteInputs(heads), check: checkResponseHead },
  {
    name: 'http proxy-authorization',
    arbitrary: textInputs(['Basic YWxpY2U6cHc=', 'basic   Ym9iOnA6dzp4', 'Basic OnB3', 'Bearer abc', 'Basic w6lsw6h2ZTpwdw==']),
    check: checkCredentials,
  },
  {
    name: 'http tunnel-target and bearer',
    arbitrary: textInputs(['smtp.roamgate:1', 'http-proxy.roamgate:1', 'Bearer abc.DEF_123-~+/==', 'bearer  x ', 'pop3.roamgate:2']),
    check: checkTunnel,
  },
  {
    name: 'http status responses',
    arbitrary: fc.record({
      status: fc.oneof(fc.constantFrom(400, 403, 407, 408, 431, 502, 503, 504), fc.integer({ min: 100, max: 599 })),
      text: textInputs(['destination not allowed', 'too many clients\r\nX-Injected: 1']),
    }),
    check: checkResponse,
  },
]);
