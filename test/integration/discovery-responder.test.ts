import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  announcementPort,
  announcementTxt,
  DiscoveryResponder,
  DISCOVERY_ANSWERS_PER_SECOND,
  DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND,
  MAX_DNS_SD_INSTANCE_NAME_BYTES,
  MAX_TXT_ENTRY_BYTES,
  type DiscoveryResponderOptions,
} from '../../plugin/discovery-responder';
import { generateGatewayKey, newQuery, parseAnswer, verifyAnswer, type DiscoveryAnswer } from '../../protocols/discovery-message';
import { ManualClock } from '../helpers/clock';
import { idle, until } from '../helpers/until';

const KEY = generateGatewayKey();
const URL_OF_GATEWAY = 'http://127.0.0.1:8080/roamgate';
/** Long enough for any answer the responder would send to arrive over loopback. */
const SETTLE_MS = 150;

/** A discovery client on a loopback address: sends datagrams to the responder, keeps what comes back. */
class UdpClient {
  readonly received: Buffer[] = [];
  private constructor(private readonly socket: Socket) {
    socket.on('message', (data) => this.received.push(data));
  }
  static async open(address = '127.0.0.1', port = 0): Promise<UdpClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
    return new UdpClient(socket);
  }
  send(port: number, data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, port, '127.0.0.1', (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
  /** Sends a new query; resolves with its nonce. */
  async query(port: number): Promise<string> {
    const query = newQuery();
    await this.send(port, JSON.stringify(query));
    return query.nonce;
  }
  answers(): DiscoveryAnswer[] {
    return this.received.map((data) => parseAnswer(data)).filter((answer): answer is DiscoveryAnswer => answer !== null);
  }
  async waitForAnswers(count: number, timeoutMs = 5000): Promise<DiscoveryAnswer[]> {
    await until(
      () => this.received.length >= count,
      () => `${count} datagrams (have ${this.received.length})`,
      timeoutMs,
      5,
    );
    return this.answers();
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

describe('DiscoveryResponder', () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const item of opened.splice(0)) await item.close();
  });

  async function startResponder(
    options: Partial<DiscoveryResponderOptions> = {},
  ): Promise<{ responder: DiscoveryResponder; port: number; errors: unknown[] }> {
    const errors: unknown[] = [];
    const responder = new DiscoveryResponder({
      name: 'office',
      url: URL_OF_GATEWAY,
      privateKeyPem: KEY.privateKeyPem,
      host: '127.0.0.1',
      port: 0,
      onError: (error) => errors.push(error),
      ...options,
    });
    opened.push(responder);
    const { port } = await responder.start();
    return { responder, port, errors };
  }
  async function client(address?: string): Promise<UdpClient> {
    const udp = await UdpClient.open(address);
    opened.push(udp);
    return udp;
  }

  test('answers a query by unicast with an answer signed for its nonce', async () => {
    const { port, errors } = await startResponder();
    const udp = await client();
    const nonce = await udp.query(port);
    const [answer] = await udp.waitForAnswers(1);
    expect(answer).toMatchObject({ name: 'office', url: URL_OF_GATEWAY, nonce, publicKey: KEY.publicKey });
    expect(verifyAnswer(answer!, { nonce, now: Date.now(), trustedKey: KEY.publicKey })).toEqual({ ok: true });
    expect(errors).toEqual([]);
  });

  test('asks a url function for the URL at each answer', async () => {
    let url = 'http://127.0.0.1:8080/roamgate';
    const { port } = await startResponder({ url: () => url });
    const udp = await client();
    await udp.query(port);
    await udp.waitForAnswers(1);
    url = 'https://127.0.0.1:8443/roamgate';
    const nonce = await udp.query(port);
    const answers = await udp.waitForAnswers(2);
    expect(answers.map((answer) => answer.url)).toEqual(['http://127.0.0.1:8080/roamgate', 'https://127.0.0.1:8443/roamgate']);
    expect(verifyAnswer(answers[1]!, { nonce, now: Date.now(), trustedKey: KEY.publicKey })).toEqual({ ok: true });
  });

  test('gives no answer to anything but a query, keeps running, and answers the next query', async () => {
    const { port, errors } = await startResponder();
    const udp = await client();
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([0xff, 0x00, 0x7b, 0x22]),
      'discover',
      'null',
      '{"roamgate":"discover","version":1,"nonce":"short"}',
      JSON.stringify({ roamgate: 'discover', version: 2, nonce: newQuery().nonce }),
      // An answer sent back at the responder, as a reflection loop between two gateways would.
      JSON.stringify({
        roamgate: 'gateway',
        version: 1,
        name: 'x',
        url: 'http://x/',
        nonce: newQuery().nonce,
        issuedAt: 0,
        publicKey: '',
        signature: '',
      }),
      // A valid query padded past the datagram limit.
      JSON.stringify({ ...newQuery(), padding: 'x'.repeat(4000) }),
      Buffer.alloc(60_000, 0x41),
    ];
    for (const datagram of garbage) await udp.send(port, datagram);
    const nonce = await udp.query(port);
    await udp.waitForAnswers(1);
    // Datagrams are handled in order: an answer to any of the garbage would have come first.
    expect(udp.answers().map((answer) => answer.nonce)).toEqual([nonce]);
    expect(udp.received).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  test(`answers one source at most ${DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND} times a second, then again after a second`, async () => {
    const clock = new ManualClock();
    const { port } = await startResponder({ clock });
    const flooder = await client('127.0.0.1');
    const bystander = await client('127.0.0.2');
    for (let i = 0; i < 3 * DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND; i++) await flooder.query(port);
    await flooder.waitForAnswers(DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND);
    await idle(SETTLE_MS, 'the queries past the allowance must get no answer');
    expect(flooder.answers()).toHaveLength(DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND);
    // Another address has its own allowance.
    await bystander.query(port);
    await bystander.waitForAnswers(1);

    clock.advance(1_000);
    const nonce = await flooder.query(port);
    await flooder.waitForAnswers(DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND + 1);
    expect(flooder.answers()).toHaveLength(DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND + 1);
    expect(flooder.answers().at(-1)!.nonce).toBe(nonce);
  });

  test(`answers at most ${DISCOVERY_ANSWERS_PER_SECOND} queries a second in all, whatever their sources`, async () => {
    // The clock stands still: all the queries fall in one second, however long sending them takes.
    const { port } = await startResponder({ clock: new ManualClock() });
    const sources = Math.ceil(DISCOVERY_ANSWERS_PER_SECOND / DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND) + 2;
    const clients = await Promise.all(Array.from({ length: sources }, (_, i) => client(`127.0.0.${i + 2}`)));
    for (const udp of clients) for (let i = 0; i < DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND; i++) await udp.query(port);
    const answered = () => clients.reduce((sum, udp) => sum + udp.answers().length, 0);
    await until(
      () => answered() >= DISCOVERY_ANSWERS_PER_SECOND,
      () => `${DISCOVERY_ANSWERS_PER_SECOND} answers (have ${answered()})`,
    );
    await idle(3 * SETTLE_MS, 'the queries past the overall limit must get no answer');
    expect(answered()).toBe(DISCOVERY_ANSWERS_PER_SECOND);
  });

  // Binding a source port below 1024 needs privileges, so only root can play the forger here.
  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('ignores queries from privileged source ports (reflection into services such as DNS)', async () => {
    const { port } = await startResponder();
    const reflector = await UdpClient.open('127.0.0.1', 0);
    opened.push(reflector);
    let forged: UdpClient | undefined;
    for (const candidate of [1023, 1022, 999, 998]) {
      forged = await UdpClient.open('127.0.0.1', candidate).catch(() => undefined);
      if (forged) break;
    }
    if (!forged) throw new Error('no free privileged port to test with');
    opened.push(forged);
    await forged.query(port);
    await reflector.query(port);
    await reflector.waitForAnswers(1);
    await idle(SETTLE_MS, 'the forged query, sent first, must get no answer (on a socket of its own, so order proves nothing)');
    expect(forged.received).toEqual([]);
  });

  test('shares the port only with sockets asking to share it; close() frees it, and start() can bind it again', async () => {
    const { responder, port } = await startResponder();
    // The responder shares its port (reuseAddr) only with sockets that ask to share it.
    const sharer = await bindSocket(port, true);
    await new Promise<void>((resolve) => sharer.close(() => resolve()));
    await expect(bindExclusively(port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await responder.close();
    const socket = await bindExclusively(port);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    await responder.close();
    const again = new DiscoveryResponder({
      name: 'office',
      url: URL_OF_GATEWAY,
      privateKeyPem: KEY.privateKeyPem,
      host: '127.0.0.1',
      port,
    });
    opened.push(again);
    expect(await again.start()).toEqual({ port });
    const udp = await client();
    await udp.query(port);
    await udp.waitForAnswers(1);
  });

  test('start() rejects when the port is held exclusively by another socket, and close() is then harmless', async () => {
    const holder = await bindExclusively(0);
    const port = holder.address().port;
    try {
      const responder = new DiscoveryResponder({
        name: 'office',
        url: URL_OF_GATEWAY,
        privateKeyPem: KEY.privateKeyPem,
        host: '127.0.0.1',
        port,
      });
      await expect(responder.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await responder.close();
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  test('reports a url function that throws or gives a bad URL, sends nothing, and keeps answering', async () => {
    let url: () => string = () => {
      throw new Error('not listening yet');
    };
    const { port, errors } = await startResponder({ url: () => url() });
    const udp = await client();
    await udp.query(port);
    await until(() => errors.length === 1, 'the first error');
    url = () => 'javascript:alert(1)';
    await udp.query(port);
    await until(() => errors.length === 2, 'the second error');
    expect(errors).toEqual([
      expect.objectContaining({ message: 'not listening yet' }),
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS' }),
    ]);
    url = () => URL_OF_GATEWAY;
    const nonce = await udp.query(port);
    await udp.waitForAnswers(1);
    // Datagrams are handled in order: an answer to either query before would have come first.
    expect(udp.answers().map((answer) => answer.nonce)).toEqual([nonce]);
    expect(udp.received).toHaveLength(1);
  });
});

function bindExclusively(port: number): Promise<Socket> {
  return bindSocket(port, false);
}

function bindSocket(port: number, reuseAddr: boolean): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reuseAddr });
  return new Promise((resolve, reject) => {
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

describe('DiscoveryResponder options', () => {
  const valid: DiscoveryResponderOptions = { name: 'office', url: URL_OF_GATEWAY, privateKeyPem: KEY.privateKeyPem };

  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  test.each<[string, Partial<Record<keyof DiscoveryResponderOptions, unknown>>, string]>([
    ['an empty name', { name: '' }, 'discovery.name'],
    ['a name of 129 characters', { name: 'n'.repeat(129) }, 'discovery.name'],
    ['a name with a newline', { name: 'office\nsecond line' }, 'discovery.name'],
    ['a name with a lone surrogate', { name: 'office\ud800' }, 'discovery.name'],
    ['a url that is not http', { url: 'ftp://10.0.0.1/' }, 'discovery.url'],
    ['a url with a control character', { url: 'http://10.0.0.1/\u0000' }, 'discovery.url'],
    ['a url that does not parse', { url: 'http://[::1/' }, 'discovery.url'],
    ['a url that is a number', { url: 8080 }, 'discovery.url'],
    ['a private key that is not PEM', { privateKeyPem: 'secret' }, 'discovery.privateKeyPem'],
    [
      'a public key',
      { privateKeyPem: createPublicKey(KEY.privateKeyPem).export({ type: 'spki', format: 'pem' }) },
      'discovery.privateKeyPem',
    ],
    ['an RSA key', { privateKeyPem: rsaKey.export({ type: 'pkcs8', format: 'pem' }) }, 'discovery.privateKeyPem'],
    ['port 65536', { port: 65536 }, 'discovery.port'],
    ['a fractional port', { port: 1.5 }, 'discovery.port'],
    ['a host name as host', { host: 'localhost' }, 'discovery.host'],
    ['mdns as a string', { mdns: 'yes' }, 'discovery.mdns'],
    ['onError that is not a function', { onError: 'log' }, 'discovery.onError'],
    ['a clock without monotonic()', { clock: { now: () => 0 } }, 'discovery.clock'],
    // Within each field limit of parseAnswer, but three UTF-8 bytes a character make the answer too large for one datagram.
    [
      'a name and url too large for one datagram',
      { name: '\u20ac'.repeat(128), url: `http://h/${'\u20ac'.repeat(491)}` },
      'discovery.name and discovery.url',
    ],
  ])('reject %s', (_name, overrides, path) => {
    expect(() => new DiscoveryResponder({ ...valid, ...overrides } as DiscoveryResponderOptions)).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS', message: expect.stringContaining(path) }),
    );
  });
});

describe('mDNS announcement records', () => {
  const fields = { name: 'office', url: 'https://10.0.0.1:8443/roamgate', issuedAt: Date.now() };

  test('carry url, publicKey, issuedAt and signature, from which a browser rebuilds a verifiable answer', () => {
    const txt = announcementTxt(KEY.privateKeyPem, fields);
    expect(Object.keys(txt).sort()).toEqual(['issuedAt', 'publicKey', 'signature', 'url']);
    expect(txt).toMatchObject({ url: fields.url, publicKey: KEY.publicKey, issuedAt: String(fields.issuedAt) });
    // What a browser would do with the instance name and TXT record it resolved.
    const answer = parseAnswer(
      Buffer.from(JSON.stringify({ roamgate: 'gateway', version: 1, name: 'office', nonce: '', ...txt, issuedAt: Number(txt.issuedAt) })),
    );
    expect(answer).not.toBeNull();
    expect(verifyAnswer(answer!, { nonce: '', now: Date.now(), trustedKey: KEY.publicKey })).toEqual({ ok: true });
    // Under another instance name, or replayed as an answer to a query, it fails.
    expect(verifyAnswer({ ...answer!, name: 'office-2' }, { nonce: '', now: Date.now() })).toMatchObject({ ok: false });
    expect(verifyAnswer(answer!, { nonce: newQuery().nonce, now: Date.now() })).toMatchObject({ ok: false });
  });

  test('fit the DNS limits, or are refused', () => {
    const longest = `http://${'u'.repeat(MAX_TXT_ENTRY_BYTES - 'url='.length - 'http://'.length)}`;
    expect(announcementTxt(KEY.privateKeyPem, { ...fields, url: longest }).url).toBe(longest);
    expect(() => announcementTxt(KEY.privateKeyPem, { ...fields, url: `${longest}u` })).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS' }),
    );
    expect(() => announcementTxt(KEY.privateKeyPem, { ...fields, name: 'n'.repeat(MAX_DNS_SD_INSTANCE_NAME_BYTES) })).not.toThrow();
    expect(() => announcementTxt(KEY.privateKeyPem, { ...fields, name: '\u00e9'.repeat(32) })).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS' }),
    );
    expect(() => announcementTxt(KEY.privateKeyPem, { ...fields, name: 'office.lan' })).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS' }),
    );
  });

  test.each([
    ['http://10.0.0.1:8080/roamgate', 8080],
    ['http://10.0.0.1/roamgate', 80],
    ['https://gateway.lan/roamgate', 443],
  ])('give the port of %s as %d', (url, port) => {
    expect(announcementPort(url)).toBe(port);
  });
});
