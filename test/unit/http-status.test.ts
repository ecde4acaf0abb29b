import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import { formatHttpResponse, httpRefusal, httpStatusFor } from '../../protocols/http/status';
import { MAX_REPLY_TEXT_LENGTH, sanitizeReplyText } from '../../protocols/reply-text';
import { ALL_CODES, anyRoamgateError } from './arbitraries';

/** Splits a raw response into status line, headers (lower-cased names) and body. */
function parseResponse(raw: string): { statusLine: string; headers: Map<string, string>; head: string; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const head = raw.slice(0, end);
  const [statusLine, ...fields] = head.split('\r\n');
  const headers = new Map(
    fields.map((field) => {
      const colon = field.indexOf(': ');
      return [field.slice(0, colon).toLowerCase(), field.slice(colon + 2)] as [string, string];
    }),
  );
  return { statusLine, headers, head, body: raw.slice(end + 4) };
}

describe('httpStatusFor', () => {
  test.each<[RoamgateErrorCode, number]>([
    ['ROAMGATE_ACCESS_DENIED', 403],
    ['ROAMGATE_LOGIN_REQUIRED', 407],
    ['ROAMGATE_DESTINATION_REFUSED', 403],
    ['ROAMGATE_BAD_REQUEST', 400],
    ['ROAMGATE_TOO_MANY_CLIENTS', 503],
    ['ROAMGATE_SHUTTING_DOWN', 503],
    ['ROAMGATE_UPSTREAM_TIMEOUT', 504],
    ['ROAMGATE_UPSTREAM_REFUSED', 502],
    ['ROAMGATE_NO_SERVER', 502],
    ['ROAMGATE_SOURCE_FAILED', 502],
  ])('%s -> %i', (code, status) => {
    expect(httpStatusFor(new RoamgateError(code, 'x'))).toBe(status);
  });
});

describe('formatHttpResponse', () => {
  test('is a complete response that closes the connection', () => {
    expect(formatHttpResponse(403, 'destination example.org:25 is not on the allowlist')).toBe(
      'HTTP/1.1 403 Forbidden\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 51\r\n' +
        'Connection: close\r\n' +
        'X-Roamgate-Error: destination example.org:25 is not on the allowlist\r\n' +
        '\r\n' +
        'destination example.org:25 is not on the allowlist\n',
    );
  });

  test.each<[number, string]>([
    [400, 'Bad Request'],
    [403, 'Forbidden'],
    [431, 'Request Header Fields Too Large'],
    [502, 'Bad Gateway'],
    [503, 'Service Unavailable'],
    [504, 'Gateway Timeout'],
    [418, 'Error'],
  ])('status %i has the reason phrase %j', (status, phrase) => {
    expect(parseResponse(formatHttpResponse(status, 'x')).statusLine).toBe(`HTTP/1.1 ${status} ${phrase}`);
  });

  test('counts Content-Length in bytes, not characters', () => {
    const { headers, body } = parseResponse(formatHttpResponse(502, 'Stra\u00dfe \u{1F6A7}'));
    expect(body).toBe('Stra\u00dfe \u{1F6A7}\n');
    expect(headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
  });

  test('cuts the X-Roamgate-Error header to 200 characters but keeps the whole reason in the body', () => {
    const reason = 'r'.repeat(300);
    const { headers, body } = parseResponse(formatHttpResponse(502, reason));
    expect(headers.get('x-roamgate-error')).toBe('r'.repeat(200));
    expect(body).toBe(reason + '\n');
  });
});

describe('httpRefusal', () => {
  test('uses the status of the code and the message as reason', () => {
    const { statusLine, headers } = parseResponse(httpRefusal(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', 'origin did not answer')));
    expect(statusLine).toBe('HTTP/1.1 504 Gateway Timeout');
    expect(headers.get('x-roamgate-error')).toBe('origin did not answer');
  });

  test('every code maps to an error status', () => {
    for (const code of ALL_CODES) expect(httpStatusFor(new RoamgateError(code, ''))).toBeGreaterThanOrEqual(400);
  });

  describe('properties', () => {
    test('for any reason the head has exactly five CRLF lines (six with the 407 challenge) and the body is the sanitized reason', () => {
      fc.assert(
        fc.property(anyRoamgateError, (error) => {
          const raw = httpRefusal(error);
          const { head, headers, body } = parseResponse(raw);
          const lines = head.split('\r\n');
          const challenge = error.code === 'ROAMGATE_LOGIN_REQUIRED';
          expect(lines).toHaveLength(challenge ? 6 : 5);
          for (const line of lines) expect(line).not.toMatch(/[\r\n]/);
          expect([...headers.keys()]).toEqual([
            'content-type',
            'content-length',
            'connection',
            ...(challenge ? ['proxy-authenticate'] : []),
            'x-roamgate-error',
          ]);
          expect(body).toBe(sanitizeReplyText(error.message) + '\n');
          expect(body.length).toBeLessThanOrEqual(MAX_REPLY_TEXT_LENGTH + 1);
          expect(Number(headers.get('content-length'))).toBe(Buffer.byteLength(body));
        }),
        { numRuns: 300 },
      );
    });
  });
});
