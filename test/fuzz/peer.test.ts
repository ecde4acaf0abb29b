/**
 * Fuzz: what peer gateways send each other (protocols/peer-messages.ts) and the signatures on it
 * (protocols/peer-signature.ts). Bodies are parsed strictly or refused; a signed request or answer,
 * however altered, verifies only while everything it signs is unchanged.
 */
import fc from 'fast-check';
import type { z } from 'zod';
import {
  parseMessage,
  refreshAnswerSchema,
  refreshRequestSchema,
  refusalSchema,
  releaseAnswerSchema,
  verifyAnswerSchema,
  verifyRequestSchema,
} from '../../protocols/peer-messages';
import {
  NONCE_HEADER,
  PEER_HEADER,
  requestSigningText,
  responseSigningText,
  SIGNATURE_HEADER,
  signRequest,
  signResponse,
  TIMESTAMP_HEADER,
  verifyRequest,
  verifyResponse,
  type SignedRequest,
} from '../../protocols/peer-signature';
import { ensure, fuzzTargets, type Tally } from './fuzz-harness';
import { jsonText, textInputs, treeInputs } from './mutate';

const SCHEMAS: ReadonlyArray<[string, z.ZodType<unknown>]> = [
  ['verify request', verifyRequestSchema],
  ['verify answer', verifyAnswerSchema],
  ['refusal', refusalSchema],
  ['refresh request', refreshRequestSchema],
  ['refresh answer', refreshAnswerSchema],
  ['release answer', releaseAnswerSchema],
];
const BODIES = [
  { username: 'alice@home.example', password: 'pw' },
  {
    user: { id: 'alice', attributes: { department: 'sales', __proto__x: 'y', constructor: 'z' } },
    lease: { token: 'abcdefghijklmnop_-0123', expiresAt: 1_760_000_000_000 },
    services: [{ service: 'smtp', own: true, servers: [{ host: 'mail.home.example', port: 587, priority: 0, tls: { mode: 'starttls' } }] }],
  },
  { error: 'wrong user name or password' },
  { tokens: ['abcdefghijklmnop', 'x'] },
  { leases: [{ active: true, expiresAt: 1 }, { active: false }] },
  { released: 2 },
].map((body) => JSON.stringify(body));
// An own "__proto__" key, as JSON.parse makes it: it must not reach anyone's prototype.
const POLLUTING = [BODIES[1].replace('"__proto__x"', '"__proto__"'), '{"__proto__":{"polluted":1},"username":"a","password":"b"}'];

const STANDARD_PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).length;

function checkBody(input: { schema: number; text: string }, tally: Tally): void {
  const [name, schema] = SCHEMAS[input.schema % SCHEMAS.length];
  const message = parseMessage(schema, input.text);
  ensure(
    Object.getOwnPropertyNames(Object.prototype).length === STANDARD_PROTOTYPE_KEYS && !('polluted' in {}),
    'Object.prototype polluted',
  );
  if (message === null) return void tally.rejected++;
  tally.accepted++;
  // What was accepted is what the schema describes, and stays so through another round of JSON.
  ensure(schema.safeParse(JSON.parse(JSON.stringify(message))).success, () => `${name}: accepted ${JSON.stringify(message).slice(0, 200)}`);
}

const SECRETS: Record<string, string> = { 'home.example': 'h'.repeat(40), 'other.example': 'o'.repeat(40) };
const SIGNED_AT = 1_760_000_000_000;
const REQUEST: SignedRequest = { peer: 'home.example', method: 'POST', path: '/roamgate/federation/verify', body: BODIES[0] };
const NONCE = 'AAAAAAAAAAAAAAAAAAAAAAAA';
const HEADERS = signRequest(SECRETS['home.example'], REQUEST, SIGNED_AT, NONCE);
const RESPONSE = { peer: 'home.example', status: 200, requestNonce: NONCE, body: BODIES[1] };
const RESPONSE_HEADERS = signResponse(SECRETS['home.example'], RESPONSE, SIGNED_AT);

type Field = 'peer' | 'timestamp' | 'nonce' | 'signature' | 'method' | 'path' | 'body' | 'status' | 'requestNonce';
interface Alteration {
  field: Field;
  value: string;
  /** Send the header as an array, as Node gives a repeated header. */
  repeated: boolean;
  /** Leave the header out. */
  dropped: boolean;
  /** How far the receiver's clock is from the signer's (ms). */
  skew: number;
}

const HEADER_OF: Partial<Record<Field, string>> = {
  peer: PEER_HEADER,
  timestamp: TIMESTAMP_HEADER,
  nonce: NONCE_HEADER,
  signature: SIGNATURE_HEADER,
};

function alteredHeaders(original: Record<string, string>, change: Alteration): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = { ...original };
  const header = HEADER_OF[change.field];
  if (header) headers[header] = change.dropped ? undefined : change.repeated ? [change.value, original[header] ?? ''] : change.value;
  return headers;
}

function checkSignedRequest(change: Alteration, tally: Tally): void {
  const headers = alteredHeaders(HEADERS, change);
  const request = { method: REQUEST.method, path: REQUEST.path, body: REQUEST.body };
  if (change.field === 'method' || change.field === 'path' || change.field === 'body') request[change.field] = change.value;
  const verdict = verifyRequest(headers, request, (peer) => SECRETS[peer], SIGNED_AT + change.skew);
  if (!verdict.ok) {
    ensure(typeof verdict.reason === 'string' && verdict.reason.length > 0, 'a refusal without a reason');
    return void tally.rejected++;
  }
  tally.accepted++;
  const signed = requestSigningText({ ...request, peer: verdict.peer }, String(verdict.timestamp), verdict.nonce);
  ensure(signed === requestSigningText(REQUEST, HEADERS[TIMESTAMP_HEADER], NONCE), () => `a request verified with ${change.field} altered`);
}

function checkSignedResponse(change: Alteration, tally: Tally): void {
  const headers = alteredHeaders(RESPONSE_HEADERS, change);
  const response = { ...RESPONSE };
  if (change.field === 'body' || change.field === 'requestNonce' || change.field === 'peer') response[change.field] = change.value;
  if (change.field === 'status') response.status = Number.parseInt(change.value, 10);
  const verdict = verifyResponse(headers, response, SECRETS['home.example'], SIGNED_AT + change.skew);
  if (!verdict.ok) return void tally.rejected++;
  tally.accepted++;
  const timestamp = headers[TIMESTAMP_HEADER] as string;
  const original = responseSigningText(RESPONSE, RESPONSE_HEADERS[TIMESTAMP_HEADER]);
  ensure(responseSigningText(response, timestamp) === original, () => `an answer verified with ${change.field} altered`);
}

const alteration = (fields: readonly Field[], seeds: string[]) =>
  fc.record({
    field: fc.constantFrom(...fields),
    value: textInputs(seeds),
    repeated: fc.boolean(),
    dropped: fc.integer({ min: 0, max: 9 }).map((roll) => roll === 0),
    skew: fc.oneof(fc.constant(0), fc.integer({ min: -120_000, max: 120_000 })),
  });

const SEEDS = [
  ...Object.values(HEADERS),
  ...Object.values(RESPONSE_HEADERS),
  'post',
  'POST',
  REQUEST.path,
  `${REQUEST.path}?x=1`,
  BODIES[0],
  BODIES[1],
  '200',
  NONCE,
];

fuzzTargets('peer messages and signatures', [
  {
    name: 'peer-messages: bodies',
    // Each schema given its own kind of body, its tree or its text mutated, or text made up.
    arbitrary: fc
      .nat({ max: SCHEMAS.length - 1 })
      .chain((schema) =>
        fc
          .oneof(
            treeInputs([JSON.parse(BODIES[schema])]).map(jsonText),
            textInputs([BODIES[schema], ...(schema < 2 ? POLLUTING : [])], 400),
          )
          .map((text) => ({ schema, text })),
      ),
    check: checkBody,
  },
  {
    name: 'peer-signature: requests',
    arbitrary: alteration(['peer', 'timestamp', 'nonce', 'signature', 'method', 'path', 'body'], SEEDS),
    check: checkSignedRequest,
  },
  {
    name: 'peer-signature: answers',
    arbitrary: alteration(['peer', 'timestamp', 'signature', 'body', 'status', 'requestNonce'], SEEDS),
    check: checkSignedResponse,
  },
]);
