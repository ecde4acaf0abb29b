import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import { formatPop3Reply, pop3Refusal } from '../../protocols/pop3/replies';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { ALL_CODES, anyRoamgateError, reasonText, wireLines } from './arbitraries';

describe('formatPop3Reply', () => {
  test.each<[string, boolean, string, string | undefined, string]>([
    ['a positive reply', true, 'POP3 ready', undefined, '+OK POP3 ready\r\n'],
    ['a negative reply', false, 'no such message', undefined, '-ERR no such message\r\n'],
    ['a response code', false, 'try later', 'SYS/TEMP', '-ERR [SYS/TEMP] try later\r\n'],
    ['an AUTH response code', false, 'bad login', 'AUTH', '-ERR [AUTH] bad login\r\n'],
    ['empty text', true, '', undefined, '+OK\r\n'],
    ['a reason cannot inject a second status line', false, 'no\r\n+OK welcome', undefined, '-ERR no +OK welcome\r\n'],
  ])('%s', (_name, ok, text, responseCode, expected) => {
    expect(formatPop3Reply(ok, text, responseCode)).toBe(expected);
  });
});

describe('pop3Refusal', () => {
  const permanent: RoamgateErrorCode[] = ['ROAMGATE_ACCESS_DENIED', 'ROAMGATE_LOGIN_REQUIRED', 'ROAMGATE_DESTINATION_REFUSED'];
  const temporary: RoamgateErrorCode[] = [
    'ROAMGATE_NO_SERVER',
    'ROAMGATE_UPSTREAM_REFUSED',
    'ROAMGATE_UPSTREAM_TIMEOUT',
    'ROAMGATE_TOO_MANY_CLIENTS',
    'ROAMGATE_SHUTTING_DOWN',
    'ROAMGATE_SOURCE_FAILED',
  ];

  test.each(permanent)('%s is a permanent refusal, -ERR [SYS/PERM]', (code) => {
    expect(pop3Refusal(new RoamgateError(code, 'alice may not use pop3 here'))).toBe('-ERR [SYS/PERM] alice may not use pop3 here\r\n');
  });

  test.each(temporary)('%s is a temporary refusal, -ERR [SYS/TEMP]', (code) => {
    expect(pop3Refusal(new RoamgateError(code, 'no pop3 server answered'))).toBe('-ERR [SYS/TEMP] no pop3 server answered\r\n');
  });

  test('the tables above cover the codes an adapter can meet', () => {
    const covered = new Set([...permanent, ...temporary, 'ROAMGATE_INVALID_OPTIONS', 'ROAMGATE_BAD_REQUEST']);
    expect(ALL_CODES.filter((code) => !covered.has(code))).toEqual([]);
  });

  describe('properties', () => {
    test('any refusal is exactly one -ERR line ending in CRLF, bounded', () => {
      fc.assert(
        fc.property(anyRoamgateError, (error) => {
          const [line, ...more] = wireLines(pop3Refusal(error));
          expect(more).toEqual([]);
          expect(line).toMatch(/^-ERR \[SYS\/(PERM|TEMP)\]( .*)?$/s);
          expect(line.length).toBeLessThanOrEqual('-ERR [SYS/TEMP] '.length + MAX_REPLY_TEXT_LENGTH);
        }),
        { numRuns: 300 },
      );
    });

    test('any formatted reply is exactly one line', () => {
      fc.assert(fc.property(fc.boolean(), reasonText, (ok, text) => expect(wireLines(formatPop3Reply(ok, text))).toHaveLength(1)));
    });
  });
});
