/** Fuzz: the line reader every line protocol reads through (protocols/line-reader.ts). */
import fc from 'fast-check';
import { LineReader } from '../../protocols/line-reader';
import { ensure, fuzzTargets, type Tally } from './fuzz-harness';
import { byteInputs } from './mutate';

const STREAMS = [
  'EHLO pc.example.org\r\nAUTH PLAIN AGFsaWNlAHB3\r\n',
  'USER alice\nPASS pw\r\nSTAT\r',
  '\r\n\r\n\n\n',
  'line with a bare \r inside\r\r\nnext\r\n',
  `${'A'.repeat(600)}\r\n${'B'.repeat(2049)}\n`,
].map((text) => Buffer.from(text, 'latin1'));

/** CRLF read as LF, the way the reader ends lines. */
const normalize = (text: string) => text.replace(/\r\n/g, '\n');

function checkReader(input: { maxLineLength: number; stream: Buffer; cuts: number[] }, tally: Tally): void {
  const reader = new LineReader(input.maxLineLength);
  const points = [...new Set(input.cuts.map((cut) => cut % (input.stream.length + 1)))].sort((a, b) => a - b);
  const lines: string[] = [];
  let overflowed = false;
  let from = 0;
  for (const point of [...points, input.stream.length]) {
    const events = reader.push(input.stream.subarray(from, point));
    tally.calls++;
    from = point;
    if (overflowed) ensure(events.length === 0, 'lines after a too-long line');
    for (const [i, event] of events.entries()) {
      if (event.kind === 'too-long') {
        ensure(i === events.length - 1, 'lines after too-long in one push');
        overflowed = true;
      } else {
        ensure(!event.line.includes('\n') && event.line.length <= input.maxLineLength, () => `a line of ${event.line.length}`);
        lines.push(event.line);
      }
    }
    ensure(reader.buffered <= input.maxLineLength + 1, () => `${reader.buffered} bytes buffered`);
  }
  if (overflowed) return void tally.rejected++;
  tally.accepted++;
  // Nothing lost, nothing added: the lines and the remainder are the stream.
  const rest = reader.takeRemainder().toString('latin1');
  ensure(reader.buffered === 0, 'takeRemainder left bytes');
  const rebuilt = lines.map((line) => `${normalize(line)}\n`).join('') + normalize(rest);
  ensure(rebuilt === normalize(input.stream.toString('latin1')), 'the lines and the remainder are not the stream');
}

fuzzTargets('line reader', [
  {
    name: 'line-reader',
    arbitrary: fc.record({
      maxLineLength: fc.constantFrom(1, 2, 16, 512, 2048),
      stream: byteInputs(STREAMS),
      cuts: fc.array(fc.nat(), { maxLength: 16 }),
    }),
    check: checkReader,
  },
]);
