import fc from 'fast-check';
import { RoamgateError } from '../../errors';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { formatRefusalLine, isRefusalTemplate, MAX_REFUSAL_TEMPLATE_LENGTH } from '../../protocols/refusal-line';
import { anyRoamgateError, anyText, reasonText } from './arbitraries';

const denied = new RoamgateError('ROAMGATE_LOGIN_REQUIRED', 'anonymous users may not use telnet');

describe('formatRefusalLine', () => {
  test.each<[string, string | undefined, RoamgateError, string]>([
    ['no template: no word at all', undefined, denied, ''],
    ['a fixed line', 'access denied', denied, 'access denied\r\n'],
    ['the reason where {reason} stands', 'roamgate: {reason}', denied, 'roamgate: anonymous users may not use telnet\r\n'],
    ['{reason} twice', '{reason} / {reason}', new RoamgateError('ROAMGATE_NO_SERVER', 'none'), 'none / none\r\n'],
    [
      'a reason with CRLF stays on one line',
      '-> {reason}',
      new RoamgateError('ROAMGATE_ACCESS_DENIED', 'no\r\n250 OK'),
      '-> no 250 OK\r\n',
    ],
    ['other braces are kept', '{why} {reason}', new RoamgateError('ROAMGATE_ACCESS_DENIED', 'x'), '{why} x\r\n'],
    ['blanks around the line are trimmed', '  denied  ', denied, 'denied\r\n'],
  ])('%s', (_name, template, error, expected) => {
    expect(formatRefusalLine(template, error)).toBe(expected);
  });

  test('with a template, always exactly one line ending in CRLF, within the reply limit, whatever the reason', () => {
    const template = anyText(MAX_REFUSAL_TEMPLATE_LENGTH).filter(isRefusalTemplate);
    fc.assert(
      fc.property(
        fc.oneof(
          template,
          template.map((text) => `${text}{reason}`),
        ),
        reasonText,
        anyRoamgateError,
        (text, reason, error) => {
          const line = formatRefusalLine(text, new RoamgateError(error.code, reason));
          expect(line.endsWith('\r\n')).toBe(true);
          expect(line.slice(0, -2)).not.toMatch(/[\x00-\x1f\x7f]/);
          expect(line.length - 2).toBeLessThanOrEqual(MAX_REPLY_TEXT_LENGTH);
        },
      ),
    );
  });
});

describe('isRefusalTemplate', () => {
  test.each<[string, string, boolean]>([
    ['one line', 'access denied: {reason}', true],
    ['the longest', 'x'.repeat(MAX_REFUSAL_TEMPLATE_LENGTH), true],
    ['too long', 'x'.repeat(MAX_REFUSAL_TEMPLATE_LENGTH + 1), false],
    ['empty', '', false],
    ['two lines', 'a\r\nb', false],
    ['a tab', 'a\tb', false],
    ['DEL', 'a\x7f', false],
    ['non-ASCII', 'Zugriff verweigert \u2014 {reason}', true],
  ])('%s: %s', (_name, template, expected) => {
    expect(isRefusalTemplate(template)).toBe(expected);
  });
});
