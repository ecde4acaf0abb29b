import fc from 'fast-check';
import { MAX_REPLY_TEXT_LENGTH, sanitizeReplyText } from '../../protocols/reply-text';
import { reasonText } from './arbitraries';

describe('sanitizeReplyText', () => {
  test.each([
    ['plain text is kept', 'mailbox unavailable', 'mailbox unavailable'],
    ['CRLF becomes one space', 'denied\r\n250 OK', 'denied 250 OK'],
    ['a bare LF becomes a space', 'a\nb', 'a b'],
    ['a bare CR becomes a space', 'a\rb', 'a b'],
    ['a run of controls becomes one space', 'a\x00\x01\x1b[2Jb', 'a [2Jb'],
    ['tab is a control character too', 'a\tb', 'a b'],
    ['DEL is removed', 'a\x7fb', 'a b'],
    ['leading and trailing blanks are trimmed', '  \r\n padded \t\r\n', 'padded'],
    ['only controls leaves nothing', '\r\n\x00', ''],
    ['the empty string stays empty', '', ''],
    [
      'non-ASCII text is kept',
      'Zugriff verweigert \u2014 \u00fc \u4e2d\u6587 \u{1F512}',
      'Zugriff verweigert \u2014 \u00fc \u4e2d\u6587 \u{1F512}',
    ],
  ])('%s', (_name, input, expected) => {
    expect(sanitizeReplyText(input)).toBe(expected);
  });

  test('keeps text of exactly the limit whole', () => {
    const text = 'x'.repeat(MAX_REPLY_TEXT_LENGTH);
    expect(sanitizeReplyText(text)).toBe(text);
  });

  test('cuts longer text to the limit, ending in an ellipsis', () => {
    const cut = sanitizeReplyText('y'.repeat(MAX_REPLY_TEXT_LENGTH + 1));
    expect(cut).toBe('y'.repeat(MAX_REPLY_TEXT_LENGTH - 3) + '...');
  });

  test('measures the limit after collapsing controls', () => {
    const text = 'z'.repeat(MAX_REPLY_TEXT_LENGTH - 2) + '\r\n\r\n' + 'z';
    expect(sanitizeReplyText(text)).toBe('z'.repeat(MAX_REPLY_TEXT_LENGTH - 2) + ' z');
  });

  describe('properties', () => {
    test('the result has no control characters, no outer blanks, and fits the limit', () => {
      fc.assert(
        fc.property(reasonText, (text) => {
          const clean = sanitizeReplyText(text);
          expect(clean).not.toMatch(/[\x00-\x1f\x7f]/);
          expect(clean).toBe(clean.trim());
          expect(clean.length).toBeLessThanOrEqual(MAX_REPLY_TEXT_LENGTH);
        }),
        { numRuns: 500 },
      );
    });

    test('is idempotent', () => {
      fc.assert(fc.property(reasonText, (text) => expect(sanitizeReplyText(sanitizeReplyText(text))).toBe(sanitizeReplyText(text))));
    });

    test('leaves printable text within the limit as it is, apart from trimming', () => {
      const printable = fc.string({ unit: 'grapheme', maxLength: 100 }).filter((text) => !/[\x00-\x1f\x7f]/.test(text));
      fc.assert(fc.property(printable, (text) => expect(sanitizeReplyText(text)).toBe(text.trim())));
    });
  });
});
