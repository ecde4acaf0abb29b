import { createPrivateKey } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { isClock, systemClock, type Clock } from '../clock';
import { RoamgateError } from '../errors';
import { DEFAULT_DISCOVERY_PORT, MAX_DISCOVERY_MESSAGE_BYTES, parseQuery, signAnswer } from '../protocols/discovery-message';
import {
  DEFAULT_MDNS_PORT,
  MAX_DNS_SD_INSTANCE_NAME_BYTES,
  MAX_TXT_ENTRY_BYTES,
  type AnnouncementTxt,
} from '../protocols/mdns-announcement';
import { MdnsResponder } from './mdns-responder';

/** Address the responder binds to when none is given: every IPv4 interface, so LAN broadcasts arrive. */
export const DEFAULT_DISCOVERY_HOST = '0.0.0.0';
/**
 * Answers sent to one source address per second. An answer (~400 bytes) is
 * several times the size of a query (~70 bytes) and UDP source addresses can
 * be forged, so without a cap the responder would amplify traffic towards
 * whoever a forger names. Ten is far more than a real client needs.
 */
export const DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND = 10;
/**
 * Answers sent per second in all. Bounds the signing work and the traffic a
 * forger spreading queries over many source addresses can cause, and the size
 * of the per-source table (which never holds more addresses than this).
 */
export const DISCOVERY_ANSWERS_PER_SECOND = 200;
/**
 * Queries from source ports below this are ignored. Real clients query from
 * an ephemeral port; a forged query "from" port 53, 123 or 19 of some host
 * is an attempt to reflect the answer into that service.
 */
export const MIN_DISCOVERY_QUERY_SOURCE_PORT = 1024;
export { announcementPort, MAX_DNS_SD_INSTANCE_NAME_BYTES, MAX_TXT_ENTRY_BYTES } from '../protocols/mdns-announcement';

/** Length of a query nonce (16 bytes, base64), used to check that an answer will fit in a datagram. */
const QUERY_NONCE_LENGTH = 24;
const RATE_WINDOW_MS = 1_000;

/**
 * Options of {@link DiscoveryResponder}.
 * @example
 * new DiscoveryResponder({ name: 'office', url: 'http://10.0.0.1:8080/roamgate', privateKeyPem: readFileSync(keyFile, 'utf8') })
 */
export interface DiscoveryResponderOptions {
  /** The network's name, under which local proxies pin this gateway's key: 1-128 characters, no control characters. */
  name: string;
  /** The gateway's management URL (http or https), or a function giving it when an answer is made (e.g. once the HTTP port is known). */
  url: string | (() => string);
  /** The gateway's Ed25519 private key, PKCS#8 PEM (see `generateGatewayKey`). */
  privateKeyPem: string;
  /** UDP port to listen on; default {@link DEFAULT_DISCOVERY_PORT}; 0 picks a free port. */
  port?: number;
  /** Address to bind; default {@link DEFAULT_DISCOVERY_HOST}. An IPv6 address gives an IPv6 (dual-stack for `::`) socket. */
  host?: string;
  /**
   * Answer DNS-SD queries for `_roamgate._tcp.local` over mDNS as well (see
   * {@link MdnsResponder}): `true` for port 5353 on every interface, or
   * `{ port, interface }` (an interface's IPv4 address) to choose. Default off.
   * The name must then be at most 63 bytes without dots.
   */
  mdns?: boolean | DiscoveryMdnsOptions;
  /** Told of failures that do not stop the responder (a send failing, `url()` throwing or returning a bad URL). */
  onError?(error: unknown): void;
  /** What time it is, for the answers' issuedAt and the rate windows; default the system clock. A seam for tests. */
  clock?: Clock;
}

/** Where the mDNS side listens. */
export interface DiscoveryMdnsOptions {
  /** UDP port; default {@link DEFAULT_MDNS_PORT}. */
  port?: number;
  /** IPv4 address of the one interface to answer on; default every interface. */
  interface?: string;
}

interface ResolvedOptions {
  readonly name: string;
  readonly mdns: false | { readonly port: number; readonly interface?: string };
  readonly url: () => string;
  readonly privateKeyPem: string;
  readonly port: number;
  readonly host: string;
  readonly onError: (error: unknown) => void;
  readonly clock: Clock;
}

/**
 * The gateway's side of LAN discovery: answers each discovery query (UDP,
 * usually broadcast) with a signed answer sent by unicast to the asker.
 * Anything that is not a valid query is ignored without a reply. With `mdns`,
 * it also answers DNS-SD browsing for `_roamgate._tcp.local` with signed
 * records ({@link MdnsResponder}), within the same per-address limits.
 * @example
 * const responder = new DiscoveryResponder({ name: 'office', url: 'http://10.0.0.1:8080/roamgate', privateKeyPem });
 * await responder.start();
 * // ...
 * await responder.close();
 */
export class DiscoveryResponder {
  private readonly options: ResolvedOptions;
  private starting?: Promise<{ port: number }>;
  private socket?: Socket;
  private windowStart = -Infinity;
  private answersInWindow = 0;
  private readonly answersBySource = new Map<string, number>();
  private readonly mdns?: MdnsResponder;

  constructor(options: DiscoveryResponderOptions) {
    this.options = resolveOptions(options);
    const { name, privateKeyPem, mdns, onError, clock } = this.options;
    if (mdns) {
      this.mdns = new MdnsResponder({
        name,
        url: () => checkUrl(this.options.url(), 'discovery.url()'),
        sign: (url) => announcementTxt(privateKeyPem, { name, url, issuedAt: clock.now() }),
        port: mdns.port,
        ...(mdns.interface === undefined ? {} : { interface: mdns.interface }),
        // One budget for both kinds of answer: a forger gains nothing by asking both ways.
        allowUnicast: (address) => this.takeAnswer(address),
        minQuerySourcePort: MIN_DISCOVERY_QUERY_SOURCE_PORT,
        onError,
        clock,
      });
    }
  }

  /** Binds the UDP socket (and starts the mDNS side); resolves with the bound port. Calling it again while started gives the same port. */
  start(): Promise<{ port: number }> {
    this.starting ??= this.bind().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /** Closes the socket, freeing the port (the mDNS side says goodbye first). Safe to call when not started. */
  async close(): Promise<void> {
    const starting = this.starting;
    if (!starting) return;
    this.starting = undefined;
    try {
      await starting;
    } catch {
      return;
    }
    await this.mdns?.close();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private async bind(): Promise<{ port: number }> {
    const { host, port } = this.options;
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      socket.close();
      throw error;
    }
    try {
      await this.mdns?.start();
    } catch (error) {
      socket.close();
      throw error;
    }
    socket.on('error', (error) => this.options.onError(error));
    socket.on('message', (data, from) => this.onDatagram(socket, data, from));
    this.socket = socket;
    return { port: socket.address().port };
  }

  private onDatagram(socket: Socket, data: Buffer, from: RemoteInfo): void {
    if (from.port < MIN_DISCOVERY_QUERY_SOURCE_PORT) return;
    const query = parseQuery(data);
    if (!query || !this.takeAnswer(from.address)) return;
    try {
      const { privateKeyPem, name, clock } = this.options;
      const answer = encodeAnswer(privateKeyPem, name, checkUrl(this.options.url(), 'discovery.url()'), query.nonce, clock.now());
      socket.send(answer, from.port, from.address, (error) => {
        if (error) this.options.onError(error);
      });
    } catch (error) {
      this.options.onError(error);
    }
  }

  /**
   * Counts an answer to `address` against the limits; false when over them.
   * Fixed one-second windows: simple and bounded (the table is cleared with
   * each window), at the cost of allowing twice the rate across a boundary.
   */
  private takeAnswer(address: string): boolean {
    const now = this.options.clock.monotonic();
    if (now - this.windowStart >= RATE_WINDOW_MS) {
      this.windowStart = now;
      this.answersInWindow = 0;
      this.answersBySource.clear();
    }
    if (this.answersInWindow >= DISCOVERY_ANSWERS_PER_SECOND) return false;
    const answered = this.answersBySource.get(address) ?? 0;
    if (answered >= DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND) return false;
    this.answersBySource.set(address, answered + 1);
    this.answersInWindow++;
    return true;
  }
}

/**
 * The TXT record of an mDNS/DNS-SD announcement of the gateway (service type
 * `_roamgate._tcp`, instance name = `name`): signed like a query answer, with
 * nonce "". A browser rebuilds the answer from the instance name and these
 * entries and checks it with `verifyAnswer(answer, { nonce: '', now })`.
 * Throws when the name cannot be an instance name or an entry exceeds a
 * DNS character-string.
 */
export function announcementTxt(privateKeyPem: string, fields: { name: string; url: string; issuedAt: number }): AnnouncementTxt {
  checkInstanceName(fields.name);
  const answer = signAnswer(privateKeyPem, { ...fields, nonce: '' });
  const txt = { url: answer.url, publicKey: answer.publicKey, issuedAt: String(answer.issuedAt), signature: answer.signature };
  for (const [key, value] of Object.entries(txt)) {
    if (Buffer.byteLength(`${key}=${value}`, 'utf8') > MAX_TXT_ENTRY_BYTES)
      invalid(`discovery.url is too long for an mDNS TXT record (at most ${MAX_TXT_ENTRY_BYTES - 'url='.length} bytes)`);
  }
  return txt;
}

function checkInstanceName(name: string): void {
  // dns-packet and bonjour-service take "." as a label separator (bonjour-service
  // rewrites it to "-"), which would change the signed name.
  if (Buffer.byteLength(name, 'utf8') > MAX_DNS_SD_INSTANCE_NAME_BYTES || name.includes('.')) {
    invalid(`discovery.name must be at most ${MAX_DNS_SD_INSTANCE_NAME_BYTES} bytes without "." to be announced by mDNS`);
  }
}

function encodeAnswer(privateKeyPem: string, name: string, url: string, nonce: string, issuedAt: number): Buffer {
  const answer = Buffer.from(JSON.stringify(signAnswer(privateKeyPem, { name, url, nonce, issuedAt })), 'utf8');
  // A receiver drops larger datagrams unread (parseAnswer), so sending one would only waste the query.
  if (answer.length > MAX_DISCOVERY_MESSAGE_BYTES)
    invalid(`discovery.name and discovery.url make an answer of ${answer.length} bytes; at most ${MAX_DISCOVERY_MESSAGE_BYTES} fit`);
  return answer;
}

/** Checks a URL against what parseAnswer accepts, and that it is a URL at all. */
function checkUrl(url: unknown, path: string): string {
  if (typeof url !== 'string' || !/^https?:\/\/[^\s]{1,500}$/.test(url) || /\p{Cc}/u.test(url) || !URL.canParse(url)) {
    invalid(`${path} must be an http or https URL, at most 500 characters after the "://"`);
  }
  return url;
}

function resolveOptions(options: DiscoveryResponderOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) invalid('discovery must be an object');
  const {
    name,
    url,
    privateKeyPem,
    port = DEFAULT_DISCOVERY_PORT,
    host = DEFAULT_DISCOVERY_HOST,
    mdns: mdnsOption = false,
    onError,
  } = options;
  const { clock = systemClock } = options;
  if (typeof name !== 'string' || name.length < 1 || name.length > 128 || /[\p{Cc}\p{Cs}]/u.test(name)) {
    invalid('discovery.name must be 1-128 characters without control characters');
  }
  if (typeof url === 'string') checkUrl(url, 'discovery.url');
  else if (typeof url !== 'function') invalid('discovery.url must be a URL or a function returning one');
  if (typeof privateKeyPem !== 'string' || !isEd25519PrivateKey(privateKeyPem))
    invalid('discovery.privateKeyPem must be an Ed25519 private key (PKCS#8 PEM)');
  if (!Number.isInteger(port) || port < 0 || port > 65535) invalid('discovery.port must be an integer 0-65535 (0 picks a free port)');
  if (typeof host !== 'string' || isIP(host) === 0) invalid('discovery.host must be an IP address');
  const mdns = resolveMdns(mdnsOption);
  if (onError !== undefined && typeof onError !== 'function') invalid('discovery.onError must be a function');
  if (!isClock(clock)) invalid('discovery.clock must be a Clock (with now() and monotonic())');
  if (typeof url === 'string') encodeAnswer(privateKeyPem, name, url, 'x'.repeat(QUERY_NONCE_LENGTH), clock.now());
  // The same checks an announcement makes when it is sent, made now: a name or URL that cannot be announced is an options error.
  if (mdns && typeof url === 'string') announcementTxt(privateKeyPem, { name, url, issuedAt: 0 });
  else if (mdns) checkInstanceName(name);
  return Object.freeze({
    name,
    mdns,
    url: typeof url === 'string' ? () => url : url,
    privateKeyPem,
    port,
    host,
    clock,
    onError: (error: unknown) => {
      try {
        onError?.(error);
      } catch {
        // It is called from socket events, where a throw would end the process.
      }
    },
  });
}

function resolveMdns(option: unknown): ResolvedOptions['mdns'] {
  if (option === false) return false;
  if (option === true) return Object.freeze({ port: DEFAULT_MDNS_PORT });
  if (typeof option !== 'object' || option === null || Array.isArray(option))
    invalid('discovery.mdns must be true, false or { port, interface }');
  const { port = DEFAULT_MDNS_PORT, interface: address, ...rest } = option as DiscoveryMdnsOptions;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) invalid(`discovery.mdns.${unknown} is not an option (port, interface)`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) invalid('discovery.mdns.port must be an integer 1-65535');
  if (address !== undefined && (typeof address !== 'string' || isIP(address) !== 4))
    invalid('discovery.mdns.interface must be the IPv4 address of an interface');
  return Object.freeze({ port, ...(address === undefined ? {} : { interface: address }) });
}

function isEd25519PrivateKey(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

function invalid(message: string): never {
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message);
}
