/** Fuzz: the local proxy's parser of the gateway's event stream (local/event-stream-parser.ts). */
import fc from 'fast-check';
import { EventStreamParser, MAX_EVENT_DATA_LENGTH, MAX_EVENT_LINE_LENGTH, type ServerSentEvent } from '../../local/event-stream-parser';
import { ensure, fuzzTargets, type Tally } from './fuzz-harness';
import { textInputs } from './mutate';

const STREAMS = [
  'event: lease\ndata: {"id":"l1","state":"revoked"}\n\n',
  ': keepalive\r\n\r\ndata: one\r\ndata: two\r\n\r\n',
  'data\n\nevent\ndata:\n\n',
  'id: 7\nretry: 1000\ndata:  two spaces\nunknown: field\n\n',
  'data: cr only\rdata: again\r\r',
  `data: ${'x'.repeat(MAX_EVENT_LINE_LENGTH)}\n\n`,
];

/** The documented throws: a line or an event's data past its limit. */
const DOCUMENTED = new RegExp(
  `^event stream (?:line longer than ${MAX_EVENT_LINE_LENGTH}|event with more than ${MAX_EVENT_DATA_LENGTH}) characters`,
);

/** Parses `chunks` in turn; the events, or the documented error. */
function parse(chunks: string[]): ServerSentEvent[] | Error {
  const parser = new EventStreamParser();
  const events: ServerSentEvent[] = [];
  try {
    for (const chunk of chunks) events.push(...parser.feed(chunk));
  } catch (error) {
    ensure(error instanceof Error && DOCUMENTED.test(error.message), () => `an undocumented throw: ${String(error)}`);
    return error;
  }
  return events;
}

function checkStream(input: { stream: string; cuts: number[] }, tally: Tally): void {
  const points = [...new Set(input.cuts.map((cut) => cut % (input.stream.length + 1)))].sort((a, b) => a - b);
  const chunks = [...points, input.stream.length].map((point, i, all) => input.stream.slice(i === 0 ? 0 : all[i - 1], point));
  tally.calls += chunks.length;
  const chunked = parse(chunks);
  const whole = parse([input.stream]);
  if (whole instanceof Error) ensure(chunked instanceof Error, 'one chunk failed where several did not');
  if (chunked instanceof Error || whole instanceof Error) return void tally.rejected++;
  tally.accepted++;
  for (const event of chunked) {
    ensure(typeof event.event === 'string' && !/[\r\n]/.test(event.event), () => `event name ${JSON.stringify(event.event)}`);
    ensure(typeof event.data === 'string' && !event.data.includes('\r') && event.data.length <= MAX_EVENT_DATA_LENGTH, 'event data');
  }
  // However the stream is cut into reads, it means the same events.
  ensure(JSON.stringify(chunked) === JSON.stringify(whole), 'the events depend on how the stream was cut');
}

fuzzTargets('event stream', [
  {
    name: 'event-stream-parser',
    arbitrary: fc.record({ stream: textInputs(STREAMS, 600), cuts: fc.array(fc.nat(), { maxLength: 16 }) }),
    check: checkStream,
  },
]);
