/**
 * Mutation of valid seeds, the fuzzer's main source of inputs: byte flips, truncation, deletion, duplication,
 * splicing with another seed, overlong runs, and insertions of control characters, line ends and awkward
 * UTF-8. Positions are drawn as numbers and taken modulo the length, so a mutation fits any input.
 */
import fc from 'fast-check';

export type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'splice'; at: number; other: number; from: number }
  | { kind: 'overlong'; at: number; byte: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

/** Bytes that parsers of line protocols, HTTP heads and JSON trip on. */
export const AWKWARD_BYTES: readonly string[] = [
  '\x00',
  '\r',
  '\n',
  '\r\n',
  '\n\r',
  '\r\r\n',
  '\t',
  ' ',
  '\x1b[2J',
  '\x7f',
  '\x08',
  '\x0b\x0c',
  ':',
  '=',
  '.',
  '..',
  '\r\n.\r\n',
  '"',
  '\\',
  '[',
  ']',
  '%00',
  '\xff',
  '\xc0\x80', // an overlong UTF-8 NUL
  '\xe2\x80\xa8', // U+2028, a line separator to JavaScript
  '\xef\xbb\xbf', // a byte order mark
  '\xed\xa0\x80', // a lone surrogate, encoded
  '\xf0\x9f\x8e\x89', // an emoji: four bytes of UTF-8
  '\xe2\x80\xae', // right-to-left override
];

/** Lengths around the limits the parsers enforce (line lengths, SASL, headers, SSE). */
const LIMIT_LENGTHS = [255, 256, 510, 512, 513, 1024, 2047, 2048, 2049, 4096, 4097, 16_384, 16_385, 65_536, 65_537];

const position = fc.nat({ max: 1 << 20 });

const awkwardInsertion = fc.oneof(
  fc.constantFrom(...AWKWARD_BYTES).map((text) => Buffer.from(text, 'latin1')),
  fc.uint8Array({ minLength: 1, maxLength: 16 }),
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: position, length: fc.integer({ min: 1, max: 256 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: position, other: fc.nat(), from: position }),
  fc.record({
    kind: fc.constant('overlong' as const),
    at: position,
    byte: fc.constantFrom(0x41, 0x20, 0x30, 0x2e, 0x3a, 0x0d, 0x00, 0xff),
    length: fc.oneof(fc.constantFrom(...LIMIT_LENGTHS), fc.integer({ min: 1, max: 70_000 })),
  }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: awkwardInsertion }),
);

/** Applies one mutation; `seeds` are what a splice takes its second half from. */
export function applyMutation(input: Buffer, change: Mutation, seeds: readonly Buffer[]): Buffer {
  const at = change.at % (input.length + 1);
  switch (change.kind) {
    case 'flip': {
      if (input.length === 0) return input;
      const copy = Buffer.from(input);
      copy[at % input.length] ^= change.mask;
      return copy;
    }
    case 'truncate':
      return input.subarray(0, at);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + change.length)]);
    case 'duplicate':
      return Buffer.concat([input.subarray(0, at + change.length), input.subarray(at)]);
    case 'splice': {
      const other = seeds[change.other % seeds.length];
      return Buffer.concat([input.subarray(0, at), other.subarray(change.from % (other.length + 1))]);
    }
    case 'overlong':
      return Buffer.concat([input.subarray(0, at), Buffer.alloc(change.length, change.byte), input.subarray(at)]);
    case 'insert':
      return Buffer.concat([input.subarray(0, at), change.bytes, input.subarray(at)]);
  }
}

/** A seed with one to four mutations applied in turn. */
export function mutatedBytes(seeds: readonly Buffer[], maxMutations = 4): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: maxMutations }))
    .map(([index, changes]) => changes.reduce((input, change) => applyMutation(input, change, seeds), seeds[index]));
}

/** Mutated seeds as text: each byte one character (as LineReader gives lines), or decoded as UTF-8 (as a JSON body is). */
export function mutatedText(seeds: readonly string[], maxMutations = 4): fc.Arbitrary<string> {
  const bytes = seeds.map((seed) => Buffer.from(seed, 'utf8'));
  return fc.tuple(mutatedBytes(bytes, maxMutations), fc.boolean()).map(([mutated, asUtf8]) => mutated.toString(asUtf8 ? 'utf8' : 'latin1'));
}

/**
 * Inputs for a parser of text: mostly mutated seeds, the seeds as they are, and some text made from scratch
 * (any code point, lone surrogates included, weighted towards ASCII and its control characters).
 */
export function textInputs(seeds: readonly string[], maxLength = 300): fc.Arbitrary<string> {
  const anyCodePoint = fc
    .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0x10ffff }))
    .map((code) => String.fromCodePoint(code));
  return fc.oneof(
    { weight: 6, arbitrary: mutatedText(seeds) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 2, arbitrary: fc.string({ unit: anyCodePoint, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...AWKWARD_BYTES, 'a', '0', 'x', 'X', 'f'), maxLength }) },
  );
}

/** Inputs for a parser of bytes: as textInputs, in bytes. */
export function byteInputs(seeds: readonly Buffer[], maxLength = 600): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 6, arbitrary: mutatedBytes(seeds) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes)) },
  );
}

/** A change to a tree of options or a JSON body, at the node `at` (taken modulo the nodes there are). */
export interface TreeChange {
  at: number;
  op: 'replace' | 'delete' | 'add' | 'wrap';
  key: string;
  value: unknown;
}

/** Values that option validators trip on: wrong types, edges of ranges, and what JSON cannot even say. */
const AWKWARD_VALUES: unknown[] = [
  null,
  undefined,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -0,
  -1,
  0,
  1.5,
  65_535,
  65_536,
  2 ** 53,
  1e21,
  '',
  ' ',
  '0',
  'true',
  '127.0.0.1',
  '*',
  '::',
  'a'.repeat(70_000),
  [],
  {},
  true,
  () => 'a function',
  Symbol('symbol'),
  10n,
  new Date(0),
  Object.create(null),
];

/** Keys that objects trip on, besides plain ones. */
const AWKWARD_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'x', 'port', 'host', 'smtp', '*'];

export const treeChange: fc.Arbitrary<TreeChange> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace', 'delete', 'add', 'wrap'),
  key: fc.oneof(fc.constantFrom(...AWKWARD_KEYS), fc.string({ maxLength: 12 })),
  value: fc.oneof(fc.constantFrom(...AWKWARD_VALUES), fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 30 }), fc.integer()),
});

type Slot = { parent: Record<string, unknown>; key: string };

/** Every place in `root` a value sits, depth first. */
function slots(root: unknown): Slot[] {
  const found: Slot[] = [];
  // A change may make a tree refer to itself (a wrap or an add of an ancestor): walk each node once.
  const seen = new Set<object>();
  const walk = (node: unknown) => {
    if (typeof node !== 'object' || node === null || seen.has(node)) return;
    seen.add(node);
    for (const key of Object.keys(node)) {
      found.push({ parent: node as Record<string, unknown>, key });
      walk((node as Record<string, unknown>)[key]);
    }
  };
  walk(root);
  return found;
}

/** An own property, even `__proto__` (as JSON.parse makes one), never the prototype. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // An array's `length` cannot be redefined (a TypeError from the harness, not from the code under test): it is left alone.
  if (Array.isArray(target) && key === 'length') return;
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Applies one change to a copy of `root` (the copy is made by the caller). */
export function applyTreeChange(root: unknown, change: TreeChange): unknown {
  const places = slots(root);
  if (places.length === 0) return change.op === 'wrap' ? [root] : change.value;
  const { parent, key } = places[change.at % places.length];
  const value = parent[key];
  switch (change.op) {
    case 'replace':
      setOwn(parent, key, change.value);
      break;
    case 'delete':
      delete parent[key];
      break;
    case 'add':
      if (typeof value === 'object' && value !== null) setOwn(value as Record<string, unknown>, change.key, change.value);
      else setOwn(parent, change.key, change.value);
      break;
    case 'wrap':
      setOwn(parent, key, change.key.length % 2 ? [value] : { [change.key]: value });
      break;
  }
  return root;
}

/**
 * Inputs for a validator of options or bodies: a seed with one to three changes to its tree, its JSON text
 * mutated as bytes and parsed again (or left as text where it no longer parses), or a seed as it is.
 */
export function treeInputs(seeds: readonly unknown[]): fc.Arbitrary<unknown> {
  const texts = seeds.map((seed) => JSON.stringify(seed));
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(treeChange, { minLength: 1, maxLength: 3 }))
        .map(([index, changes]) => changes.reduce((tree, change) => applyTreeChange(tree, change), structuredClone(seeds[index]))),
    },
    {
      weight: 2,
      arbitrary: mutatedText(texts, 2).map((text) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return text;
        }
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom(...seeds).map((seed) => structuredClone(seed)) },
  );
}

/** A tree as JSON text, or as whatever text it has when JSON cannot say it (a BigInt, a cycle). */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
