/**
 * Fuzz: the small pieces the dialogues are built of: reply formatting and parsing per protocol
 * (protocols/{smtp,pop3,imap,nntp}/replies.ts, reply-text.ts), SASL (sasl.ts), server greetings (greeting.ts),
 * and each protocol's table from error to refusal, given any reason text.
 */
import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import { isReadyGreeting } from '../../protocols/greeting';
import { formatImapFailure, formatImapUntagged, imapRefusal, parseCapabilities, parseImapResponse } from '../../protocols/imap/replies';
import { decodeNntpText, formatNntpReply, nntpRefusal, parseNntpReply } from '../../protocols/nntp/replies';
import {
  formatPop3Continuation,
  formatPop3Failure,
  formatPop3MultiLine,
  formatPop3Reply,
  parsePop3Status,
  pop3Refusal,
} from '../../protocols/pop3/replies';
import { MAX_REPLY_TEXT_LENGTH, sanitizeReplyText } from '../../protocols/reply-text';
import { decodeBase64, encodePlain, parsePlain } from '../../protocols/sasl';
import { formatSmtpReply, smtpRefusal } from '../../protocols/smtp/replies';
import { ensure, fuzzTargets, type Tally } from './fuzz-harness';
import { textInputs } from './mutate';
import { IMAP_RULES, NNTP_RULES, POP3_RULES, SMTP_RULES } from './wire-checks';

const CODES: RoamgateErrorCode[] = [
  'ROAMGATE_ACCESS_DENIED',
  'ROAMGATE_LOGIN_REQUIRED',
  'ROAMGATE_LOGIN_FAILED',
  'ROAMGATE_NO_SERVER',
  'ROAMGATE_UPSTREAM_TIMEOUT',
  'ROAMGATE_DESTINATION_REFUSED',
  'ROAMGATE_TOO_MANY_CLIENTS',
  'ROAMGATE_IDLE_TIMEOUT',
  'ROAMGATE_SHUTTING_DOWN',
];
const REASONS = ['wrong user name or password', '[AUTH] Authentication failed.', 'bye\r\n250 OK', '.\r\nINJECTED', '\u{1F389} caf\u00e9'];

function checkFormatting(input: { code: RoamgateErrorCode; text: string; lines: string[] }, tally: Tally): void {
  tally.calls += 12;
  const clean = sanitizeReplyText(input.text);
  ensure(!/[\x00-\x1f\x7f]/.test(clean) && clean.length <= MAX_REPLY_TEXT_LENGTH, 'sanitizeReplyText let something through');
  const cut = clean.length >= MAX_REPLY_TEXT_LENGTH - 1 && clean.endsWith('...');
  ensure(!cut || !/[\ud800-\udbff]\.\.\.$/.test(clean), 'a cut through a surrogate pair');
  const error = new RoamgateError(input.code, input.text);
  for (const reply of [formatSmtpReply(250, input.lines, '2.0.0'), formatSmtpReply(535, input.text), smtpRefusal(error)])
    SMTP_RULES.reply(reply, false);
  for (const reply of [formatPop3Reply(false, input.text, 'AUTH'), formatPop3Failure(input.text, 'SYS/TEMP'), pop3Refusal(error)])
    POP3_RULES.reply(reply, false);
  POP3_RULES.reply(formatPop3MultiLine(input.text, input.lines), false);
  POP3_RULES.reply(formatPop3Continuation(input.text), false);
  for (const reply of [formatNntpReply(481, input.text), nntpRefusal(error)]) NNTP_RULES.reply(reply, false);
  for (const reply of [
    formatImapFailure('a1', 'NO', input.text, 'AUTHENTICATIONFAILED'),
    formatImapUntagged('BYE', input.text),
    imapRefusal(error),
  ])
    IMAP_RULES.reply(reply, false);
  tally.accepted++;
}

function checkParsing(line: string, tally: Tally): void {
  tally.calls += 5;
  const status = parsePop3Status(line);
  if (status) ensure(typeof status.ok === 'boolean' && typeof status.text === 'string', 'a POP3 status out of shape');
  if (status?.responseCode !== undefined) ensure(/^[\x21-\x2e\x30-\x5c\x5e-\x7e/]+$/.test(status.responseCode), 'a response code');
  const reply = parseNntpReply(line);
  if (reply) ensure(reply.code >= 100 && reply.code <= 599 && typeof reply.text === 'string', 'an NNTP reply out of shape');
  const decoded = decodeNntpText(line);
  ensure(typeof decoded === 'string' && (!decoded.includes('\ufffd') || line.includes('\ufffd')), 'decodeNntpText replaced characters');
  for (const service of ['smtp', 'pop3', 'imap', 'nntp'] as const)
    ensure(typeof isReadyGreeting(service, line) === 'boolean', 'isReadyGreeting');
  const imap = parseImapResponse(line);
  if (imap?.kind === 'tagged') ensure(/^[\x21-\x7e]+$/.test(imap.tag), 'an IMAP tag a client could not use');
  for (const capability of parseCapabilities(line))
    ensure(/^[\x21-\x7e]+$/.test(capability) && !capability.includes(']'), 'an IMAP capability');
  if (status || reply || imap) tally.accepted++;
  else tally.rejected++;
}

function checkSasl(text: string, tally: Tally): void {
  tally.calls += 2;
  const decoded = decodeBase64(text);
  ensure(decoded === null || !decoded.includes('\ufffd'), 'decodeBase64 gave replacement characters');
  const plain = parsePlain(text);
  if (plain === null) return void tally.rejected++;
  tally.accepted++;
  ensure(plain.username !== '' && plain.password !== '' && !(plain.username + plain.password).includes('\0'), 'PLAIN credentials');
  const again = parsePlain(encodePlain(plain.username, plain.password));
  ensure(again?.username === plain.username && again.password === plain.password, 'no round trip through encodePlain');
}

fuzzTargets('replies and SASL', [
  {
    name: 'replies: formatting and refusals',
    arbitrary: fc.record({
      code: fc.constantFrom(...CODES),
      text: textInputs(REASONS, 600),
      lines: fc.array(textInputs(['PIPELINING', '.', '..x', 'AUTH PLAIN LOGIN', 'SIZE 10240000']), { maxLength: 6 }),
    }),
    check: checkFormatting,
  },
  {
    name: 'replies: parsing',
    arbitrary: textInputs([
      '+OK ready',
      '-ERR [SYS/TEMP] busy',
      '-ERR [AUTH]glued',
      '200 news ready',
      '281',
      '500\tx',
      '220 mx ESMTP',
      '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready',
      'a1 NO [AUTHENTICATIONFAILED] x',
      '+ ',
    ]),
    check: checkParsing,
  },
  {
    name: 'sasl: base64 and PLAIN',
    arbitrary: textInputs(['AGFsaWNlAHB3', 'YWxpY2UAYWxpY2UAcHc=', 'Ym9iAGFsaWNlAHB3', 'w6lsw6h2ZQ==', '=', 'AAAA', 'AGHDqQBwdw==']),
    check: checkSasl,
  },
]);
