/** Longest line the event stream may send before it is treated as broken (characters). */
export const MAX_EVENT_LINE_LENGTH = 16 * 1024;
/** Most data one event may gather over its `data:` lines before the stream is treated as broken (characters). */
export const MAX_EVENT_DATA_LENGTH = 64 * 1024;

/** One Server-Sent Event: its `event:` name (default `message`) and its `data:` lines joined by LF. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * An incremental parser for `text/event-stream` (the WHATWG HTML "event
 * stream interpretation"): feed it chunks as they arrive, get the complete
 * events back. Comment lines (`: keepalive`) yield nothing; `id` and `retry`
 * are ignored (the local proxy re-fetches state on reconnect instead).
 * Throws when a line grows past MAX_EVENT_LINE_LENGTH or an event's data
 * past MAX_EVENT_DATA_LENGTH.
 */
export class EventStreamParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private dataLength = 0;
  /** The last chunk ended in CR: an LF starting the next one belongs to it. */
  private afterCr = false;

  feed(chunk: string): ServerSentEvent[] {
    // An empty read says nothing: a CR just before it still pairs with an LF just after.
    if (chunk === '') return [];
    this.buffer += this.afterCr && chunk.startsWith('\n') ? chunk.slice(1) : chunk;
    this.afterCr = false;
    const events: ServerSentEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (match[0] === '\r' && this.buffer === '') this.afterCr = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    if (this.buffer.length > MAX_EVENT_LINE_LENGTH) throw new Error(`event stream line longer than ${MAX_EVENT_LINE_LENGTH} characters`);
    return events;
  }

  private line(line: string): ServerSentEvent | null {
    if (line === '') {
      const event = this.data.length ? { event: this.event || 'message', data: this.data.join('\n') } : null;
      this.event = '';
      this.data = [];
      this.dataLength = 0;
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') {
      this.dataLength += value.length + 1;
      if (this.dataLength > MAX_EVENT_DATA_LENGTH)
        throw new Error(`event stream event with more than ${MAX_EVENT_DATA_LENGTH} characters of data`);
      this.data.push(value);
    }
    return null;
  }
}
