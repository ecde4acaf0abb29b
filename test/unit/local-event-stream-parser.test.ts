import fc from 'fast-check';
import { EventStreamParser, MAX_EVENT_DATA_LENGTH, MAX_EVENT_LINE_LENGTH, type ServerSentEvent } from '../../local/event-stream-parser';

function parseAll(chunks: string[]): ServerSentEvent[] {
  const parser = new EventStreamParser();
  return chunks.flatMap((chunk) => parser.feed(chunk));
}

describe('EventStreamParser', () => {
  test.each<[string, string, ServerSentEvent[]]>([
    ["the gateway's servers event", 'event: servers\ndata: {}\n\n', [{ event: 'servers', data: '{}' }]],
    ["the gateway's lease event", 'event: lease\ndata: {"state":"revoked"}\n\n', [{ event: 'lease', data: '{"state":"revoked"}' }]],
    ['comments yield nothing', ': roamgate events\n\n: keepalive\n\n', []],
    ['an event without a name is a message', 'data: x\n\n', [{ event: 'message', data: 'x' }]],
    ['data lines are joined by LF', 'data: a\ndata: b\n\n', [{ event: 'message', data: 'a\nb' }]],
    ['only one space after the colon is dropped', 'data:  two\ndata:none\n\n', [{ event: 'message', data: ' two\nnone' }]],
    [
      'CRLF and CR end lines too',
      'event: servers\r\ndata: {}\r\n\r\nevent: lease\rdata: 1\r\r',
      [
        { event: 'servers', data: '{}' },
        { event: 'lease', data: '1' },
      ],
    ],
    ['an event with no data is not dispatched', 'event: servers\n\n', []],
    [
      'the name does not carry over to the next event',
      'event: servers\ndata: 1\n\ndata: 2\n\n',
      [
        { event: 'servers', data: '1' },
        { event: 'message', data: '2' },
      ],
    ],
    ['id and retry are ignored', 'id: 7\nretry: 10\nevent: servers\ndata: {}\n\n', [{ event: 'servers', data: '{}' }]],
    ['an unfinished event waits', 'event: servers\ndata: {}\n', []],
    ['a field without a colon has an empty value', 'data\n\n', [{ event: 'message', data: '' }]],
  ])('%s', (_name, text, expected) => {
    expect(parseAll([text])).toEqual(expected);
  });

  test('however the stream is cut into chunks, the events are the same', () => {
    const stream = ': roamgate events\n\nevent: servers\ndata: {}\n\n: keepalive\r\n\r\nevent: lease\r\ndata: {"state":"expired"}\r\n\r\n';
    const whole = parseAll([stream]);
    expect(whole).toEqual([
      { event: 'servers', data: '{}' },
      { event: 'lease', data: '{"state":"expired"}' },
    ]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const sorted = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const chunks = sorted.slice(1).map((end, index) => stream.slice(sorted[index], end));
        expect(parseAll(chunks)).toEqual(whole);
      }),
    );
  });

  test('an empty chunk between the CR and the LF of one line break changes nothing', () => {
    expect(parseAll(['data: a\r', '', '\ndata: b\r\n\r\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  test('property: empty chunks anywhere change nothing', () => {
    const stream = 'event: servers\r\ndata: {}\r\n\r\ndata: a\rdata: b\r\r';
    const whole = parseAll([stream]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 8 }), (cuts) => {
        const sorted = [0, ...cuts.sort((a, b) => a - b), stream.length];
        // Equal cuts make empty chunks.
        const chunks = sorted.slice(1).map((end, index) => stream.slice(sorted[index], end));
        expect(parseAll(chunks)).toEqual(whole);
      }),
    );
  });

  test('an event whose data lines add up past the limit breaks the stream', () => {
    const parser = new EventStreamParser();
    const line = `data: ${'x'.repeat(1023)}\n`;
    expect(() => parser.feed(line.repeat(MAX_EVENT_DATA_LENGTH / 1024 + 1))).toThrow(
      `event stream event with more than ${MAX_EVENT_DATA_LENGTH} characters of data`,
    );
    // Within the limit, spread over many events, all is well.
    expect(parseAll([`${line}\n`.repeat(MAX_EVENT_DATA_LENGTH / 1024 + 1)])).toHaveLength(MAX_EVENT_DATA_LENGTH / 1024 + 1);
  });

  test('a line longer than the limit breaks the stream', () => {
    const parser = new EventStreamParser();
    expect(() => parser.feed(`data: ${'x'.repeat(MAX_EVENT_LINE_LENGTH)}`)).toThrow(
      `event stream line longer than ${MAX_EVENT_LINE_LENGTH} characters`,
    );
  });
});
