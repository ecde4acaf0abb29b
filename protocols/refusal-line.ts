import type { RoamgateError } from '../errors';
import { sanitizeReplyText } from './reply-text';

/** Where a refusal template puts the refusal's reason. */
export const REASON_PLACEHOLDER = '{reason}';

/** Longest refusal template an operator may configure (characters). */
export const MAX_REFUSAL_TEMPLATE_LENGTH = 200;

/**
 * Whether `template` can be a refusal line: 1-200 characters, none of them a
 * control character, so that what is written stays one line.
 */
export function isRefusalTemplate(template: string): boolean {
  return template.length > 0 && template.length <= MAX_REFUSAL_TEMPLATE_LENGTH && !/[\x00-\x1f\x7f]/.test(template);
}

/**
 * The last word for a protocol roamgate does not speak (the generic TCP
 * adapter): the operator's one-line template, `{reason}` replaced by the
 * refusal's reason, ended by CRLF; the empty string without a template (the
 * client is then closed without a word, since any text might be taken for
 * the server's). The reason is made safe for one line, and so is the whole.
 *
 * @example
 * formatRefusalLine('access denied: {reason}', error) // 'access denied: anonymous users may not use telnet\r\n'
 */
export function formatRefusalLine(template: string | undefined, error: RoamgateError): string {
  if (template === undefined) return '';
  return `${sanitizeReplyText(template.split(REASON_PLACEHOLDER).join(sanitizeReplyText(error.message)))}\r\n`;
}
