/** Fuzz: the SMTP, POP3, IMAP and NNTP server dialogues (the gateway logging in at the user's server), fed what a server might say. */
import fc from 'fast-check';
import { createImapServerDialogue } from '../../protocols/imap/server-dialogue';
import { createNntpServerDialogue } from '../../protocols/nntp/server-dialogue';
import { createPop3ServerDialogue } from '../../protocols/pop3/server-dialogue';
import { createSmtpServerDialogue } from '../../protocols/smtp/server-dialogue';
import { driveServer, serverCredentials, serverScripts } from './dialogue-driver';
import { fuzzTargets } from './fuzz-harness';
import { IMAP_RULES, NNTP_RULES, POP3_RULES, SMTP_RULES } from './wire-checks';

const SMTP_SERVER = [
  ['220 mx.example.org ESMTP', '250-mx.example.org', '250-PIPELINING', '250-STARTTLS', '250 AUTH PLAIN LOGIN', '220 2.0.0 Ready'],
  ['250-mx.example.org greets pc', '250-SIZE 10240000', '250 AUTH PLAIN LOGIN', '235 2.7.0 Authentication successful'],
  ['220 mx ESMTP', '250-mx', '250 AUTH=LOGIN', '334 VXNlcm5hbWU6', '334 UGFzc3dvcmQ6', '235 ok'],
  ['220 mx', '250 mx', '535 5.7.8 Authentication credentials invalid'],
  ['421 4.3.2 busy'],
  ['220 mx', '250-mx', '250 AUTH CRAM-MD5', '220-first', '220 second', '454 4.7.0 TLS not available'],
];
const SMTP_SERVER_WORDS = ['220', '220-', '250', '250-', '235', '334', '421', '454', '501', '535', '550', 'AUTH', 'STARTTLS', '5.7.8'];

const POP3_SERVER = [
  ['+OK ready', '+OK', '+OK logged in'],
  ['+OK ready', '+OK capa', 'STLS', 'USER', 'SASL PLAIN', '.', '+OK go', '+OK capa', 'SASL PLAIN', '.', '+ ', '+OK in'],
  ['+OK <1.2@mail.example>', '-ERR [AUTH] Authentication failed.'],
  ['-ERR [SYS/TEMP] busy'],
  ['+OK', '+OK', '-ERR [IN-USE] Mailbox locked'],
  ['+OK', '+OK capa', '..dotted', 'USER', '.', '+OK', '+OK', 'SASL PLAIN LOGIN', '.', '-ERR [LOGIN-DELAY] wait'],
];
const POP3_SERVER_WORDS = ['+OK', '-ERR', '+', '.', 'STLS', 'USER', 'SASL PLAIN', '[AUTH]', '[SYS/TEMP]', '[IN-USE]'];

const IMAP_SERVER = [
  [
    '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.',
    'rg1 OK Begin TLS negotiation now.',
    '* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN',
    'rg2 OK Pre-login capabilities listed, post-login capabilities have more.',
    'rg3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in',
  ],
  ['* OK ready', '* CAPABILITY IMAP4rev1 AUTH=PLAIN', 'rg1 OK done', '+ ', 'rg2 NO [AUTHENTICATIONFAILED] Authentication failed.'],
  ['* OK [CAPABILITY IMAP4rev1] ready', '+ OK', '+ OK', 'rg1 OK Logged in'],
  ['* PREAUTH [CAPABILITY IMAP4rev1] ready'],
  ['* BYE [UNAVAILABLE] busy'],
  ['* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] x', '* OK [ALERT] hi', '* 3 EXISTS', 'rg1 NO [UNAVAILABLE] later', '* ID ("x" {3}'],
];
const IMAP_SERVER_WORDS = [
  '* OK',
  '* NO',
  '* BAD',
  '* BYE',
  '* PREAUTH',
  '* CAPABILITY',
  'rg1 OK',
  'rg2 OK',
  'rg1 NO',
  'rg1 BAD',
  '+',
  '+ ',
  'STARTTLS',
  'AUTH=PLAIN',
  'SASL-IR',
  'LOGINDISABLED',
];

const NNTP_SERVER = [
  ['200 news.example.test InterNetNews NNRP server INN 2.7.1 ready (posting ok)', '200 reader', '381 Enter password', '281 ok'],
  ['201 news', '382 Continue with TLS negotiation', '480 login first', '381', '281', '200 ok'],
  ['200 news', '481 Authentication failed'],
  ['400 service temporarily unavailable'],
  ['200 news', '502 no permission', '501 syntax'],
  ['200 news', '500 what?', '281 Authentication accepted', '483 encryption required'],
];
const NNTP_SERVER_WORDS = ['200', '201', '281', '381', '382', '400', '480', '481', '482', '483', '500', '501', '502'];

const startTls = fc.boolean();

fuzzTargets('server dialogues', [
  {
    name: 'smtp server-dialogue',
    arbitrary: serverScripts(
      fc.record({
        credentials: serverCredentials,
        startTls,
        clientName: fc.option(fc.constantFrom('pc.example.org', 'with space', 'x\r\nRSET', ''), { nil: undefined }),
      }),
      SMTP_SERVER,
      SMTP_SERVER_WORDS,
    ),
    check: (script, tally) => driveServer(createSmtpServerDialogue(script.options), script, SMTP_RULES, tally),
  },
  {
    name: 'pop3 server-dialogue',
    arbitrary: serverScripts(fc.record({ credentials: serverCredentials, startTls }), POP3_SERVER, POP3_SERVER_WORDS),
    check: (script, tally) => driveServer(createPop3ServerDialogue(script.options), script, POP3_RULES, tally),
  },
  {
    name: 'imap server-dialogue',
    arbitrary: serverScripts(fc.record({ credentials: serverCredentials, startTls }), IMAP_SERVER, IMAP_SERVER_WORDS),
    check: (script, tally) => driveServer(createImapServerDialogue(script.options), script, IMAP_RULES, tally),
  },
  {
    name: 'nntp server-dialogue',
    arbitrary: serverScripts(
      fc.record({ credentials: serverCredentials, startTls, modeReader: fc.boolean() }),
      NNTP_SERVER,
      NNTP_SERVER_WORDS,
    ),
    check: (script, tally) => driveServer(createNntpServerDialogue(script.options), script, NNTP_RULES, tally),
  },
]);
