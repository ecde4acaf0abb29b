import { isIP } from 'node:net';
import type { Answer, Question } from 'dns-packet';
import { answerFromFields, DNS_SD_TYPE, type DiscoveryAnswer } from './discovery-message';

/**
 * The gateway's DNS-SD announcement over mDNS (RFC 6762, 6763), as records:
 *
 *   _roamgate._tcp.local          PTR  <name>._roamgate._tcp.local
 *   <name>._roamgate._tcp.local   SRV  0 0 <url's port> <host>
 *   <name>._roamgate._tcp.local   TXT  url=... publicKey=... issuedAt=... signature=...
 *   <host>                        A    <url's address>        (when the URL names an address)
 *
 * The TXT record is a discovery answer with nonce "" (see discovery-message):
 * the instance name is the network's name, and the signature covers name,
 * url and issuedAt, so a record is bound to its instance and ages out.
 * Pure: building records for an answer, and reading announcements back out
 * of a response's records. The sockets are in plugin/mdns-responder and
 * local/mdns-discovery.
 */

/** The DNS-SD service type browsed for. */
export const SERVICE_TYPE = `_${DNS_SD_TYPE}._tcp.local`;
/** DNS-SD service type enumeration (RFC 6763 §9): answered so generic browsers list the type. */
export const SERVICE_ENUMERATION = '_services._dns-sd._udp.local';
/** The mDNS port and IPv4 group (RFC 6762). */
export const DEFAULT_MDNS_PORT = 5353;
export const MDNS_GROUP = '224.0.0.251';
/**
 * TTL of every record in a multicast answer (s). Caches may hand a record out
 * for this long, so it must stay well below the freshness bound on issuedAt
 * (`MAX_ANSWER_SKEW_MS`, 5 minutes) for a cached signature to still be fresh.
 */
export const ANNOUNCEMENT_TTL_SECONDS = 120;
/** TTL in answers to legacy unicast queries (RFC 6762 §6.7: at most 10 s). */
export const LEGACY_UNICAST_TTL_SECONDS = 10;
/** Announcements read out of one response at most: bounds the signature checks a packet can cause. */
export const MAX_ANNOUNCEMENTS_PER_RESPONSE = 8;
/** TXT entries read at most; the signed fields come first. */
export const MAX_TXT_ENTRIES = 64;
/** Longest DNS-SD instance name (UTF-8 bytes): one DNS label. */
export const MAX_DNS_SD_INSTANCE_NAME_BYTES = 63;
/** Longest TXT record entry, `key=value` (bytes): one DNS character-string. */
export const MAX_TXT_ENTRY_BYTES = 255;

/** The TXT record's entries, as the gateway signs them (`announcementTxt`). */
export interface AnnouncementTxt {
  url: string;
  publicKey: string;
  issuedAt: string;
  signature: string;
}

const TXT_KEYS = ['url', 'publicKey', 'issuedAt', 'signature'] as const;

/** One gateway's announcement, ready to be put into records. */
export interface Announcement {
  /** The instance name: the network's name. */
  name: string;
  txt: AnnouncementTxt;
  /** TTL of every record (s); 0 says goodbye. */
  ttl: number;
  /** Set the cache-flush bit on the records unique to this gateway (never in legacy unicast answers). */
  flush: boolean;
}

/** The records a gateway gives: the PTR to its instance, the instance's SRV and TXT, its host's address, and the service type enumeration PTR. */
export type RecordKind = 'ptr' | 'srv' | 'txt' | 'address' | 'enumeration';

/** What to answer a query with, worked out before anything is signed. */
export interface AnswerPlan {
  /** The questions answered, as they are to be repeated in a legacy unicast answer (class IN). */
  questions: Question[];
  answers: RecordKind[];
  additionals: RecordKind[];
}

/** `<name>._roamgate._tcp.local`. */
export function instanceDomain(name: string): string {
  return `${name}.${SERVICE_TYPE}`;
}

/** The TXT record's character-strings: `key=value`, signed fields first. */
export function encodeTxt(txt: AnnouncementTxt): Buffer[] {
  return TXT_KEYS.map((key) => Buffer.from(`${key}=${txt[key]}`, 'utf8'));
}

/** The port an announcement's SRV record gives: the URL's port, or its scheme's default. */
export function announcementPort(url: string): number {
  const parsed = new URL(url);
  return parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
}

/**
 * The SRV target for a URL, and the address record to go with it. A URL that
 * names an address gets a made-up `.local` host name carrying that address;
 * one that names a host gives that host (its address is for DNS, or the
 * machine's own mDNS responder, to tell).
 */
export function announcementHost(url: string): { host: string; address?: { type: 'A' | 'AAAA'; data: string } } {
  const hostname = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(hostname);
  if (family === 4) return { host: `roamgate-${hostname.replaceAll('.', '-')}.local`, address: { type: 'A', data: hostname } };
  if (family === 6) return { host: `roamgate-${hostname.replaceAll(':', '-')}.local`, address: { type: 'AAAA', data: hostname } };
  const labels = hostname.replace(/\.$/, '').split('.');
  // A name that is not a valid DNS name would be mangled by the encoder: point at no host rather than a wrong one.
  if (hostname.length > 253 || labels.some((label) => label.length === 0 || Buffer.byteLength(label, 'utf8') > 63))
    return { host: `${DNS_SD_TYPE}.local` };
  return { host: hostname };
}

/**
 * Which records answer `questions` (PTR for the service type, SRV/TXT for the
 * instance, A/AAAA for the host, PTR for service type enumeration), each at
 * most once, with what the asker will want next as additionals; null when
 * no question is about this gateway. Nothing is signed yet, so a query that
 * is not answered costs no signature.
 */
export function planAnswer(questions: readonly Question[], gateway: { name: string; url: string }): AnswerPlan | null {
  const instance = instanceDomain(gateway.name);
  const { host, address } = announcementHost(gateway.url);
  const answered: Question[] = [];
  const answers = new Set<RecordKind>();
  const additionals = new Set<RecordKind>();
  for (const question of questions) {
    if (typeof question?.name !== 'string' || !isInternetClass(question.class)) continue;
    const asks = (type: string) => (question.type as string) === type || (question.type as string) === 'ANY';
    const before = answers.size;
    if (sameDomain(question.name, SERVICE_TYPE) && asks('PTR')) {
      answers.add('ptr');
      for (const kind of ['srv', 'txt', ...(address ? ['address' as const] : [])] as const) additionals.add(kind);
    } else if (sameDomain(question.name, instance)) {
      if (asks('SRV')) answers.add('srv');
      if (asks('TXT')) answers.add('txt');
      if (asks('SRV') && address) additionals.add('address');
    } else if (address && sameDomain(question.name, host) && asks(address.type)) {
      answers.add('address');
    } else if (sameDomain(question.name, SERVICE_ENUMERATION) && asks('PTR')) {
      answers.add('enumeration');
    }
    if (answers.size > before) answered.push({ name: question.name, type: question.type, class: 'IN' });
  }
  if (answers.size === 0) return null;
  return { questions: answered, answers: [...answers], additionals: [...additionals].filter((kind) => !answers.has(kind)) };
}

/** The records of these kinds for an announcement (an address record only when the URL names an address). */
export function buildRecords(kinds: readonly RecordKind[], announcement: Announcement): Answer[] {
  const { name, txt, ttl, flush } = announcement;
  const instance = instanceDomain(name);
  const { host, address } = announcementHost(txt.url);
  const records: Answer[] = [];
  for (const kind of kinds) {
    if (kind === 'ptr') records.push({ name: SERVICE_TYPE, type: 'PTR', ttl, data: instance });
    else if (kind === 'srv')
      records.push({
        name: instance,
        type: 'SRV',
        ttl,
        flush,
        data: { port: announcementPort(txt.url), target: host, priority: 0, weight: 0 },
      });
    else if (kind === 'txt') records.push({ name: instance, type: 'TXT', ttl, flush, data: encodeTxt(txt) });
    else if (kind === 'address' && address) records.push({ name: host, type: address.type, ttl, flush, data: address.data });
    else if (kind === 'enumeration') records.push({ name: SERVICE_ENUMERATION, type: 'PTR', ttl, data: SERVICE_TYPE });
  }
  return records;
}

/** Every record of an announcement, as sent unasked when the gateway starts (and with TTL 0 when it stops). */
export function announcementRecords(announcement: Announcement): Answer[] {
  return buildRecords(['ptr', 'srv', 'txt', 'address'], announcement);
}

/** The signed fields of a TXT record, read as RFC 6763 §6 says; null when one is missing or malformed. */
export interface TxtFields {
  url: string;
  publicKey: string;
  issuedAt: number;
  signature: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads the signed fields out of a TXT record's data (what dns-packet
 * decodes: an array of Buffers). Keys are case-insensitive and only a key's
 * first occurrence counts (RFC 6763 §6.4); entries without `=`, with an
 * empty key, and unknown keys are ignored. Never throws.
 */
export function parseTxt(data: unknown): TxtFields | null {
  const entries = Array.isArray(data) ? data : [data];
  const found = new Map<string, Buffer | string>();
  for (const entry of entries.slice(0, MAX_TXT_ENTRIES)) {
    if (typeof entry !== 'string' && !Buffer.isBuffer(entry)) continue;
    const bytes = typeof entry === 'string' ? Buffer.from(entry, 'utf8') : entry;
    const equals = bytes.indexOf(0x3d);
    if (equals <= 0) continue;
    const key = bytes.subarray(0, equals);
    if (key.some((byte) => byte < 0x20 || byte > 0x7e)) continue;
    const lowered = key.toString('latin1').toLowerCase();
    if (!found.has(lowered)) found.set(lowered, bytes.subarray(equals + 1));
  }
  const fields: Record<string, string> = {};
  for (const key of TXT_KEYS) {
    const value = found.get(key.toLowerCase());
    if (value === undefined) return null;
    try {
      fields[key] = utf8.decode(value as Buffer);
    } catch {
      return null;
    }
  }
  if (!/^(0|[1-9][0-9]{0,15})$/.test(fields.issuedAt)) return null;
  const issuedAt = Number(fields.issuedAt);
  if (!Number.isSafeInteger(issuedAt)) return null;
  return { url: fields.url, publicKey: fields.publicKey, issuedAt, signature: fields.signature };
}

/** A record as a decoder may give it: anything can be missing or of the wrong type. */
export type ReceivedRecord = { readonly name?: unknown; readonly type?: unknown; readonly data?: unknown };

/**
 * The announcements in a response's records (answers and additionals
 * together): each PTR for the service type whose instance has a TXT record
 * that reads as an answer (shape checked, signature not yet: see
 * `verifyAnswer(answer, { nonce: '', now })`). At most
 * {@link MAX_ANNOUNCEMENTS_PER_RESPONSE}. Never throws.
 */
export function announcementsIn(records: readonly ReceivedRecord[]): DiscoveryAnswer[] {
  const found: DiscoveryAnswer[] = [];
  const instances = new Set<string>();
  for (const record of records) {
    if (
      record.type !== 'PTR' ||
      typeof record.name !== 'string' ||
      typeof record.data !== 'string' ||
      !sameDomain(record.name, SERVICE_TYPE)
    )
      continue;
    const name = instanceName(record.data);
    if (name !== null) instances.add(name);
  }
  for (const name of instances) {
    const domain = instanceDomain(name);
    for (const record of records) {
      if (found.length >= MAX_ANNOUNCEMENTS_PER_RESPONSE) return found;
      if (record.type !== 'TXT' || typeof record.name !== 'string' || !sameDomain(record.name, domain)) continue;
      const fields = parseTxt(record.data);
      const answer = fields && answerFromFields({ name, nonce: '', ...fields });
      if (answer) found.push(answer);
    }
  }
  return found;
}

/** The instance name of `<name>._roamgate._tcp.local`; null for another service or a name with a dot in it. */
export function instanceName(domain: string): string | null {
  const trimmed = domain.replace(/\.$/, '');
  const suffix = `.${SERVICE_TYPE}`;
  if (trimmed.length <= suffix.length || !sameDomain(trimmed.slice(-suffix.length), suffix)) return null;
  const name = trimmed.slice(0, -suffix.length);
  // The decoder joins labels with ".", so a dot here means several labels (or one with a dot in it): not a name a gateway announces.
  return name.includes('.') ? null : name;
}

/** DNS names compare without regard to ASCII case or a trailing dot. */
export function sameDomain(a: string, b: string): boolean {
  const fold = (name: string) => name.replace(/\.$/, '').replace(/[A-Z]/g, (letter) => letter.toLowerCase());
  return fold(a) === fold(b);
}

/**
 * IN or ANY, with or without the unicast-response bit. dns-packet 5 decodes
 * a class with that bit set to a name such as `UNKNOWN_32769` (0x8001, IN).
 */
function isInternetClass(klass: string | undefined): boolean {
  return (
    klass === undefined ||
    klass === 'IN' ||
    klass === 'ANY' ||
    (klass as string) === 'UNKNOWN_32769' ||
    (klass as string) === 'UNKNOWN_33023'
  );
}

/**
 * Whether an IPv4 address is on a link of one of these interfaces
 * (`os.networkInterfaces()`, flattened): RFC 6762 §11 has responders answer
 * unicast only to askers on the local link.
 */
export function isOnLink(
  address: string,
  interfaces: ReadonlyArray<{ address: string; netmask: string; family: string | number }>,
): boolean {
  const asker = ipv4ToNumber(address);
  if (asker === null) return false;
  return interfaces.some((entry) => {
    if (entry.family !== 'IPv4' && entry.family !== 4) return false;
    const own = ipv4ToNumber(entry.address);
    const mask = ipv4ToNumber(entry.netmask);
    return own !== null && mask !== null && (own & mask) >>> 0 === (asker & mask) >>> 0;
  });
}

function ipv4ToNumber(address: string): number | null {
  if (isIP(address) !== 4) return null;
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0) >>> 0;
}
