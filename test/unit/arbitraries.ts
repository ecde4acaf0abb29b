import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';

/** Every error code, so a refusal table is checked against all of them. */
export const ALL_CODES: readonly RoamgateErrorCode[] = [
  'ROAMGATE_INVALID_OPTIONS',
  'ROAMGATE_ACCESS_DENIED',
  'ROAMGATE_LOGIN_REQUIRED',
  'ROAMGATE_NO_SERVER',
  'ROAMGATE_UPSTREAM_REFUSED',
  'ROAMGATE_UPSTREAM_TIMEOUT',
  'ROAMGATE_DESTINATION_REFUSED',
  'ROAMGATE_TOO_MANY_CLIENTS',
  'ROAMGATE_SHUTTING_DOWN',
  'ROAMGATE_BAD_REQUEST',
  'ROAMGATE_SOURCE_FAILED',
];

/**
 * Any string of code points, lone surrogates included, weighted towards ASCII
 * and its control characters. (fast-check's `unit: 'binary'` does the same but
 * spends over a second building tables in every test file.)
 */
export const anyText = (maxLength = 40) =>
  fc.string({
    unit: fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0x10ffff })).map((code) => String.fromCodePoint(code)),
    maxLength,
  });

/**
 * Reason texts as a hostile or careless source might write them: any code
 * point, plus strings made mostly of CR, LF and other control characters.
 * Long enough to pass the length limit.
 */
export const reasonText = fc.oneof(
  anyText(600),
  fc.string({
    unit: fc.constantFrom('\r', '\n', '\r\n', '\x00', '\x1b', '\x7f', '\t', ' ', 'a', '\u00e9', '\u{1F389}', '\u2028'),
    maxLength: 600,
  }),
);

export const anyRoamgateError = fc
  .tuple(fc.constantFrom(...ALL_CODES), reasonText)
  .map(([code, message]) => new RoamgateError(code, message));

/** Splits a reply into its CRLF-terminated lines, failing if anything else is there. */
export function wireLines(reply: string): string[] {
  expect(reply.endsWith('\r\n')).toBe(true);
  const parts = reply.slice(0, -2).split('\r\n');
  for (const part of parts) expect(part).not.toMatch(/[\r\n]/);
  return parts;
}
