/**
 * Fuzz: LAN discovery (protocols/discovery-message.ts) and its mDNS/DNS-SD form (protocols/mdns-announcement.ts):
 * datagrams and DNS packets as any host on the LAN could send them. Besides "no throw, well-formed": whatever a
 * mutation makes of a signed answer, it verifies only if it still says exactly what the gateway signed.
 */
import { createPublicKey } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import type { Question } from 'dns-packet';
import fc from 'fast-check';
import {
  generateGatewayKey,
  NETWORK_NAME,
  parseAnswer,
  parseQuery,
  signAnswer,
  verifyAnswer,
  type DiscoveryAnswer,
} from '../../protocols/discovery-message';
import {
  announcementRecords,
  announcementsIn,
  buildRecords,
  instanceName,
  MAX_ANNOUNCEMENTS_PER_RESPONSE,
  parseTxt,
  planAnswer,
  sameDomain,
  SERVICE_ENUMERATION,
  SERVICE_TYPE,
  type ReceivedRecord,
} from '../../protocols/mdns-announcement';
import { ensure, fuzzTargets, note, type Tally } from './fuzz-harness';
import { byteInputs, mutatedBytes, textInputs } from './mutate';

const KEY = generateGatewayKey();
const NOW = 1_760_000_000_000;
const GATEWAY = { name: 'office', url: 'http://10.0.0.1:8080/roamgate' };
const NONCE = 'AAAAAAAAAAAAAAAAAAAAAA==';
const SIGNED = signAnswer(KEY.privateKeyPem, { ...GATEWAY, nonce: NONCE, issuedAt: NOW });
const ANNOUNCED = signAnswer(KEY.privateKeyPem, { ...GATEWAY, nonce: '', issuedAt: NOW });

const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
const QUERIES = [json({ roamgate: 'discover', version: 1, nonce: NONCE }), json({ roamgate: 'discover', version: 2, nonce: 'x' })];
const ANSWERS = [
  json(SIGNED),
  json({ ...SIGNED, name: 'caf\u00e9 \u{1F389}', url: 'https://[::1]:8443/x' }),
  json({ ...SIGNED, extra: [1, 2] }),
];

/** The key a base64 text stands for, as the signature check reads it, in its one DER encoding. */
function keyOf(base64: string): Buffer {
  return createPublicKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
}

/**
 * A verified answer must carry exactly the fields the gateway signed, and its key. The key is compared as
 * the signature check reads it; its text is only noted when it differs: base64 with stray characters, and
 * DER with bytes after the key, still verify, and key pinning compares the text.
 */
function checkVerified(answer: DiscoveryAnswer, genuine: DiscoveryAnswer, nonce: string, tally: Tally): boolean {
  const verdict = verifyAnswer(answer, { nonce, now: NOW });
  ensure(typeof verdict.ok === 'boolean' && (verdict.ok || typeof verdict.reason === 'string'), 'a verdict without ok or reason');
  if (!verdict.ok) return false;
  for (const field of ['name', 'url', 'nonce', 'issuedAt'] as const)
    ensure(answer[field] === genuine[field], () => `an answer with another ${field} verified: ${JSON.stringify(answer[field])}`);
  ensure(keyOf(answer.publicKey).equals(keyOf(genuine.publicKey)), () => `verified with another key: ${JSON.stringify(answer.publicKey)}`);
  if (answer.publicKey !== genuine.publicKey)
    note(tally, 'verified with the key in another spelling (pinning compares the text)', () => answer.publicKey);
  if (answer.signature !== genuine.signature) note(tally, 'verified with the signature in another spelling', () => answer.signature);
  return true;
}

function checkAnswerDatagram(data: Buffer, tally: Tally): void {
  const answer = parseAnswer(data);
  if (answer === null) return void tally.rejected++;
  ensure(NETWORK_NAME.test(answer.name) && URL.canParse(answer.url) && Number.isSafeInteger(answer.issuedAt), 'an answer out of shape');
  if (checkVerified(answer, SIGNED, NONCE, tally)) tally.accepted++;
  else tally.rejected++;
}

function checkQueryDatagram(data: Buffer, tally: Tally): void {
  const query = parseQuery(data);
  if (query === null) return void tally.rejected++;
  tally.accepted++;
  ensure(query.roamgate === 'discover' && query.version === 1 && /^[A-Za-z0-9+/]{22}==$/.test(query.nonce), 'a query out of shape');
}

const RESPONSE = dnsPacket.encode({
  type: 'response',
  flags: dnsPacket.AUTHORITATIVE_ANSWER,
  questions: [{ name: SERVICE_TYPE, type: 'PTR', class: 'IN' }],
  answers: announcementRecords({
    name: GATEWAY.name,
    txt: { url: ANNOUNCED.url, publicKey: ANNOUNCED.publicKey, issuedAt: String(ANNOUNCED.issuedAt), signature: ANNOUNCED.signature },
    ttl: 120,
    flush: true,
  }),
  additionals: buildRecords(['enumeration'], {
    name: GATEWAY.name,
    txt: { url: GATEWAY.url, publicKey: '', issuedAt: '0', signature: '' },
    ttl: 0,
    flush: false,
  }),
});
const QUERY = dnsPacket.encode({
  type: 'query',
  questions: [
    { name: SERVICE_TYPE, type: 'PTR', class: 'IN' },
    { name: `${GATEWAY.name}.${SERVICE_TYPE}`, type: 'ANY' as Question['type'] },
    { name: 'roamgate-10-0-0-1.local', type: 'A' },
    { name: SERVICE_ENUMERATION, type: 'PTR' },
  ],
});

function checkPacket(bytes: Buffer, tally: Tally): void {
  let packet: dnsPacket.Packet;
  try {
    packet = dnsPacket.decode(bytes);
  } catch {
    // dns-packet's own refusal of a malformed packet, which the sockets' code catches: not this module's input.
    return void tally.rejected++;
  }
  tally.calls += 2;
  const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])] as ReceivedRecord[];
  const found = announcementsIn(records);
  ensure(Array.isArray(found) && found.length <= MAX_ANNOUNCEMENTS_PER_RESPONSE, 'too many announcements');
  let verified = false;
  for (const answer of found) verified = checkVerified(answer, ANNOUNCED, '', tally) || verified;
  const plan = planAnswer(packet.questions ?? [], GATEWAY);
  const kinds = new Set(['ptr', 'srv', 'txt', 'address', 'enumeration']);
  if (plan)
    ensure(
      [...plan.answers, ...plan.additionals].every((kind) => kinds.has(kind)),
      'a plan with an unknown record kind',
    );
  if (verified || plan) tally.accepted++;
  else tally.rejected++;
}

/** The entries of the gateway's TXT record. */
const TXT_ENTRIES = (
  buildRecords(['txt'], {
    name: GATEWAY.name,
    txt: { url: GATEWAY.url, publicKey: ANNOUNCED.publicKey, issuedAt: String(NOW), signature: ANNOUNCED.signature },
    ttl: 1,
    flush: false,
  })[0] as { data: Buffer[] }
).data;
/** What a decoder might hand over as a TXT record's data: the gateway's entries, some mutated, or anything at all. */
const txtData = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom(...TXT_ENTRIES), mutatedBytes(TXT_ENTRIES)), { maxLength: 70 }),
  fc.array(
    fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.uint8Array().map((bytes) => Buffer.from(bytes)),
    ),
    { maxLength: 8 },
  ),
  fc.anything(),
);

function checkTxt(input: { data: unknown; domain: string }, tally: Tally): void {
  const fields = parseTxt(input.data);
  if (fields === null) tally.rejected++;
  else {
    tally.accepted++;
    ensure(typeof fields.url === 'string' && Number.isSafeInteger(fields.issuedAt) && fields.issuedAt >= 0, 'fields out of shape');
  }
  const name = instanceName(input.domain);
  ensure(
    name === null || (!name.includes('.') && sameDomain(`${name}.${SERVICE_TYPE}`, input.domain)),
    () => `instance ${JSON.stringify(name)}`,
  );
}

fuzzTargets('discovery and mDNS', [
  { name: 'discovery-message: queries', arbitrary: byteInputs(QUERIES), check: checkQueryDatagram },
  { name: 'discovery-message: signed answers', arbitrary: byteInputs(ANSWERS), check: checkAnswerDatagram },
  { name: 'mdns-announcement: packets', arbitrary: byteInputs([RESPONSE, QUERY]), check: checkPacket },
  {
    name: 'mdns-announcement: TXT data and names',
    arbitrary: fc.record({ data: txtData, domain: textInputs([`office.${SERVICE_TYPE}`, `a.b.${SERVICE_TYPE}.`, SERVICE_TYPE]) }),
    check: checkTxt,
  },
]);
