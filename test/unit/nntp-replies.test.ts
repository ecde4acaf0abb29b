import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import { formatNntpReply, nntpRefusal } from '../../protocols/nntp/replies';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { anyRoamgateError, reasonText, wireLines } from './arbitraries';

describe('formatNntpReply', () => {
  test.each<[number, string, string]>([
    [200, 'news.example.org ready', '200 news.example.org ready\r\n'],
    [502, 'access denied', '502 access denied\r\n'],
    [205, '', '205\r\n'],
    [400, 'down\r\n200 ready', '400 down 200 ready\r\n'],
  ])('%i %j', (code, text, expected) => {
    expect(formatNntpReply(code, text)).toBe(expected);
  });
});

describe('nntpRefusal', () => {
  test.each<[RoamgateErrorCode, string]>([
    ['ROAMGATE_ACCESS_DENIED', '502'],
    ['ROAMGATE_DESTINATION_REFUSED', '502'],
    ['ROAMGATE_NO_SERVER', '400'],
    ['ROAMGATE_UPSTREAM_REFUSED', '400'],
    ['ROAMGATE_UPSTREAM_TIMEOUT', '400'],
    ['ROAMGATE_TOO_MANY_CLIENTS', '400'],
    ['ROAMGATE_SHUTTING_DOWN', '400'],
    ['ROAMGATE_SOURCE_FAILED', '400'],
  ])('%s -> %s', (code, status) => {
    expect(nntpRefusal(new RoamgateError(code, 'news is not for you'))).toBe(`${status} news is not for you\r\n`);
  });

  describe('properties', () => {
    test('any refusal is exactly one 502/400 line ending in CRLF, bounded', () => {
      fc.assert(
        fc.property(anyRoamgateError, (error) => {
          const [line, ...more] = wireLines(nntpRefusal(error));
          expect(more).toEqual([]);
          expect(line).toMatch(/^(502|400)( .*)?$/s);
          expect(line.length).toBeLessThanOrEqual(4 + MAX_REPLY_TEXT_LENGTH);
        }),
        { numRuns: 300 },
      );
    });

    test('any formatted reply is exactly one line', () => {
      fc.assert(fc.property(reasonText, (text) => expect(wireLines(formatNntpReply(480, text))).toHaveLength(1)));
    });
  });
});
