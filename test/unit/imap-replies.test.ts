import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import {
  formatImapContinuation,
  formatImapFailure,
  formatImapTagged,
  formatImapUntagged,
  imapRefusal,
  MAX_IMAP_CAPABILITIES,
  parseCapabilities,
  parseImapResponse,
} from '../../protocols/imap/replies';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { ALL_CODES, anyRoamgateError, anyText, reasonText, wireLines } from './arbitraries';

describe('formatting', () => {
  test.each<[string, string, string]>([
    ['a tagged OK', formatImapTagged('a1', 'OK', 'Logged in'), 'a1 OK Logged in\r\n'],
    ['with a code', formatImapTagged('a1', 'NO', 'bad login', 'AUTHENTICATIONFAILED'), 'a1 NO [AUTHENTICATIONFAILED] bad login\r\n'],
    ['an empty text gets one (RFC 3501: text is 1*TEXT-CHAR)', formatImapTagged('a1', 'NO', ''), 'a1 NO Failed\r\n'],
    ['a code cannot close its brackets early', formatImapTagged('a', 'OK', 'x', 'CAPABILITY A]B'), 'a OK [CAPABILITY AB] x\r\n'],
    ['an untagged BYE', formatImapUntagged('BYE', 'Logging out'), '* BYE Logging out\r\n'],
    ['a reason cannot inject a line', formatImapUntagged('BYE', 'no\r\na1 OK Logged in'), '* BYE no a1 OK Logged in\r\n'],
    ['a continuation keeps its space', formatImapContinuation(), '+ \r\n'],
    [
      'a text that is only a bracketed word still gets text after it',
      formatImapUntagged('BYE', '[AUTH]'),
      '* BYE [AUTH] Closing the connection\r\n',
    ],
    [
      'a failure keeps the code it has',
      formatImapFailure('t', 'NO', '[UNAVAILABLE] later', 'AUTHENTICATIONFAILED'),
      't NO [UNAVAILABLE] later\r\n',
    ],
    [
      'a failure without one gets the default',
      formatImapFailure('t', 'NO', 'wrong password', 'AUTHENTICATIONFAILED'),
      't NO [AUTHENTICATIONFAILED] wrong password\r\n',
    ],
    ['text that only looks like a code is text', formatImapFailure('t', 'NO', '[not a code', 'X'), 't NO [X] [not a code\r\n'],
  ])('%s', (_name, actual, expected) => expect(actual).toBe(expected));
});

describe('imapRefusal', () => {
  const table: Array<[RoamgateErrorCode, string]> = [
    ['ROAMGATE_LOGIN_REQUIRED', 'AUTHENTICATIONFAILED'],
    ['ROAMGATE_LOGIN_FAILED', 'AUTHENTICATIONFAILED'],
    ['ROAMGATE_ACCESS_DENIED', 'NOPERM'],
    ['ROAMGATE_DESTINATION_REFUSED', 'NOPERM'],
    ['ROAMGATE_NO_SERVER', 'UNAVAILABLE'],
    ['ROAMGATE_UPSTREAM_REFUSED', 'UNAVAILABLE'],
    ['ROAMGATE_UPSTREAM_TIMEOUT', 'UNAVAILABLE'],
    ['ROAMGATE_TOO_MANY_CLIENTS', 'UNAVAILABLE'],
    ['ROAMGATE_SHUTTING_DOWN', 'UNAVAILABLE'],
    ['ROAMGATE_SOURCE_FAILED', 'UNAVAILABLE'],
    ['ROAMGATE_IDLE_TIMEOUT', 'UNAVAILABLE'],
  ];
  test.each(table)('%s is * BYE [%s]', (code, responseCode) => {
    expect(imapRefusal(new RoamgateError(code, 'the reason'))).toBe(`* BYE [${responseCode}] the reason\r\n`);
  });

  test('the table covers the codes an adapter can meet', () => {
    const covered = new Set([...table.map(([code]) => code), 'ROAMGATE_INVALID_OPTIONS', 'ROAMGATE_BAD_REQUEST']);
    expect(ALL_CODES.filter((code) => !covered.has(code))).toEqual([]);
  });

  test('any refusal is exactly one BYE line, bounded', () => {
    fc.assert(
      fc.property(anyRoamgateError, (error) => {
        const [line, ...more] = wireLines(imapRefusal(error));
        expect(more).toEqual([]);
        expect(line).toMatch(/^\* BYE \[(AUTHENTICATIONFAILED|NOPERM|UNAVAILABLE)\] ./s);
        expect(line.length).toBeLessThanOrEqual('* BYE [AUTHENTICATIONFAILED] '.length + MAX_REPLY_TEXT_LENGTH);
      }),
      { numRuns: 300 },
    );
  });

  test('any formatted failure is one tagged line that parses back with a code', () => {
    fc.assert(
      fc.property(reasonText, fc.constantFrom('AUTHENTICATIONFAILED', 'UNAVAILABLE'), (reason, code) => {
        const [line, ...more] = wireLines(formatImapFailure('t1', 'NO', reason, code));
        expect(more).toEqual([]);
        const parsed = parseImapResponse(line);
        expect(parsed).toMatchObject({ kind: 'tagged', tag: 't1', status: 'NO', code: { name: expect.any(String) } });
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseImapResponse', () => {
  test.each<[string, ReturnType<typeof parseImapResponse>]>([
    [
      '* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot ready.',
      { kind: 'status', status: 'OK', code: { name: 'CAPABILITY', data: 'IMAP4rev1 IDLE' }, text: 'Dovecot ready.' },
    ],
    ['* PREAUTH ready', { kind: 'status', status: 'PREAUTH', text: 'ready' }],
    ['* bye', { kind: 'status', status: 'BYE', text: '' }],
    ['* CAPABILITY IMAP4rev1 AUTH=PLAIN', { kind: 'data', name: 'CAPABILITY', rest: 'IMAP4rev1 AUTH=PLAIN' }],
    ['* 3 EXISTS', { kind: 'data', name: '3', rest: 'EXISTS' }],
    [
      'a1 NO [AUTHENTICATIONFAILED] Authentication failed.',
      { kind: 'tagged', tag: 'a1', status: 'NO', code: { name: 'AUTHENTICATIONFAILED', data: '' }, text: 'Authentication failed.' },
    ],
    ['a1 ok [uidnext 2] x', { kind: 'tagged', tag: 'a1', status: 'OK', code: { name: 'UIDNEXT', data: '2' }, text: 'x' }],
    ['+ ', { kind: 'continuation', text: '' }],
    ['+ Ready', { kind: 'continuation', text: 'Ready' }],
    ['+', { kind: 'continuation', text: '' }],
    ['a1 FOO bar', null],
    ['a"1 OK x', null],
    ['+OK POP3', null],
    ['', null],
  ])('%j', (line, expected) => expect(parseImapResponse(line)).toEqual(expected));

  test('never throws; a tag it returns is one a client may use', () => {
    fc.assert(
      fc.property(anyText(120), (line) => {
        const response = parseImapResponse(line);
        if (response?.kind === 'tagged') expect(response.tag).toMatch(/^[\x21-\x7e]+$/);
        if (response && response.kind !== 'continuation' && response.kind !== 'data' && response.code)
          expect(response.code.name).toMatch(/^[\x21-\x7e]+$/);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseCapabilities', () => {
  test('keeps atoms, drops what could break a response code', () => {
    expect(parseCapabilities('IMAP4rev1 AUTH=PLAIN LITERAL+ x]y "q" (p) COMPRESS=DEFLATE')).toEqual([
      'IMAP4rev1',
      'AUTH=PLAIN',
      'LITERAL+',
      'COMPRESS=DEFLATE',
    ]);
  });

  test('any text gives at most MAX_IMAP_CAPABILITIES atoms that fit inside [CAPABILITY ...]', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyText(12), fc.constantFrom('IDLE', 'AUTH=PLAIN', ']', '[')), { maxLength: 300 }), (names) => {
        const capabilities = parseCapabilities(names.join(' '));
        expect(capabilities.length).toBeLessThanOrEqual(MAX_IMAP_CAPABILITIES);
        for (const name of capabilities) expect(name).toMatch(/^[^\x00-\x20\x7f-\uffff()[\]{"\\%*]+$/);
      }),
      { numRuns: 300 },
    );
  });
});
