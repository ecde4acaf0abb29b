import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { formatSmtpReply, smtpRefusal } from '../../protocols/smtp/replies';
import { anyRoamgateError, reasonText, wireLines } from './arbitraries';

describe('formatSmtpReply', () => {
  test.each<[string, number, string | string[], string | undefined, string]>([
    ['a single line', 250, 'OK', undefined, '250 OK\r\n'],
    ['a single line with an enhanced code', 250, 'queued', '2.0.0', '250 2.0.0 queued\r\n'],
    ['a one-entry array', 221, ['bye'], undefined, '221 bye\r\n'],
    ['a multi-line reply', 250, ['a', 'b'], undefined, '250-a\r\n250 b\r\n'],
    [
      'a multi-line EHLO reply',
      250,
      ['mx.example.org', 'PIPELINING', '8BITMIME'],
      undefined,
      '250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n',
    ],
    ['an enhanced code on every line', 250, ['a', 'b', 'c'], '2.1.0', '250-2.1.0 a\r\n250-2.1.0 b\r\n250 2.1.0 c\r\n'],
    ['empty text: code alone', 221, '', undefined, '221\r\n'],
    ['empty text with an enhanced code', 421, '', '4.3.0', '421 4.3.0\r\n'],
    ['no lines at all', 250, [], undefined, '250\r\n'],
    ['CRLF in a reason cannot start a second reply', 554, 'no\r\n250 2.0.0 OK', '5.7.1', '554 5.7.1 no 250 2.0.0 OK\r\n'],
    ['LF in a multi-line entry stays in its line', 250, ['a\nb', 'c'], undefined, '250-a b\r\n250 c\r\n'],
  ])('%s', (_name, code, lines, enhanced, expected) => {
    expect(formatSmtpReply(code, lines, enhanced)).toBe(expected);
  });
});

describe('smtpRefusal', () => {
  test.each<[RoamgateErrorCode, string]>([
    ['ROAMGATE_ACCESS_DENIED', '554 5.7.1 anonymous clients may not use smtp here\r\n'],
    ['ROAMGATE_TOO_MANY_CLIENTS', '421 4.3.2 anonymous clients may not use smtp here\r\n'],
    ['ROAMGATE_NO_SERVER', '421 4.3.0 anonymous clients may not use smtp here\r\n'],
    ['ROAMGATE_UPSTREAM_REFUSED', '421 4.3.0 anonymous clients may not use smtp here\r\n'],
    ['ROAMGATE_UPSTREAM_TIMEOUT', '421 4.3.0 anonymous clients may not use smtp here\r\n'],
    ['ROAMGATE_SHUTTING_DOWN', '421 4.3.0 anonymous clients may not use smtp here\r\n'],
    ['ROAMGATE_SOURCE_FAILED', '421 4.3.0 anonymous clients may not use smtp here\r\n'],
  ])('%s', (code, expected) => {
    expect(smtpRefusal(new RoamgateError(code, 'anonymous clients may not use smtp here'))).toBe(expected);
  });

  test('puts a multi-line reason on one reply line', () => {
    expect(smtpRefusal(new RoamgateError('ROAMGATE_ACCESS_DENIED', 'denied\r\n250 OK\r\n'))).toBe('554 5.7.1 denied 250 OK\r\n');
  });

  describe('properties', () => {
    test('any refusal is one reply line: code, enhanced code, text, CRLF; bounded length', () => {
      fc.assert(
        fc.property(anyRoamgateError, (error) => {
          const [line, ...more] = wireLines(smtpRefusal(error));
          expect(more).toEqual([]);
          expect(line).toMatch(/^(554 5\.7\.1|421 4\.3\.[02])( .*)?$/s);
          expect(line.length).toBeLessThanOrEqual('554 5.7.1 '.length + MAX_REPLY_TEXT_LENGTH);
        }),
        { numRuns: 300 },
      );
    });

    test('a reply has one line per entry, all but the last continued with a dash', () => {
      fc.assert(
        fc.property(
          fc.array(reasonText, { minLength: 1, maxLength: 6 }),
          fc.option(fc.constantFrom('2.0.0', '5.7.1'), { nil: undefined }),
          (texts, enhanced) => {
            const lines = wireLines(formatSmtpReply(250, texts, enhanced));
            expect(lines).toHaveLength(texts.length);
            lines.forEach((line, i) => {
              expect(line.slice(0, 4)).toBe(i === lines.length - 1 ? (line.length === 3 ? '250' : '250 ') : '250-');
              expect(line.length).toBeLessThanOrEqual(4 + 6 + MAX_REPLY_TEXT_LENGTH);
            });
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
