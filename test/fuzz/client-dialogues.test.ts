/** Fuzz: the SMTP, POP3, IMAP and NNTP client dialogues (pre-login, as the gateway speaks to a client). */
import { createImapClientDialogue } from '../../protocols/imap/client-dialogue';
import { createNntpClientDialogue } from '../../protocols/nntp/client-dialogue';
import { createPop3ClientDialogue } from '../../protocols/pop3/client-dialogue';
import { createSmtpClientDialogue } from '../../protocols/smtp/client-dialogue';
import { clientScripts, driveClient } from './dialogue-driver';
import { fuzzTargets } from './fuzz-harness';
import { IMAP_RULES, NNTP_RULES, POP3_RULES, SMTP_RULES } from './wire-checks';

const SMTP_SESSIONS = [
  ['EHLO pc.example.org', 'AUTH PLAIN AGFsaWNlAHB3', 'MAIL FROM:<a@example.org>', 'QUIT'],
  ['EHLO pc', 'STARTTLS', 'EHLO pc', 'AUTH LOGIN', 'YWxpY2U=', 'cHc=', 'NOOP'],
  ['HELO pc', 'AUTH PLAIN', 'AGFsaWNlAHB3', 'RSET', 'VRFY bob', 'HELP', 'QUIT'],
  ['EHLO pc', 'AUTH PLAIN =', 'AUTH LOGIN YWxpY2U=', 'cHc=', '*', 'DATA', 'BDAT 10 LAST', 'ETRN x', 'EXPN list'],
  ['ehlo\tpc', 'auth plain YWxpY2UAYWxpY2UAcHc=', 'AUTH PLAIN Ym9iAGFsaWNlAHB3', 'AUTH LOGIN', 'w6lsw6h2ZQ==', 'AA=='],
];
const SMTP_WORDS = [
  'EHLO',
  'HELO',
  'AUTH',
  'AUTH PLAIN',
  'AUTH LOGIN',
  'STARTTLS',
  'NOOP',
  'RSET',
  'QUIT',
  'HELP',
  'VRFY',
  'MAIL',
  'RCPT',
  'DATA',
  'BDAT',
  'ETRN',
  'EXPN',
  'AGFsaWNlAHB3',
  '*',
];

const POP3_SESSIONS = [
  ['CAPA', 'USER alice', 'PASS pw', 'STAT', 'QUIT'],
  ['CAPA', 'STLS', 'CAPA', 'AUTH PLAIN AGFsaWNlAHB3', 'LIST'],
  ['AUTH', 'AUTH PLAIN', 'AGFsaWNlAHB3', 'APOP alice 0123456789abcdef', 'NOOP', 'QUIT'],
  ['USER élève', 'PASS pass word with spaces', 'RETR 1', 'TOP 1 10', 'UIDL', 'DELE 1', 'RSET'],
  ['user alice', 'pass pw', 'AUTH PLAIN *', 'AUTH PLAIN', '*', 'PASS without user'],
];
const POP3_WORDS = [
  'CAPA',
  'STLS',
  'USER',
  'PASS',
  'AUTH',
  'AUTH PLAIN',
  'APOP',
  'QUIT',
  'NOOP',
  'STAT',
  'LIST',
  'RETR',
  'DELE',
  'RSET',
  'TOP',
  'UIDL',
];

const IMAP_SESSIONS = [
  ['a1 CAPABILITY', 'a2 ID ("name" "Thunderbird" "version" "115")', 'a3 LOGIN alice pw', 'a4 SELECT INBOX', 'a5 LOGOUT'],
  ['a1 STARTTLS', 'a2 CAPABILITY', 'a3 AUTHENTICATE PLAIN AGFsaWNlAHB3', 'a4 IDLE', 'DONE'],
  ['a1 AUTHENTICATE PLAIN', 'AGFsaWNlAHB3', 'a2 AUTHENTICATE PLAIN', '*', 'a3 AUTHENTICATE PLAIN =', 'a4 NOOP'],
  ['a1 LOGIN {5}', 'alice {2+}', 'pw', 'a2 LOGIN "al\\ice" "p"w"', 'a3 ID NIL', 'a4 APPEND INBOX {11+}', 'hello world'],
  ['x login {7}', 'jürgen {999999}', 'y LOGIN {3000+}', '* OK', '+ ', 'a LOGOUT extra', 'a1 FETCH 1 BODY[]', ''],
];
const IMAP_WORDS = [
  'a1 CAPABILITY',
  'a1 NOOP',
  'a1 LOGOUT',
  'a1 ID',
  'a1 ID NIL',
  'a1 STARTTLS',
  'a1 LOGIN',
  'a1 AUTHENTICATE',
  'a1 AUTHENTICATE PLAIN',
  'a1 SELECT',
  'a1 IDLE',
  '{5}',
  '{5+}',
  '"',
  '*',
];

const NNTP_SESSIONS = [
  ['CAPABILITIES', 'MODE READER', 'AUTHINFO USER alice', 'AUTHINFO PASS pw', 'GROUP misc.test', 'QUIT'],
  ['STARTTLS', 'CAPABILITIES', 'AUTHINFO USER alice', 'AUTHINFO PASS pw'],
  ['HELP', 'AUTHINFO SASL PLAIN', 'AUTHINFO PASS early', 'LIST ACTIVE', 'POST', 'MODE STREAM', 'ARTICLE <a@b.example>'],
  ['authinfo user élève', 'authinfo pass a b c', 'xover 1-10', 'STARTTLS now', 'MODE reader'],
];
const NNTP_WORDS = [
  'AUTHINFO',
  'AUTHINFO USER',
  'AUTHINFO PASS',
  'AUTHINFO SASL',
  'CAPABILITIES',
  'HELP',
  'MODE',
  'MODE READER',
  'QUIT',
  'STARTTLS',
  'GROUP',
  'LIST',
  'POST',
  'XOVER',
  'IHAVE',
];

fuzzTargets('client dialogues', [
  {
    name: 'smtp client-dialogue',
    arbitrary: clientScripts(SMTP_SESSIONS, SMTP_WORDS),
    check(script, tally) {
      const dialogue = createSmtpClientDialogue(script.options);
      // What the dialogue holds is an EHLO name and a LOGIN user name, each from one line.
      driveClient(dialogue, script, SMTP_RULES, tally, () => dialogue.heldBytes <= 4 * script.options.maxLineLength);
    },
  },
  {
    name: 'pop3 client-dialogue',
    arbitrary: clientScripts(POP3_SESSIONS, POP3_WORDS),
    check: (script, tally) => driveClient(createPop3ClientDialogue(script.options), script, POP3_RULES, tally),
  },
  {
    name: 'imap client-dialogue',
    arbitrary: clientScripts(IMAP_SESSIONS, IMAP_WORDS),
    check(script, tally) {
      const dialogue = createImapClientDialogue(script.options);
      // What the dialogue holds is one command with its literals, bounded by maxLineLength and one more line.
      driveClient(dialogue, script, IMAP_RULES, tally, () => dialogue.heldBytes <= 2 * script.options.maxLineLength + 2);
    },
  },
  {
    name: 'nntp client-dialogue',
    arbitrary: clientScripts(NNTP_SESSIONS, NNTP_WORDS),
    check(script, tally) {
      const dialogue = createNntpClientDialogue(script.options);
      driveClient(dialogue, script, NNTP_RULES, tally, () => dialogue.buffered <= script.options.maxLineLength);
    },
  },
]);
