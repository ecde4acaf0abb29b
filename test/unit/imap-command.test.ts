import fc from 'fast-check';
import { ArgumentScanner, literalAt, parseCommandStart } from '../../protocols/imap/command';
import { type Assembly, CommandAssembler } from '../../protocols/imap/command-assembler';
import { anyText } from './arbitraries';

describe('parseCommandStart', () => {
  test.each<[string, ReturnType<typeof parseCommandStart>]>([
    ['a1 LOGIN alice pw', { ok: true, tag: 'a1', name: 'LOGIN', rest: ' alice pw' }],
    ['A0001 capability', { ok: true, tag: 'A0001', name: 'CAPABILITY', rest: '' }],
    ['x] noop ', { ok: true, tag: 'x]', name: 'NOOP', rest: ' ' }],
    ['', { ok: false, reason: 'Empty command line' }],
    ['a1', { ok: false, tag: 'a1', reason: 'Missing command' }],
    ['a1 LOG1N', { ok: false, tag: 'a1', reason: 'Invalid command name' }],
    ['a1  LOGIN', { ok: false, tag: 'a1', reason: 'Invalid command name' }],
    ['* LOGIN', { ok: false, reason: 'Invalid tag' }],
    ['a{1 LOGIN', { ok: false, reason: 'Invalid tag' }],
    ['\u00e9 LOGIN', { ok: false, reason: 'Invalid tag' }],
  ])('%j', (line, expected) => expect(parseCommandStart(line)).toEqual(expected));

  test('never throws; what it accepts echoes back safely', () => {
    fc.assert(
      fc.property(anyText(80), (line) => {
        const start = parseCommandStart(line);
        if (start.tag !== undefined) expect(start.tag).toMatch(/^[\x21-\x7e]{1,64}$/);
        if (start.ok) expect(start.name).toMatch(/^[A-Z]{1,32}$/);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('literalAt', () => {
  test.each<[string, ReturnType<typeof literalAt>]>([
    [' {5}', { length: 5, synchronizing: true }],
    [' alice {12+}', { length: 12, synchronizing: false }],
    [' {5} ', null],
    [' {-5}', null],
    [' {12345678901}', null],
    ['"{5}"', null],
  ])('%j', (text, expected) => expect(literalAt(text)).toEqual(expected));
});

describe('ArgumentScanner', () => {
  const read = (parts: string[], reads: Array<'astring' | 'atom' | 'space' | 'id'>) => {
    const scanner = new ArgumentScanner(parts);
    const values = reads.map((what) => (what === 'id' ? scanner.idParameters() : scanner[what]()));
    return { values, atEnd: scanner.atEnd() };
  };

  test.each<[string, string[], Array<'astring' | 'atom' | 'space' | 'id'>, { values: unknown[]; atEnd: boolean }]>([
    ['atoms', [' alice pw'], ['space', 'astring', 'space', 'astring'], { values: [true, 'alice', true, 'pw'], atEnd: true }],
    ['an astring may hold ]', [' a]b'], ['space', 'astring'], { values: [true, 'a]b'], atEnd: true }],
    ['an atom may not', [' a]b'], ['space', 'atom'], { values: [true, 'a'], atEnd: false }],
    ['quoted, with escapes', [' "a \\"b\\" \\\\"'], ['space', 'astring'], { values: [true, 'a "b" \\'], atEnd: true }],
    [
      'a literal takes the next part, the text goes on after it',
      [' {3}', 'a b', ' pw'],
      ['space', 'astring', 'space', 'astring'],
      { values: [true, 'a b', true, 'pw'], atEnd: true },
    ],
    ['a literal of the wrong length is refused', [' {3}', 'ab', ''], ['space', 'astring'], { values: [true, null], atEnd: false }],
    ['a literal without its data', [' {3}'], ['space', 'astring'], { values: [true, null], atEnd: false }],
    ['an empty atom is none', ['  x'], ['space', 'astring'], { values: [true, null], atEnd: false }],
    ['ID NIL', [' NIL'], ['space', 'id'], { values: [true, true], atEnd: true }],
    ['ID with a list', [' ("a" "b" "c" NIL)'], ['space', 'id'], { values: [true, true], atEnd: true }],
    ['ID with an empty list', [' ()'], ['space', 'id'], { values: [true, true], atEnd: true }],
    ['ID with atoms in its list is no ID', [' (a b)'], ['space', 'id'], { values: [true, false], atEnd: false }],
  ])('%s', (_name, parts, reads, expected) => expect(read(parts, reads)).toEqual(expected));
});

/** Feeds the lines a client would send for `parts` (literal data as the start of the next line), accepting every literal. */
function assemble(lines: string[], maxBytes = 100_000): Assembly {
  const assembler = new CommandAssembler(maxBytes);
  let assembly = assembler.start(lines[0]);
  for (const line of lines.slice(1)) {
    if (assembly.kind === 'literal') assembler.accept(assembly.literal);
    assembly = assembler.feed(line);
  }
  return assembly;
}

describe('CommandAssembler', () => {
  test.each<[string, string[], Assembly]>([
    ['one line', [' a b'], { kind: 'complete', parts: [' a b'] }],
    ['a literal, then the rest of the command', [' {5}', 'alice pw'], { kind: 'complete', parts: [' {5}', 'alice', ' pw'] }],
    ['two literals', [' {5}', 'alice {2+}', 'pw'], { kind: 'complete', parts: [' {5}', 'alice', ' {2+}', 'pw', ''] }],
    ['a literal holding CRLF', [' {6}', 'ab', 'cd x'], { kind: 'complete', parts: [' {6}', 'ab\r\ncd', ' x'] }],
    [
      'a literal ending with its CRLF: the text is on the next line',
      [' {4}', 'ab', ' x'],
      { kind: 'complete', parts: [' {4}', 'ab\r\n', ' x'] },
    ],
    ['a literal ending between CR and LF', [' {3}', 'ab'], { kind: 'complete', parts: [' {3}', 'ab\r', ''] }],
    ['still inside the literal', [' {10}', 'ab'], { kind: 'reading' }],
    ['a literal announced', [' x {5+}'], { kind: 'literal', literal: { length: 5, synchronizing: false } }],
  ])('%s', (_name, lines, expected) => expect(assemble(lines)).toEqual(expected));

  test('the whole command is bounded: a literal that would pass maxBytes is too big', () => {
    expect(assemble([' {100}'], 100)).toEqual({ kind: 'too-big', literal: { length: 100, synchronizing: true } });
    expect(assemble([' {45}', `${'a'.repeat(45)} {45}`], 100)).toEqual({ kind: 'too-big', literal: { length: 45, synchronizing: true } });
  });

  test('any values sent as literals come back exactly, whatever they hold (CR LF too), and scan as astrings', () => {
    const value = fc.string({ unit: fc.constantFrom('a', ' ', '{', '}', '"', '\r\n', '\r', '\u00e9'), maxLength: 30 });
    fc.assert(
      fc.property(fc.array(fc.tuple(value, fc.boolean()), { minLength: 1, maxLength: 4 }), (values) => {
        // The wire: each literal's marker ends a line, its bytes start the next; then the text goes on.
        let wire = ' X';
        for (const [text, plus] of values) wire += ` {${text.length}${plus ? '+' : ''}}\r\n${text}`;
        wire += ' Y';
        const lines = wire.split('\r\n');
        const assembly = assemble(lines);
        expect(assembly.kind).toBe('complete');
        if (assembly.kind !== 'complete') return;
        const scanner = new ArgumentScanner(assembly.parts);
        expect(scanner.space() && scanner.astring()).toBe('X');
        for (const [text] of values) expect(scanner.space() && scanner.astring()).toBe(text);
        expect(scanner.space() && scanner.astring()).toBe('Y');
        expect(scanner.atEnd()).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('any lines: never throws, and what it holds stays bounded', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            anyText(40),
            fc.nat(300).map((n) => `x {${n}}`),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        (lines) => {
          const assembler = new CommandAssembler(512);
          let assembly = assembler.start(lines[0]);
          for (const line of lines.slice(1)) {
            if (assembly.kind === 'complete' || assembly.kind === 'too-big') assembly = assembler.start(line);
            else {
              if (assembly.kind === 'literal') assembler.accept(assembly.literal);
              assembly = assembler.feed(line);
            }
            expect(assembler.held).toBeLessThanOrEqual(512 + 42);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
