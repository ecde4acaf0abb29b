import fc from 'fast-check';
import { DEFAULT_MAX_LINE_LENGTH, LineReader, type LineEvent } from '../../protocols/line-reader';

const lines = (...texts: string[]): LineEvent[] => texts.map((line) => ({ kind: 'line', line }));
const TOO_LONG: LineEvent = { kind: 'too-long' };

/** What a line reader should report for `input` fed in one piece: the specification, written the slow way. */
function expectedEvents(input: Uint8Array, maxLineLength: number): LineEvent[] {
  const parts = Buffer.from(input).toString('latin1').split('\n');
  const rest = parts.pop()!;
  const events: LineEvent[] = [];
  for (const part of parts) {
    const line = part.endsWith('\r') ? part.slice(0, -1) : part;
    if (line.length > maxLineLength) return [...events, TOO_LONG];
    events.push({ kind: 'line', line });
  }
  return rest.length > maxLineLength + 1 ? [...events, TOO_LONG] : events;
}

/** Bytes with line endings common enough that short inputs hold several lines. */
const wireBytes = fc
  .array(fc.oneof(fc.constantFrom(0x0a, 0x0d, 0x61), fc.integer({ min: 0, max: 255 })), { maxLength: 300 })
  .map((bytes) => Uint8Array.from(bytes));

/** Cuts `input` into chunks at the given (unsorted, possibly repeated) offsets. */
function split(input: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, input.length]) {
    chunks.push(Buffer.from(input.subarray(start, point)));
    start = point;
  }
  return chunks;
}

describe('LineReader', () => {
  test('defaults to DEFAULT_MAX_LINE_LENGTH', () => {
    expect(new LineReader().maxLineLength).toBe(DEFAULT_MAX_LINE_LENGTH);
  });

  test.each([
    ['CRLF lines', 'EHLO a\r\nQUIT\r\n', lines('EHLO a', 'QUIT'), 0],
    ['bare LF lines', 'USER a\nPASS b\n', lines('USER a', 'PASS b'), 0],
    ['mixed endings', 'a\r\nb\nc\r\n', lines('a', 'b', 'c'), 0],
    ['empty lines', '\r\n\n', lines('', ''), 0],
    ['a bare CR inside a line is data', 'a\rb\n', lines('a\rb'), 0],
    ['CR CR LF keeps one CR', 'a\r\r\n', lines('a\r'), 0],
    ['an unterminated tail is held back', 'a\r\npartial', lines('a'), 7],
    ['a trailing CR is held back', 'a\r', [], 2],
  ])('%s', (_name, input, expected, buffered) => {
    const reader = new LineReader();
    expect(reader.push(Buffer.from(input, 'latin1'))).toEqual(expected);
    expect(reader.buffered).toBe(buffered);
  });

  test('decodes bytes as latin1, one character per byte', () => {
    expect(new LineReader().push(Buffer.from([0xe9, 0xff, 0x00, 0x0d, 0x0a]))).toEqual(lines('\u00e9\u00ff\u0000'));
  });

  test('completes a line across chunks, including a CRLF split in the middle', () => {
    const reader = new LineReader();
    expect(reader.push(Buffer.from('HE'))).toEqual([]);
    expect(reader.push(Buffer.from('LO x\r'))).toEqual([]);
    expect(reader.push(Buffer.from('\nNO'))).toEqual(lines('HELO x'));
    expect(reader.push(Buffer.from('OP\n'))).toEqual(lines('NOOP'));
    expect(reader.buffered).toBe(0);
  });

  describe('with maxLineLength 4', () => {
    test.each([
      ['a line of exactly the limit', ['abcd\r\n'], lines('abcd')],
      ['a line of the limit with a bare LF', ['abcd\n'], lines('abcd')],
      ['a line of the limit whose CR arrives alone', ['abcd\r', '\n'], lines('abcd')],
      ['a terminated line one byte too long', ['abcde\r\n'], [TOO_LONG]],
      ['a terminated line one byte too long, LF only', ['abcde\n'], [TOO_LONG]],
      ['an unterminated line past limit + 1', ['abcdef'], [TOO_LONG]],
      ['an unterminated line growing past the limit in pieces', ['abc', 'def'], [TOO_LONG]],
      ['lines before the long one', ['ok\nabcdefgh\r\nlater\n'], [...lines('ok'), TOO_LONG]],
    ])('%s', (_name, chunks, expected) => {
      const reader = new LineReader(4);
      expect(chunks.flatMap((chunk) => reader.push(Buffer.from(chunk)))).toEqual(expected);
    });

    test('reports too-long once, then drops everything and holds nothing', () => {
      const reader = new LineReader(4);
      expect(reader.push(Buffer.from('abcdefgh'))).toEqual([TOO_LONG]);
      expect(reader.buffered).toBe(0);
      expect(reader.push(Buffer.from('\r\nshort\r\n'))).toEqual([]);
      expect(reader.push(Buffer.from('x'.repeat(100)))).toEqual([]);
      expect(reader.buffered).toBe(0);
    });

    test('holds limit + 1 bytes without complaint while the CR may still be followed by LF', () => {
      const reader = new LineReader(4);
      expect(reader.push(Buffer.from('abcd\r'))).toEqual([]);
      expect(reader.buffered).toBe(5);
    });
  });

  describe('properties', () => {
    test('any split of the input yields the same events as the specification', () => {
      fc.assert(
        fc.property(wireBytes, fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 0, max: 40 }), (input, cuts, max) => {
          const reader = new LineReader(max);
          const events = split(input, cuts).flatMap((chunk) => reader.push(chunk));
          expect(events).toEqual(expectedEvents(input, max));
        }),
        { numRuns: 500 },
      );
    });

    test('whole and byte-by-byte feeding agree', () => {
      fc.assert(
        fc.property(wireBytes, fc.integer({ min: 1, max: 40 }), (input, max) => {
          const whole = new LineReader(max).push(Buffer.from(input));
          const bytewise = new LineReader(max);
          expect(Array.from(input).flatMap((byte) => bytewise.push(Buffer.from([byte])))).toEqual(whole);
        }),
        { numRuns: 200 },
      );
    });

    test('never buffers more than maxLineLength + 1 bytes and never throws', () => {
      fc.assert(
        fc.property(fc.array(wireBytes, { maxLength: 10 }), fc.integer({ min: 0, max: 64 }), (chunks, max) => {
          const reader = new LineReader(max);
          for (const chunk of chunks) {
            reader.push(Buffer.from(chunk));
            expect(reader.buffered).toBeLessThanOrEqual(max + 1);
          }
        }),
        { numRuns: 300 },
      );
    });

    test('too-long is reported at most once and is the last event ever', () => {
      fc.assert(
        fc.property(fc.array(wireBytes, { maxLength: 10 }), fc.integer({ min: 0, max: 8 }), (chunks, max) => {
          const reader = new LineReader(max);
          const events = chunks.flatMap((chunk) => reader.push(Buffer.from(chunk)));
          const first = events.findIndex((event) => event.kind === 'too-long');
          if (first !== -1) expect(first).toBe(events.length - 1);
        }),
        { numRuns: 300 },
      );
    });
  });
});
