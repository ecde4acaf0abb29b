import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import type { Answer, Question } from 'dns-packet';
import { announcementTxt } from '../../plugin/discovery-responder';
import { generateGatewayKey, MAX_ANSWER_SKEW_MS, NETWORK_NAME, verifyAnswer } from '../../protocols/discovery-message';
import {
  announcementHost,
  announcementRecords,
  announcementsIn,
  ANNOUNCEMENT_TTL_SECONDS,
  buildRecords,
  encodeTxt,
  instanceName,
  isOnLink,
  MAX_ANNOUNCEMENTS_PER_RESPONSE,
  MAX_TXT_ENTRIES,
  parseTxt,
  planAnswer,
  sameDomain,
  SERVICE_ENUMERATION,
  SERVICE_TYPE,
  type Announcement,
  type AnnouncementTxt,
  type RecordKind,
} from '../../protocols/mdns-announcement';
import { anyText } from './arbitraries';

const GATEWAY = generateGatewayKey();
const OTHER = generateGatewayKey();
const NOW = 1_760_000_000_000;
const URL_OF_GATEWAY = 'http://10.0.0.1:8080/roamgate';
const TXT = announcementTxt(GATEWAY.privateKeyPem, { name: 'office', url: URL_OF_GATEWAY, issuedAt: NOW });
const ANNOUNCEMENT: Announcement = { name: 'office', txt: TXT, ttl: ANNOUNCEMENT_TTL_SECONDS, flush: true };
const INSTANCE = `office.${SERVICE_TYPE}`;
const entries = (...texts: string[]) => texts.map((text) => Buffer.from(text, 'utf8'));
const signedEntries = [`url=${TXT.url}`, `publicKey=${TXT.publicKey}`, `issuedAt=${TXT.issuedAt}`, `signature=${TXT.signature}`];
const FIELDS = { url: TXT.url, publicKey: TXT.publicKey, issuedAt: NOW, signature: TXT.signature };

/** Records as they come off the wire: encoded and decoded by dns-packet, as multicast-dns does. */
function throughTheWire(answers: Answer[], additionals: Answer[] = []): Answer[] {
  const packet = dnsPacket.decode(dnsPacket.encode({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, answers, additionals }));
  return [...(packet.answers ?? []), ...(packet.additionals ?? [])];
}

describe('parseTxt', () => {
  test('reads the signed fields back from encodeTxt', () => {
    expect(parseTxt(encodeTxt(TXT))).toEqual(FIELDS);
  });

  test.each<[string, unknown, ReturnType<typeof parseTxt>]>([
    ['the entries in any order', entries(...[...signedEntries].reverse()), FIELDS],
    [
      'keys in another case (RFC 6763 §6.4: case-insensitive)',
      entries(...signedEntries.map((entry) => entry.replace(/^[^=]+/, (key) => key.toUpperCase()))),
      FIELDS,
    ],
    ['a repeated key: the first counts', entries(...signedEntries, `url=http://10.6.6.6/roamgate`, 'ISSUEDAT=1'), FIELDS],
    [
      'entries that are not key=value, and unknown keys, among them',
      entries('txtvers=1', 'flag', '', '=value', ...signedEntries, 'other=x'),
      FIELDS,
    ],
    ['strings rather than Buffers', [...signedEntries], FIELDS],
    ['a value containing "="', entries(`url=${TXT.url}?a=b`, ...signedEntries.slice(1)), { ...FIELDS, url: `${TXT.url}?a=b` }],
    ['issuedAt 0', entries(...signedEntries.slice(0, 2), 'issuedAt=0', signedEntries[3]), { ...FIELDS, issuedAt: 0 }],
    ['no url', entries(...signedEntries.slice(1)), null],
    ['no publicKey', entries(signedEntries[0], ...signedEntries.slice(2)), null],
    ['no issuedAt', entries(...signedEntries.slice(0, 2), signedEntries[3]), null],
    ['no signature', entries(...signedEntries.slice(0, 3)), null],
    ['a key with a control character', entries(...signedEntries.slice(1), `u\u0001rl=${TXT.url}`), null],
    ['a key outside ASCII (not the same key)', entries(...signedEntries.slice(1), `\u00fcrl=${TXT.url}`), null],
    [
      'a value that is not UTF-8',
      [Buffer.concat([Buffer.from('url=http://h/'), Buffer.from([0xff, 0xfe])]), ...entries(...signedEntries.slice(1))],
      null,
    ],
    ['issuedAt empty', entries(...signedEntries.slice(0, 2), 'issuedAt=', signedEntries[3]), null],
    ['issuedAt with a leading zero', entries(...signedEntries.slice(0, 2), `issuedAt=0${NOW}`, signedEntries[3]), null],
    ['issuedAt negative', entries(...signedEntries.slice(0, 2), `issuedAt=-${NOW}`, signedEntries[3]), null],
    ['issuedAt fractional', entries(...signedEntries.slice(0, 2), `issuedAt=${NOW}.5`, signedEntries[3]), null],
    ['issuedAt with spaces', entries(...signedEntries.slice(0, 2), `issuedAt= ${NOW}`, signedEntries[3]), null],
    ['issuedAt beyond safe integers', entries(...signedEntries.slice(0, 2), 'issuedAt=9007199254740993', signedEntries[3]), null],
    [
      'the signed fields after the entries read',
      entries(...Array.from({ length: MAX_TXT_ENTRIES }, (_, i) => `pad${i}=x`), ...signedEntries),
      null,
    ],
    ['a number', 42, null],
    ['null', null, null],
    ['an object', { url: TXT.url }, null],
    ['an array of numbers', [1, 2, 3], null],
  ])('%s', (_name, data, expected) => {
    expect(parseTxt(data)).toEqual(expected);
  });
});

describe('names', () => {
  test.each<[string, string | null]>([
    [INSTANCE, 'office'],
    [`${INSTANCE}.`, 'office'],
    ['Office._ROAMGATE._tcp.Local', 'Office'],
    ['caf\u00e9 du coin._roamgate._tcp.local', 'caf\u00e9 du coin'],
    ['office.lan._roamgate._tcp.local', null],
    ['._roamgate._tcp.local', null],
    ['_roamgate._tcp.local', null],
    ['office._http._tcp.local', null],
    ['office._roamgate._udp.local', null],
  ])('instanceName(%j) is %j', (domain, name) => {
    expect(instanceName(domain)).toBe(name);
  });

  test.each<[string, string, boolean]>([
    ['_roamgate._tcp.local', '_ROAMGATE._TCP.LOCAL', true],
    ['_roamgate._tcp.local.', '_roamgate._tcp.local', true],
    ['caf\u00c9.local', 'caf\u00e9.local', false], // DNS folds ASCII case only
    ['a.local', 'b.local', false],
  ])('sameDomain(%j, %j) is %s', (a, b, same) => {
    expect(sameDomain(a, b)).toBe(same);
  });

  test.each<[string, ReturnType<typeof announcementHost>]>([
    ['http://10.0.0.1:8080/roamgate', { host: 'roamgate-10-0-0-1.local', address: { type: 'A', data: '10.0.0.1' } }],
    ['https://[fe80::1]/roamgate', { host: 'roamgate-fe80--1.local', address: { type: 'AAAA', data: 'fe80::1' } }],
    ['https://gateway.example.org/roamgate', { host: 'gateway.example.org' }],
    ['http://gateway.local:8080/', { host: 'gateway.local' }],
    [`http://${'x'.repeat(64)}.example/`, { host: 'roamgate.local' }],
  ])('announcementHost(%j)', (url, expected) => {
    expect(announcementHost(url)).toEqual(expected);
  });
});

describe('planAnswer and buildRecords', () => {
  const gateway = { name: 'office', url: URL_OF_GATEWAY };
  const q = (name: string, type: string, klass?: string): Question => ({ name, type, ...(klass ? { class: klass } : {}) }) as Question;

  test.each<[string, Question[], { answers: RecordKind[]; additionals: RecordKind[] } | null]>([
    [
      'PTR for the service type: the PTR, and SRV, TXT, A to go with it',
      [q(SERVICE_TYPE, 'PTR', 'IN')],
      { answers: ['ptr'], additionals: ['srv', 'txt', 'address'] },
    ],
    ['ANY for the service type', [q(SERVICE_TYPE, 'ANY')], { answers: ['ptr'], additionals: ['srv', 'txt', 'address'] }],
    [
      'the service type in capitals with a trailing dot',
      [q('_ROAMGATE._TCP.LOCAL.', 'PTR')],
      { answers: ['ptr'], additionals: ['srv', 'txt', 'address'] },
    ],
    [
      'the unicast-response bit set (class as dns-packet decodes it)',
      [q(SERVICE_TYPE, 'PTR', 'UNKNOWN_32769')],
      { answers: ['ptr'], additionals: ['srv', 'txt', 'address'] },
    ],
    ['class CH', [q(SERVICE_TYPE, 'PTR', 'CH')], null],
    ['SRV of the instance', [q(INSTANCE, 'SRV')], { answers: ['srv'], additionals: ['address'] }],
    ['TXT of the instance', [q(INSTANCE, 'TXT')], { answers: ['txt'], additionals: [] }],
    ['ANY of the instance', [q(INSTANCE, 'ANY')], { answers: ['srv', 'txt'], additionals: ['address'] }],
    ['A of the host', [q('roamgate-10-0-0-1.local', 'A')], { answers: ['address'], additionals: [] }],
    ['AAAA of the host (it has none)', [q('roamgate-10-0-0-1.local', 'AAAA')], null],
    ['service type enumeration', [q(SERVICE_ENUMERATION, 'PTR')], { answers: ['enumeration'], additionals: [] }],
    ['another service', [q('_http._tcp.local', 'PTR')], null],
    ['another instance', [q(`other.${SERVICE_TYPE}`, 'TXT')], null],
    ['A for the service type', [q(SERVICE_TYPE, 'A')], null],
    [
      'the same question twice, and a PTR with SRV: each record once',
      [q(SERVICE_TYPE, 'PTR'), q(SERVICE_TYPE, 'PTR'), q(INSTANCE, 'SRV')],
      { answers: ['ptr', 'srv'], additionals: ['txt', 'address'] },
    ],
    ['no questions', [], null],
  ])('%s', (_name, questions, expected) => {
    const plan = planAnswer(questions, gateway);
    if (expected === null) expect(plan).toBeNull();
    else expect(plan).toMatchObject(expected);
  });

  test('repeats only the questions it answers, with class IN', () => {
    expect(planAnswer([q('_http._tcp.local', 'PTR'), q(SERVICE_TYPE, 'PTR', 'UNKNOWN_32769')], gateway)!.questions).toEqual([
      { name: SERVICE_TYPE, type: 'PTR', class: 'IN' },
    ]);
  });

  test('a URL naming a host gets no address record', () => {
    const plan = planAnswer([q(SERVICE_TYPE, 'PTR')], { name: 'office', url: 'https://gateway.example.org/roamgate' })!;
    expect(plan.additionals).toEqual(['srv', 'txt']);
    const txt = announcementTxt(GATEWAY.privateKeyPem, { name: 'office', url: 'https://gateway.example.org/roamgate', issuedAt: NOW });
    expect(buildRecords(['srv', 'address'], { ...ANNOUNCEMENT, txt })).toEqual([
      {
        name: INSTANCE,
        type: 'SRV',
        ttl: ANNOUNCEMENT_TTL_SECONDS,
        flush: true,
        data: { port: 443, target: 'gateway.example.org', priority: 0, weight: 0 },
      },
    ]);
  });

  test('records: cache-flush only on the records unique to this gateway; the TTL asked for', () => {
    expect(
      announcementRecords({ ...ANNOUNCEMENT, ttl: 10, flush: false }).every(
        (record) => (record as { ttl: number }).ttl === 10 && !(record as { flush?: boolean }).flush,
      ),
    ).toBe(true);
    expect(
      buildRecords(['ptr', 'srv', 'txt', 'address', 'enumeration'], ANNOUNCEMENT).map((record) => [
        record.type,
        record.name,
        Boolean((record as { flush?: boolean }).flush),
      ]),
    ).toEqual([
      ['PTR', SERVICE_TYPE, false],
      ['SRV', INSTANCE, true],
      ['TXT', INSTANCE, true],
      ['A', 'roamgate-10-0-0-1.local', true],
      ['PTR', SERVICE_ENUMERATION, false],
    ]);
  });
});

describe('announcementsIn', () => {
  const records = () => announcementRecords(ANNOUNCEMENT);

  test('finds the announcement in records off the wire, and it verifies as an mDNS answer', () => {
    const [answer, ...rest] = announcementsIn(throughTheWire(records()));
    expect(rest).toEqual([]);
    expect(answer).toEqual({ roamgate: 'gateway', version: 1, name: 'office', nonce: '', ...FIELDS });
    expect(verifyAnswer(answer, { nonce: '', now: NOW, trustedKey: GATEWAY.publicKey })).toEqual({ ok: true });
  });

  test.each<[string, () => Answer[]]>([
    ['a TXT without the PTR naming its instance', () => records().filter((record) => record.type !== 'PTR')],
    ['a PTR without its TXT', () => records().filter((record) => record.type !== 'TXT')],
    [
      'a PTR for another service type',
      () => records().map((record) => (record.type === 'PTR' ? { ...record, name: '_http._tcp.local' } : record)),
    ],
    [
      'a PTR to an instance of another service',
      () => records().map((record) => (record.type === 'PTR' ? { ...record, data: 'office._http._tcp.local' } : record)),
    ],
    [
      'a TXT for another instance',
      () => records().map((record) => (record.type === 'TXT' ? { ...record, name: `other.${SERVICE_TYPE}` } : record)),
    ],
    [
      'a TXT missing a signed field',
      () => records().map((record) => (record.type === 'TXT' ? { ...record, data: encodeTxt(TXT).slice(0, 3) } : record)),
    ],
    [
      'a TXT with a URL that is not http',
      () =>
        records().map((record) =>
          record.type === 'TXT' ? { ...record, data: entries('url=ftp://10.0.0.1/', ...signedEntries.slice(1)) } : record,
        ),
    ],
  ])('finds nothing in %s', (_name, make) => {
    expect(announcementsIn(throughTheWire(make()))).toEqual([]);
  });

  test('reads announcements without checking them: a forged one is found, and fails verifyAnswer', () => {
    const forged = records().map((record) =>
      record.type === 'TXT'
        ? { ...record, data: entries(...signedEntries.slice(0, 1), `publicKey=${OTHER.publicKey}`, ...signedEntries.slice(2)) }
        : record,
    );
    const [answer] = announcementsIn(throughTheWire(forged));
    expect(answer.publicKey).toBe(OTHER.publicKey);
    expect(verifyAnswer(answer, { nonce: '', now: NOW })).toEqual({ ok: false, reason: 'signature does not verify' });
  });

  test(`reads at most ${MAX_ANNOUNCEMENTS_PER_RESPONSE} announcements from one response`, () => {
    const many = Array.from({ length: MAX_ANNOUNCEMENTS_PER_RESPONSE + 5 }, (_, i) =>
      announcementRecords({ ...ANNOUNCEMENT, name: `net${i}` }),
    ).flat();
    expect(announcementsIn(many)).toHaveLength(MAX_ANNOUNCEMENTS_PER_RESPONSE);
  });
});

describe('isOnLink', () => {
  const interfaces = [
    { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' },
    { address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4' },
    { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6' },
    { address: '10.9.0.1', netmask: '255.255.255.252', family: 4 },
  ];
  test.each<[string, boolean]>([
    ['127.0.0.1', true],
    ['127.200.0.9', true],
    ['192.168.1.1', true],
    ['192.168.1.255', true],
    ['192.168.2.1', false],
    ['10.9.0.2', true],
    ['10.9.0.5', false],
    ['8.8.8.8', false],
    ['fe80::2', false],
    ['not an address', false],
  ])('%s: %s', (address, onLink) => {
    expect(isOnLink(address, interfaces)).toBe(onLink);
  });
});

test('a record cached for its whole TTL still carries a fresh signature, with time to spare', () => {
  expect(ANNOUNCEMENT_TTL_SECONDS * 1000 * 2).toBeLessThanOrEqual(MAX_ANSWER_SKEW_MS);
});

describe('properties', () => {
  const keys = [GATEWAY, OTHER];
  /** Names a gateway may announce: 1-63 UTF-8 bytes, no dots, no control characters or lone surrogates. */
  // Any name a gateway may be given (options check it against NETWORK_NAME) that fits one DNS label.
  const instanceNames = anyText(63).filter(
    (name) => NETWORK_NAME.test(name) && !/\p{Cs}/u.test(name) && Buffer.byteLength(name, 'utf8') <= 63,
  );
  const urls = fc.webUrl({ validSchemes: ['http', 'https'] }).filter((url) => Buffer.byteLength(url, 'utf8') <= 200);
  const announcements = fc.record({
    key: fc.constantFrom(...keys),
    name: instanceNames,
    url: urls,
    issuedAt: fc.integer({ min: 0, max: 2 ** 47 }),
  });
  /** Another valid name of at most as many bytes: the last character replaced. */
  const otherName = (name: string) => {
    const characters = [...name];
    const last = characters.pop();
    return `${characters.join('')}${last === 'x' ? 'y' : 'x'}`;
  };
  const sign = ({ key, name, url, issuedAt }: { key: typeof GATEWAY; name: string; url: string; issuedAt: number }): AnnouncementTxt =>
    announcementTxt(key.privateKeyPem, { name, url, issuedAt });

  test('what a gateway announces, off the wire, is found and verifies (records in any order)', () => {
    fc.assert(
      fc.property(announcements, fc.boolean(), fc.integer({ min: 0, max: 1000 }), (fields, flush, seed) => {
        const txt = sign(fields);
        const records = announcementRecords({ name: fields.name, txt, ttl: ANNOUNCEMENT_TTL_SECONDS, flush });
        const shuffled = [...records].sort((a, b) => ((a.type.charCodeAt(0) * 31 + seed) % 7) - ((b.type.charCodeAt(0) * 31 + seed) % 7));
        const found = announcementsIn(throughTheWire(shuffled));
        expect(found).toEqual([
          {
            roamgate: 'gateway',
            version: 1,
            name: fields.name,
            url: fields.url,
            nonce: '',
            issuedAt: fields.issuedAt,
            publicKey: fields.key.publicKey,
            signature: txt.signature,
          },
        ]);
        expect(verifyAnswer(found[0], { nonce: '', now: fields.issuedAt, trustedKey: fields.key.publicKey })).toEqual({ ok: true });
      }),
      { numRuns: 150 },
    );
  });

  test('changing the instance name, the URL or issuedAt of an announcement makes it fail', () => {
    fc.assert(
      fc.property(announcements, fc.constantFrom('name', 'url', 'issuedAt'), (fields, field) => {
        const txt = sign(fields);
        const name = field === 'name' ? otherName(fields.name) : fields.name;
        const changed: AnnouncementTxt = {
          ...txt,
          ...(field === 'url' ? { url: `${txt.url}x` } : field === 'issuedAt' ? { issuedAt: String(fields.issuedAt + 1) } : {}),
        };
        const [answer] = announcementsIn(throughTheWire(announcementRecords({ name, txt: changed, ttl: 120, flush: true })));
        expect(verifyAnswer(answer, { nonce: '', now: answer.issuedAt })).toEqual({ ok: false, reason: 'signature does not verify' });
      }),
      { numRuns: 100 },
    );
  });

  test('an announcement is only as fresh as its issuedAt: outside the skew it fails', () => {
    fc.assert(
      fc.property(
        announcements,
        fc.integer({ min: MAX_ANSWER_SKEW_MS + 1, max: 10 * MAX_ANSWER_SKEW_MS }),
        fc.boolean(),
        (fields, age, future) => {
          const [answer] = announcementsIn(announcementRecords({ name: fields.name, txt: sign(fields), ttl: 120, flush: true }));
          expect(verifyAnswer(answer, { nonce: '', now: fields.issuedAt + (future ? -age : age) })).toEqual({
            ok: false,
            reason: 'answer is stale or from the future',
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  const junkEntry = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    anyText(80),
    fc
      .tuple(fc.constantFrom('url', 'URL', 'publickey', 'PublicKey', 'issuedat', 'ISSUEDAT', 'signature', 'x', ''), anyText(60))
      .map(([key, value]) => `${key}=${value}`),
    fc.jsonValue(),
  );

  test('parseTxt never throws, and gives null or fields of the right shape', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(junkEntry, { maxLength: 80 }), junkEntry), (data) => {
        const fields = parseTxt(data);
        if (fields === null) return;
        expect(Object.keys(fields).sort()).toEqual(['issuedAt', 'publicKey', 'signature', 'url']);
        expect(Number.isSafeInteger(fields.issuedAt) && fields.issuedAt >= 0).toBe(true);
        for (const key of ['url', 'publicKey', 'signature'] as const) expect(typeof fields[key]).toBe('string');
      }),
      { numRuns: 500 },
    );
  });

  test('entries after the signed ones never change what is read (first occurrence wins)', () => {
    fc.assert(
      fc.property(fc.array(junkEntry, { maxLength: 20 }), (junk) => {
        expect(parseTxt([...encodeTxt(TXT), ...junk])).toEqual(FIELDS);
      }),
      { numRuns: 300 },
    );
  });

  const junkRecord = fc.record(
    {
      name: fc.oneof(fc.constantFrom(SERVICE_TYPE, INSTANCE, `OFFICE.${SERVICE_TYPE}`, SERVICE_ENUMERATION), anyText(40), fc.jsonValue()),
      type: fc.oneof(fc.constantFrom('PTR', 'TXT', 'SRV', 'A'), anyText(5), fc.jsonValue()),
      data: fc.oneof(
        fc.constantFrom(INSTANCE, `x.${SERVICE_TYPE}`),
        fc.constant(encodeTxt(TXT)),
        fc.array(junkEntry, { maxLength: 6 }),
        fc.jsonValue(),
      ),
    },
    { requiredKeys: [] },
  );

  test('announcementsIn never throws on any records, finds at most the limit, each with nonce ""', () => {
    fc.assert(
      fc.property(fc.array(junkRecord, { maxLength: 40 }), (records) => {
        const found = announcementsIn(records);
        expect(found.length).toBeLessThanOrEqual(MAX_ANNOUNCEMENTS_PER_RESPONSE);
        for (const answer of found) expect(answer.nonce).toBe('');
      }),
      { numRuns: 500 },
    );
  });

  test('a decoded packet of any bytes never makes announcementsIn throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        let packet: dnsPacket.Packet;
        try {
          packet = dnsPacket.decode(Buffer.from(bytes));
        } catch {
          return;
        }
        announcementsIn([...(packet.answers ?? []), ...(packet.additionals ?? [])]);
      }),
      { numRuns: 500 },
    );
  });

  const questions = fc.array(
    fc.record({
      name: fc.oneof(
        fc.constantFrom(SERVICE_TYPE, INSTANCE, SERVICE_ENUMERATION, 'roamgate-10-0-0-1.local', '_ROAMGATE._tcp.local.'),
        anyText(30),
      ),
      type: fc.constantFrom('PTR', 'SRV', 'TXT', 'A', 'AAAA', 'ANY', 'MX'),
      class: fc.constantFrom('IN', 'ANY', 'CH', 'UNKNOWN_32769', undefined),
    }),
    { maxLength: 8 },
  ) as fc.Arbitrary<Question[]>;

  test('planAnswer gives each record at most once, never an additional that is also an answer, and only for questions about the gateway', () => {
    fc.assert(
      fc.property(questions, (asked) => {
        const plan = planAnswer(asked, { name: 'office', url: URL_OF_GATEWAY });
        if (plan === null) return;
        expect(new Set(plan.answers).size).toBe(plan.answers.length);
        expect(new Set(plan.additionals).size).toBe(plan.additionals.length);
        for (const kind of plan.additionals) expect(plan.answers).not.toContain(kind);
        expect(plan.questions.length).toBeGreaterThan(0);
        for (const question of plan.questions)
          expect(
            [SERVICE_TYPE, INSTANCE, SERVICE_ENUMERATION, 'roamgate-10-0-0-1.local'].some((name) => sameDomain(name, question.name)),
          ).toBe(true);
        // Whatever is planned encodes.
        expect(() =>
          dnsPacket.encode({
            type: 'response',
            id: 1,
            questions: plan.questions,
            answers: buildRecords(plan.answers, ANNOUNCEMENT),
            additionals: buildRecords(plan.additionals, ANNOUNCEMENT),
          }),
        ).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  test("isOnLink: every address of an interface's subnet is on its link, and no other", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 32 }), fc.ipV4(), (own, prefix, other) => {
        const mask = prefix === 32 ? 0xffffffff : ~(0xffffffff >>> prefix) >>> 0;
        const toNumber = (address: string) => address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0) >>> 0;
        const netmask = [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
        const same = (toNumber(own) & mask) >>> 0 === (toNumber(other) & mask) >>> 0;
        expect(isOnLink(other, [{ address: own, netmask, family: 'IPv4' }])).toBe(same);
        expect(isOnLink(own, [{ address: own, netmask, family: 'IPv4' }])).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
