import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoamgateError } from '../../errors';
import {
  applyKeystrokes,
  checkPassword,
  MIN_PASSWORD_LENGTH,
  PASSWORD_ENV,
  readPassword,
  type KeystrokeResult,
} from '../../bin/read-password';
import { MAX_PASSWORD_LENGTH } from '../../plugin/routes/login-routes';

describe('applyKeystrokes (the no-echo prompt line editor)', () => {
  test.each<[string, string, string, KeystrokeResult]>([
    ['plain text stays typed', '', 'abc', { status: 'typing', typed: 'abc' }],
    ['typing continues what was typed', 'ab', 'cd', { status: 'typing', typed: 'abcd' }],
    ['CR ends the line', '', 'secret\r', { status: 'entered', line: 'secret', rest: '' }],
    ['LF ends the line', 'sec', 'ret\n', { status: 'entered', line: 'secret', rest: '' }],
    ['CR LF is one line end', '', 'secret\r\nnext', { status: 'entered', line: 'secret', rest: 'next' }],
    ['input after Enter is kept for the next line', '', 'one\rtwo\r', { status: 'entered', line: 'one', rest: 'two\r' }],
    ['DEL erases a character', '', 'pa\x7fss\r', { status: 'entered', line: 'pss', rest: '' }],
    ['BS erases a character', 'ab', '\b\r', { status: 'entered', line: 'a', rest: '' }],
    ['erasing an empty line is harmless', '', '\x7f\x7fx', { status: 'typing', typed: 'x' }],
    ['DEL erases a whole non-BMP character', '', 'a\u{1F511}\x7f\r', { status: 'entered', line: 'a', rest: '' }],
    ['Ctrl-U erases the line', 'abc', 'd\x15e\r', { status: 'entered', line: 'e', rest: '' }],
    ['Ctrl-C interrupts', 'abc', '\x03', { status: 'interrupted' }],
    ['Ctrl-D cancels', '', '\x04', { status: 'cancelled' }],
    ['other control characters are dropped', '', 'a\tb\x01c\x1a\r', { status: 'entered', line: 'abc', rest: '' }],
    ['arrow keys (CSI) are dropped', '', 'a\x1b[Db\x1b[1;5Cc\r', { status: 'entered', line: 'abc', rest: '' }],
    ['SS3 keys are dropped', '', 'a\x1bOAb\r', { status: 'entered', line: 'ab', rest: '' }],
    ['bracketed paste markers are dropped', '', '\x1b[200~pasted\x1b[201~\r', { status: 'entered', line: 'pasted', rest: '' }],
    ['Alt+key is dropped', '', 'a\x1bxb\r', { status: 'entered', line: 'ab', rest: '' }],
    ['a lone Escape before Enter does not eat the Enter', '', 'ab\x1b\r', { status: 'entered', line: 'ab', rest: '' }],
    ['non-ASCII text is kept', '', 'pässwörd€\r', { status: 'entered', line: 'pässwörd€', rest: '' }],
    ['spaces are kept, leading and trailing', '', ' a b \r', { status: 'entered', line: ' a b ', rest: '' }],
  ])('%s', (_name, typed, input, expected) => {
    expect(applyKeystrokes(typed, input)).toEqual(expected);
  });

  test('any printable text followed by Enter is entered unchanged, however it is split into chunks', () => {
    // Printable text: ASCII and any grapheme without control characters (C0, DEL, C1).
    const printable = fc.string({
      unit: fc.oneof(
        fc.constantFrom(' ', '~', 'a', 'Z', '9', '$', '\\'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((char) => !/[\x00-\x1f\x7f-\x9f]/.test(char)),
      ),
    });
    fc.assert(
      fc.property(printable, fc.nat(), (password, split) => {
        // The terminal is read through a UTF-8 decoder, so chunks split between code points.
        const keys = [...`${password}\r`];
        const at = split % (keys.length + 1);
        const first = applyKeystrokes('', keys.slice(0, at).join(''));
        if (first.status === 'entered') return first.line === password && first.rest === '';
        if (first.status !== 'typing') return false;
        const second = applyKeystrokes(first.typed, keys.slice(at).join(''));
        return second.status === 'entered' && second.line === password && second.rest === '';
      }),
    );
  });
});

describe('checkPassword', () => {
  test.each([
    ['7 characters', 'x'.repeat(MIN_PASSWORD_LENGTH - 1), /at least 8 characters/],
    ['7 characters, one of them outside the BMP', `${'x'.repeat(5)}\u{1F511}`, /at least 8 characters/],
    ['empty', '', /at least 8 characters/],
    ['longer than a login accepts', 'x'.repeat(MAX_PASSWORD_LENGTH + 1), /at most 1024 characters/],
  ])('refuses %s, saying the rule', (_name, password, message) => {
    expect(() => checkPassword(password)).toThrow(message);
    expect(() => checkPassword(password)).toThrow(RoamgateError);
  });

  test.each([
    ['exactly 8', 'x'.repeat(8)],
    ['the longest a login accepts', 'x'.repeat(MAX_PASSWORD_LENGTH)],
    ['with spaces', '  a b c  '],
  ])('accepts %s', (_name, password) => {
    expect(checkPassword(password)).toBe(password);
  });
});

describe('readPassword without a terminal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-password-'));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const prompts = ['Password: ', 'Type it again: '] as const;

  test.each([
    ['the first line, without its newline', 'first-line-secret\nsecond line\n', 'first-line-secret'],
    ['a CRLF line ending', 'crlf-secret\r\nx', 'crlf-secret'],
    ['no newline at all', 'no-newline-secret', 'no-newline-secret'],
  ])('--password-file takes %s', async (name, content, expected) => {
    await expect(readPassword({ passwordFile: file(name, content), env: {}, prompts })).resolves.toBe(expected);
  });

  test('--password-file comes before the environment', async () => {
    await expect(
      readPassword({ passwordFile: file('first', 'from-the-file\n'), env: { [PASSWORD_ENV]: 'from-the-environment' }, prompts }),
    ).resolves.toBe('from-the-file');
  });

  test('the environment is used when there is no file', async () => {
    await expect(readPassword({ env: { [PASSWORD_ENV]: 'from-the-environment' }, prompts })).resolves.toBe('from-the-environment');
  });

  test('an unreadable file is named', async () => {
    await expect(readPassword({ passwordFile: join(dir, 'missing'), env: {}, prompts })).rejects.toThrow(
      /cannot read --password-file .*missing: ENOENT/,
    );
  });

  test('a short password from a file is refused with the rule', async () => {
    await expect(readPassword({ passwordFile: file('short', 'short\n'), env: {}, prompts })).rejects.toThrow(/at least 8 characters/);
  });
});
