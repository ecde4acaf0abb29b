import { createSocket } from 'node:dgram';
import type { SrvAnswer, StringAnswer, TxtAnswer } from 'dns-packet';
import {
  DiscoveryResponder,
  DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND,
  type DiscoveryResponderOptions,
} from '../../plugin/discovery-responder';
import { generateGatewayKey, verifyAnswer } from '../../protocols/discovery-message';
import {
  announcementsIn,
  ANNOUNCEMENT_TTL_SECONDS,
  LEGACY_UNICAST_TTL_SECONDS,
  SERVICE_ENUMERATION,
  SERVICE_TYPE,
  parseTxt,
} from '../../protocols/mdns-announcement';
import { queryByMdns } from '../../local/mdns-discovery';
import type { HeardAnswer } from '../../local/discovery-transport';
import { MDNS_ANNOUNCEMENTS, MDNS_MULTICAST_INTERVAL_MS } from '../../plugin/mdns-responder';
import { ManualClock } from '../helpers/clock';
import { freeUdpPort, RawMdnsPeer, recordsOf } from '../helpers/mdns';
import { idle, until } from '../helpers/until';

const KEY = generateGatewayKey();
const URL_OF_GATEWAY = 'http://127.0.0.1:8080/roamgate';
const INSTANCE = `office.${SERVICE_TYPE}`;
/** Long enough for any answer the responder would send to arrive over loopback. */
const SETTLE_MS = 150;

describe('DiscoveryResponder with mDNS (on loopback, on a port of its own)', () => {
  let mdnsPort: number;
  const opened: Array<{ close(): Promise<void> }> = [];
  beforeEach(async () => {
    mdnsPort = await freeUdpPort();
  });
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
  });

  async function startResponder(
    options: Partial<DiscoveryResponderOptions> = {},
  ): Promise<{ responder: DiscoveryResponder; errors: unknown[] }> {
    const errors: unknown[] = [];
    const responder = new DiscoveryResponder({
      name: 'office',
      url: URL_OF_GATEWAY,
      privateKeyPem: KEY.privateKeyPem,
      host: '127.0.0.1',
      port: 0,
      mdns: { port: mdnsPort, interface: '127.0.0.1' },
      onError: (error) => errors.push(error),
      ...options,
    });
    opened.push(responder);
    await responder.start();
    return { responder, errors };
  }
  async function peer(options: Parameters<typeof RawMdnsPeer.open>[1] = {}): Promise<RawMdnsPeer> {
    const opened_ = await RawMdnsPeer.open(mdnsPort, options);
    opened.push(opened_);
    return opened_;
  }

  test('a one-shot query gets a unicast answer: PTR, SRV, TXT signed just now, A; TTL 10 s; the id and question repeated', async () => {
    const { errors } = await startResponder();
    const asker = await peer();
    const before = Date.now();
    await asker.query(SERVICE_TYPE, 'PTR', 4242);
    const [{ packet, from }] = await asker.waitForResponses(1);
    expect(from.port).toBe(mdnsPort);
    expect(packet).toMatchObject({ id: 4242, questions: [{ name: SERVICE_TYPE, type: 'PTR', class: 'IN' }] });
    expect(packet.answers).toEqual([expect.objectContaining({ name: SERVICE_TYPE, type: 'PTR', data: INSTANCE })]);
    const records = recordsOf(packet);
    for (const record of records) {
      expect((record as StringAnswer).ttl).toBe(LEGACY_UNICAST_TTL_SECONDS);
      // RFC 6762 §6.7: no cache-flush bit in legacy unicast answers.
      expect((record as StringAnswer).flush).toBe(false);
    }
    const srv = records.find((record) => record.type === 'SRV') as SrvAnswer;
    expect(srv).toMatchObject({ name: INSTANCE, data: { port: 8080, target: 'roamgate-127-0-0-1.local' } });
    expect(records.find((record) => record.type === 'A')).toMatchObject({ name: 'roamgate-127-0-0-1.local', data: '127.0.0.1' });
    const txt = parseTxt((records.find((record) => record.type === 'TXT') as TxtAnswer).data)!;
    expect(txt).toMatchObject({ url: URL_OF_GATEWAY, publicKey: KEY.publicKey });
    expect(txt.issuedAt).toBeGreaterThanOrEqual(before);
    expect(txt.issuedAt).toBeLessThanOrEqual(Date.now());
    const [answer] = announcementsIn(records);
    expect(verifyAnswer(answer!, { nonce: '', now: Date.now(), trustedKey: KEY.publicKey })).toEqual({ ok: true });
    expect(errors).toEqual([]);
  });

  test('each answer is signed anew (a later one has a later issuedAt)', async () => {
    const clock = new ManualClock();
    await startResponder({ clock });
    const asker = await peer();
    await asker.query(SERVICE_TYPE);
    await asker.waitForResponses(1);
    clock.advance(20);
    await asker.query(SERVICE_TYPE);
    const [first, second] = (await asker.waitForResponses(2)).map(({ packet }) => announcementsIn(recordsOf(packet))[0]!);
    expect(second.issuedAt).toBeGreaterThan(first.issuedAt);
    expect(second.signature).not.toBe(first.signature);
  });

  test('answers SRV and TXT for the instance, the service type enumeration, and nothing about other names', async () => {
    await startResponder();
    const asker = await peer();
    await asker.query('_http._tcp.local');
    await asker.query('other._roamgate._tcp.local', 'TXT');
    await asker.query('roamgate-127-0-0-1.local', 'AAAA');

    await asker.query(INSTANCE, 'TXT', 1);
    await asker.query(SERVICE_ENUMERATION, 'PTR', 2);
    await asker.query('ROAMGATE-127-0-0-1.local', 'A', 3);
    const responses = await asker.waitForResponses(3);
    // Queries are handled in order: an answer to any of the first three (id 0) would have come first.
    expect(responses.map(({ packet }) => packet.id)).toEqual([1, 2, 3]);
    const byId = (id: number) => responses.find(({ packet }) => packet.id === id)!.packet;
    expect(byId(1).answers!.map((record) => record.type)).toEqual(['TXT']);
    expect(byId(2).answers).toEqual([expect.objectContaining({ name: SERVICE_ENUMERATION, type: 'PTR', data: SERVICE_TYPE })]);
    expect(byId(3).answers).toEqual([expect.objectContaining({ type: 'A', data: '127.0.0.1' })]);
  });

  test('a query from the mDNS port gets a multicast answer (TTL 120 s, cache-flush on unique records), at most one a second', async () => {
    const clock = new ManualClock();
    const member = await peer({ onPort: true });
    // The start-up announcements go by (one at start, one on a timer a second later, let out by the clock), and a second more.
    await startResponder({ clock });
    clock.advance(MDNS_MULTICAST_INTERVAL_MS);
    await member.waitForResponses(MDNS_ANNOUNCEMENTS);
    clock.advance(MDNS_MULTICAST_INTERVAL_MS);
    const before = member.responses().length;
    await member.query(SERVICE_TYPE);
    await member.query(SERVICE_TYPE);
    await member.waitForResponses(before + 1);
    await idle(SETTLE_MS, 'the second query, in the same second, must get no answer');
    const answers = member.responses().slice(before);
    expect(answers).toHaveLength(1);
    const { packet, from } = answers[0];
    expect(from.port).toBe(mdnsPort);
    for (const record of recordsOf(packet)) expect((record as StringAnswer).ttl).toBe(ANNOUNCEMENT_TTL_SECONDS);
    expect(
      recordsOf(packet)
        .filter((record) => (record as StringAnswer).flush)
        .map((record) => record.type)
        .sort(),
    ).toEqual(['A', 'SRV', 'TXT']);
    expect(announcementsIn(recordsOf(packet))).toHaveLength(1);
  });

  test('announces itself unasked when it starts, and says goodbye (TTL 0) when it stops', async () => {
    const member = await peer({ onPort: true });
    const { responder } = await startResponder();
    const [announcement] = await member.waitForResponses(1);
    expect(announcementsIn(recordsOf(announcement.packet))).toEqual([expect.objectContaining({ name: 'office', url: URL_OF_GATEWAY })]);
    await member.waitForResponses(2);
    const count = member.responses().length;
    await responder.close();
    await member.waitForResponses(count + 1);
    const goodbye = member.responses()[count].packet;
    expect(goodbye.answers!.length).toBeGreaterThan(0);
    for (const record of goodbye.answers!) expect((record as StringAnswer).ttl).toBe(0);
  });

  test(`shares the per-source limit with UDP answers (${DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND} a second)`, async () => {
    // The clock stands still: all the queries fall in one second.
    await startResponder({ clock: new ManualClock() });
    const asker = await peer();
    for (let i = 0; i < 3 * DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND; i++) await asker.query(SERVICE_TYPE, 'PTR', i);
    await asker.waitForResponses(DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND);
    await idle(SETTLE_MS, 'the queries past the limit must get no answer');
    expect(asker.responses()).toHaveLength(DISCOVERY_ANSWERS_PER_SOURCE_PER_SECOND);
  });

  // Binding a source port below 1024 needs privileges, so only root can play the forger here.
  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('ignores one-shot queries from privileged source ports (reflection into other services)', async () => {
    await startResponder();
    let forged: RawMdnsPeer | undefined;
    for (const sourcePort of [1023, 1022, 999, 998]) {
      forged = await peer({ sourcePort }).catch(() => undefined);
      if (forged) break;
    }
    if (!forged) throw new Error('no free privileged port to test with');
    const genuine = await peer();
    await forged.query(SERVICE_TYPE);
    await genuine.query(SERVICE_TYPE);
    await genuine.waitForResponses(1);
    await idle(SETTLE_MS, 'the forged query, sent first, must get no answer (on a socket of its own, so order proves nothing)');
    expect(forged.responses()).toEqual([]);
  });

  test('queryByMdns (the local proxy side) hears the signed announcement', async () => {
    await startResponder();
    const heard: HeardAnswer[] = [];
    const errors: string[] = [];
    const transport = queryByMdns(
      { port: mdnsPort, interfaces: ['127.0.0.1'], windowMs: 300 },
      { onAnswer: (answer) => heard.push(answer), onSendError: (message) => errors.push(message) },
    );
    try {
      await until(() => heard.length > 0, 'the announcement', 3_000);
    } finally {
      transport.close();
    }
    expect(errors).toEqual([]);
    expect(heard[0]).toMatchObject({
      via: 'mdns',
      nonce: '',
      from: `127.0.0.1:${mdnsPort}`,
      answer: { name: 'office', url: URL_OF_GATEWAY, publicKey: KEY.publicKey },
    });
    expect(verifyAnswer(heard[0].answer, { nonce: '', now: Date.now() })).toEqual({ ok: true });
  });

  test('queryByMdns reports an interface it cannot ask on, and asks on the others', async () => {
    await startResponder();
    const heard: HeardAnswer[] = [];
    const errors: string[] = [];
    // 192.0.2.0/24 is TEST-NET-1: no interface here has that address, so the socket cannot be bound to it.
    const transport = queryByMdns(
      { port: mdnsPort, interfaces: ['192.0.2.123', '127.0.0.1'], windowMs: 300 },
      { onAnswer: (answer) => heard.push(answer), onSendError: (message) => errors.push(message) },
    );
    try {
      await until(() => heard.length > 0 && errors.length > 0, 'an answer and the error', 3_000);
    } finally {
      transport.close();
    }
    expect(errors).toEqual([expect.stringMatching(/^mDNS on 192\.0\.2\.123: EADDRNOTAVAIL/)]);
    expect(heard.length).toBeGreaterThan(0);
  });

  test("start() rejects naming the option when the interface is not this machine's, or the port is held exclusively", async () => {
    const wrongInterface = new DiscoveryResponder({
      name: 'office',
      url: URL_OF_GATEWAY,
      privateKeyPem: KEY.privateKeyPem,
      host: '127.0.0.1',
      port: 0,
      mdns: { port: mdnsPort, interface: '192.0.2.123' },
    });
    await expect(wrongInterface.start()).rejects.toMatchObject({
      code: 'ROAMGATE_INVALID_OPTIONS',
      message: expect.stringMatching(/^discovery\.mdns\.interface: cannot use 192\.0\.2\.123 for mDNS \(/),
    });
    await wrongInterface.close();

    const holder = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => holder.bind(mdnsPort, '0.0.0.0', resolve));
    try {
      const blocked = new DiscoveryResponder({
        name: 'office',
        url: URL_OF_GATEWAY,
        privateKeyPem: KEY.privateKeyPem,
        host: '127.0.0.1',
        port: 0,
        mdns: { port: mdnsPort, interface: '127.0.0.1' },
      });
      await expect(blocked.start()).rejects.toMatchObject({
        code: 'ROAMGATE_INVALID_OPTIONS',
        message: `discovery.mdns: cannot listen on UDP port ${mdnsPort} (EADDRINUSE)`,
      });
      await blocked.close();
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});

describe('DiscoveryResponder mDNS options', () => {
  const valid: DiscoveryResponderOptions = { name: 'office', url: URL_OF_GATEWAY, privateKeyPem: KEY.privateKeyPem };
  test.each<[string, Partial<Record<keyof DiscoveryResponderOptions, unknown>>, string]>([
    ['mdns as a string', { mdns: 'yes' }, 'discovery.mdns must be true, false or { port, interface }'],
    ['an unknown mdns option', { mdns: { prot: 5353 } }, 'discovery.mdns.prot is not an option (port, interface)'],
    ['mdns port 0', { mdns: { port: 0 } }, 'discovery.mdns.port must be an integer 1-65535'],
    ['an interface that is a name', { mdns: { interface: 'eth0' } }, 'discovery.mdns.interface must be the IPv4 address of an interface'],
    [
      'a name with a dot, announced by mDNS',
      { mdns: true, name: 'office.lan' },
      'discovery.name must be at most 63 bytes without "." to be announced by mDNS',
    ],
    ['a name too long for a DNS label', { mdns: true, name: '\u00e9'.repeat(32) }, 'discovery.name must be at most 63 bytes'],
    [
      'a URL too long for a TXT entry',
      { mdns: true, url: `http://h/${'u'.repeat(250)}` },
      'discovery.url is too long for an mDNS TXT record',
    ],
  ])('reject %s', (_name, overrides, message) => {
    expect(() => new DiscoveryResponder({ ...valid, ...overrides } as DiscoveryResponderOptions)).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS', message: expect.stringContaining(message) }),
    );
  });

  test('the same name and URL are fine without mDNS', () => {
    expect(() => new DiscoveryResponder({ ...valid, name: 'office.lan', url: `http://h/${'u'.repeat(250)}` })).not.toThrow();
  });
});
