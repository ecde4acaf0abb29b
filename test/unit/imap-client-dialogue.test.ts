import fc from 'fast-check';
import { RoamgateError } from '../../errors';
import type { ClientAction, ClientDialogueOptions } from '../../protocols/dialogue';
import { createImapClientDialogue, type ImapClientDialogue } from '../../protocols/imap/client-dialogue';
import { parseImapResponse } from '../../protocols/imap/replies';
import { encodeBase64, encodePlain } from '../../protocols/sasl';
import { anyText, reasonText, wireLines } from './arbitraries';

const BASE: ClientDialogueOptions = {
  hostname: 'mail.example',
  startTlsAvailable: false,
  secure: false,
  allowCleartextLogin: true,
  maxLineLength: 2048,
  maxUnauthenticatedCommands: 20,
  maxLoginAttempts: 3,
};

const send = (data: string): ClientAction => ({ kind: 'send', data });
const close = (data: string): ClientAction => ({ kind: 'close', data });
const starttls = (data: string): ClientAction => ({ kind: 'starttls', data });
const login = (username: string, password: string, mechanism: 'LOGIN' | 'PLAIN'): ClientAction => ({
  kind: 'login',
  credentials: { username, password, mechanism },
});

const CAPS_LOGIN = 'IMAP4rev1 AUTH=PLAIN SASL-IR ID';
const CAPS_STARTTLS_ONLY = 'IMAP4rev1 STARTTLS LOGINDISABLED ID';
const CAPS_LOGIN_STARTTLS = 'IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR ID';
const CAPS_NOTHING = 'IMAP4rev1 LOGINDISABLED ID';
const capability = (tag: string, caps: string) => send(`* CAPABILITY ${caps}\r\n${tag} OK Capability completed\r\n`);
const CONTINUE = send('+ \r\n');
const LITERAL = send('+ Ready for literal data\r\n');
const BAD_TEXT = (tag: string) => send(`${tag} BAD User name and password must be UTF-8 without CR, LF or NUL\r\n`);
const PRIVACY_STARTTLS = (tag: string) => send(`${tag} NO [PRIVACYREQUIRED] Cleartext login is disabled, use STARTTLS first\r\n`);
const PRIVACY = (tag: string) => send(`${tag} NO [PRIVACYREQUIRED] Cleartext login is disabled\r\n`);
const SERVER_CAPS = ['IMAP4rev1', 'IDLE', 'LITERAL+', 'COMPRESS=DEFLATE'];

/** What the adapter does, besides feeding lines. */
type Event =
  | { event: 'too-long' }
  | { event: 'tls' }
  | { event: 'succeed'; capabilities?: string[] }
  | { event: 'fail'; reason: string }
  | { event: 'last-words'; error: RoamgateError };
const TOO_LONG: Event = { event: 'too-long' };
const TLS: Event = { event: 'tls' };
const succeed = (capabilities?: string[]): Event => ({ event: 'succeed', capabilities });
const fail = (reason: string): Event => ({ event: 'fail', reason });
const lastWords = (code: RoamgateError['code'], message: string): Event => ({
  event: 'last-words',
  error: new RoamgateError(code, message),
});
type Step = [input: string | Event, expected: ClientAction[] | string];

function feed(dialogue: ImapClientDialogue, input: string | Event): ClientAction[] | string {
  if (typeof input === 'string') return dialogue.onLine(input);
  switch (input.event) {
    case 'too-long':
      return dialogue.onLineTooLong();
    case 'tls':
      dialogue.tlsStarted();
      return [];
    case 'succeed':
      if (input.capabilities) dialogue.useServerCapabilities(input.capabilities);
      return dialogue.loginSucceeded();
    case 'fail':
      return dialogue.loginFailed(input.reason);
    case 'last-words':
      return dialogue.lastWords(input.error);
  }
}

function greetingFor(options: Partial<ClientDialogueOptions>): string {
  const dialogue = createImapClientDialogue({ ...BASE, ...options });
  return (dialogue.start()[0] as { data: string }).data;
}

function play(options: Partial<ClientDialogueOptions>, steps: Step[]): void {
  const dialogue = createImapClientDialogue({ ...BASE, ...options });
  expect(dialogue.start()).toHaveLength(1);
  steps.forEach(([input, expected], index) => {
    expect({ step: index, input, output: feed(dialogue, input) }).toEqual({ step: index, input, output: expected });
  });
}

/** A line as LineReader delivers it: UTF-8 bytes, one latin1 character per byte. */
const onWire = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

describe('createImapClientDialogue', () => {
  describe('greeting and CAPABILITY: honest about what a login needs', () => {
    test('greets once, with its capabilities as a response code', () => {
      const dialogue = createImapClientDialogue(BASE);
      expect(dialogue.start()).toEqual([send(`* OK [CAPABILITY ${CAPS_LOGIN}] mail.example IMAP roamgate ready\r\n`)]);
      expect(dialogue.start()).toEqual([]);
    });

    test('a hostname with CR LF cannot inject a line', () => {
      expect(greetingFor({ hostname: 'mail\r\na1 OK x' })).toBe(`* OK [CAPABILITY ${CAPS_LOGIN}] mail a1 OK x IMAP roamgate ready\r\n`);
    });

    test.each<[string, Partial<ClientDialogueOptions>, string]>([
      ['cleartext allowed, no TLS offered', {}, CAPS_LOGIN],
      ['cleartext allowed, STARTTLS offered', { startTlsAvailable: true }, CAPS_LOGIN_STARTTLS],
      ['cleartext refused, STARTTLS offered: LOGINDISABLED', { startTlsAvailable: true, allowCleartextLogin: false }, CAPS_STARTTLS_ONLY],
      ['cleartext refused, no TLS at all', { allowCleartextLogin: false }, CAPS_NOTHING],
      ['implicit TLS: logins, no STARTTLS', { secure: true, startTlsAvailable: true, allowCleartextLogin: false }, CAPS_LOGIN],
    ])('%s', (_name, options, caps) => {
      expect(greetingFor(options)).toBe(`* OK [CAPABILITY ${caps}] mail.example IMAP roamgate ready\r\n`);
      play(options, [
        ['a1 CAPABILITY', [capability('a1', caps)]],
        ['a2 capability', [capability('a2', caps)]],
      ]);
    });

    test.each<[string, Step[]]>([
      ['NOOP', [['x NOOP', [send('x OK NOOP completed\r\n')]]]],
      [
        'LOGOUT says BYE, then the tagged OK, and closes',
        [
          ['x LOGOUT', [close('* BYE Logging out\r\nx OK Logout completed\r\n')]],
          ['y NOOP', []],
        ],
      ],
      ['ID NIL is answered with ID NIL', [['x ID NIL', [send('* ID NIL\r\nx OK ID completed\r\n')]]]],
      [
        'ID with parameters (Thunderbird), quoted and NIL',
        [['x ID ("name" "Thunderbird" "version" "115.0" "os" NIL)', [send('* ID NIL\r\nx OK ID completed\r\n')]]],
      ],
      [
        'ID with a literal value',
        [
          ['x ID ("name" {11}', [LITERAL]],
          ['Thunderbird)', [send('* ID NIL\r\nx OK ID completed\r\n')]],
        ],
      ],
      ['ID without its argument', [['x ID', [send('x BAD Syntax: ID NIL or ID ("name" "value" ...)\r\n')]]]],
      ['ID with an unclosed list', [['x ID ("name"', [send('x BAD Syntax: ID NIL or ID ("name" "value" ...)\r\n')]]]],
      ['arguments where none belong', [['x NOOP now', [send('x BAD Syntax error: no arguments expected\r\n')]]]],
      ['a trailing space is an argument too', [['x CAPABILITY ', [send('x BAD Syntax error: no arguments expected\r\n')]]]],
      ['a command of the authenticated state', [['x SELECT INBOX', [send('x BAD Log in first\r\n')]]]],
      ['IDLE before login', [['x IDLE', [send('x BAD Log in first\r\n')]]]],
      ['an unknown command', [['x XYZZY', [send('x BAD Unknown command\r\n')]]]],
      ['a command name that only toUpperCase would make known', [['x ſtarttls', [send('x BAD Invalid command name\r\n')]]]],
      ['no command', [['x', [send('x BAD Missing command\r\n')]]]],
      ['an empty line', [['', [send('* BAD Empty command line\r\n')]]]],
      ['a tag with a quote is no tag', [['a"b NOOP', [send('* BAD Invalid tag\r\n')]]]],
      ['a tag with + is no tag (RFC 9051)', [['+a NOOP', [send('* BAD Invalid tag\r\n')]]]],
      ['a tag too long to echo', [[`${'t'.repeat(65)} NOOP`, [send('* BAD Invalid tag\r\n')]]]],
      ['odd but valid tags are echoed', [['A]0.1 NOOP', [send('A]0.1 OK NOOP completed\r\n')]]]],
    ])('%s', (_name, steps) => play({}, steps));
  });

  describe('LOGIN (python imaplib, Thunderbird)', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      ['with atoms', {}, [['a1 LOGIN alice secret', [login('alice', 'secret', 'LOGIN')]]]],
      ['with quoted strings and escapes', {}, [['a1 login "alice" "se\\"cr\\\\et x"', [login('alice', 'se"cr\\et x', 'LOGIN')]]]],
      [
        'a user name as a synchronizing literal: "+ " first (RFC 9051 7.5)',
        {},
        [
          ['a1 LOGIN {5}', [LITERAL]],
          ['alice "pw"', [login('alice', 'pw', 'LOGIN')]],
        ],
      ],
      [
        'both as literals, the second LITERAL+ (RFC 7888): no "+ " for it',
        {},
        [
          ['a1 LOGIN {5}', [LITERAL]],
          ['alice {6+}', []],
          ['secret', [login('alice', 'secret', 'LOGIN')]],
        ],
      ],
      [
        'UTF-8 in a literal counts bytes',
        {},
        [
          [`a1 LOGIN {${Buffer.byteLength('jürgen')}+}`, []],
          [onWire('jürgen pässwörd'), [login('jürgen', 'pässwörd', 'LOGIN')]],
        ],
      ],
      ['UTF-8 in quoted strings and atoms', {}, [[onWire('a1 LOGIN jürgen "pässwörd🔑"'), [login('jürgen', 'pässwörd🔑', 'LOGIN')]]]],
      [
        'then loginSucceeded answers the tag',
        {},
        [
          ['t7 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [succeed(), 't7 OK Logged in\r\n'],
        ],
      ],
      [
        "the server's capabilities go with the OK as a code",
        {},
        [
          ['t7 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [succeed(SERVER_CAPS), `t7 OK [CAPABILITY ${SERVER_CAPS.join(' ')}] Logged in\r\n`],
        ],
      ],
      [
        'to a client that asked CAPABILITY itself, as an untagged CAPABILITY (as dovecot does)',
        {},
        [
          ['t1 CAPABILITY', [capability('t1', CAPS_LOGIN)]],
          ['t2 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [succeed(SERVER_CAPS), `* CAPABILITY ${SERVER_CAPS.join(' ')}\r\nt2 OK Logged in\r\n`],
        ],
      ],
      [
        "after the login the dialogue is done: lines are the relay's",
        {},
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [succeed(), 'a1 OK Logged in\r\n'],
          ['a2 SELECT INBOX', []],
          [TOO_LONG, []],
          [succeed(), ''],
        ],
      ],
      ['one argument only', {}, [['a1 LOGIN alice', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]]]],
      ['three arguments', {}, [['a1 LOGIN a b c', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]]]],
      ['two spaces', {}, [['a1 LOGIN a  b', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]]]],
      ['an unterminated quoted string', {}, [['a1 LOGIN a "b', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]]]],
      ['an escape of anything but " and \\', {}, [['a1 LOGIN a "b\\n"', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]]]],
      ['a literal that is not the end of its line', {}, [['a1 LOGIN {1}x b', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]]]],
      ['an empty password', {}, [['a1 LOGIN a ""', [BAD_TEXT('a1')]]]],
      ['a name that is not UTF-8', {}, [['a1 LOGIN j\u00fcrgen pw', [BAD_TEXT('a1')]]]],
      [
        'a literal with CR LF in it: read past, then refused',
        {},
        [
          ['a1 LOGIN {7}', [LITERAL]],
          ['al', []],
          ['ice pw', [BAD_TEXT('a1')]],
          ['a2 NOOP', [send('a2 OK NOOP completed\r\n')]],
        ],
      ],
      [
        'a NUL in a quoted string',
        {},
        [
          ['a1 LOGIN "a\u0000b" pw', [send('a1 BAD Syntax: LOGIN user-name password\r\n')]],
          ['a2 LOGIN {3+}', []],
          ['a\u0000b pw', [BAD_TEXT('a2')]],
        ],
      ],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('literals: bounded, and refused before their data where possible', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'a synchronizing literal past maxLineLength: BAD [TOOBIG], no "+ ", the dialogue goes on',
        { maxLineLength: 512 },
        [
          ['a1 LOGIN {600}', [send('a1 BAD [TOOBIG] Command with its literals too long\r\n')]],
          ['a2 NOOP', [send('a2 OK NOOP completed\r\n')]],
        ],
      ],
      [
        'a LITERAL+ one past it cannot be read past: BYE and close',
        { maxLineLength: 512 },
        [['a1 LOGIN {600+}', [close('* BYE [TOOBIG] Command with its literals too long\r\n')]]],
      ],
      [
        'the limit is on the whole command, literals together',
        { maxLineLength: 512 },
        [
          ['a1 LOGIN {300}', [LITERAL]],
          [`${'u'.repeat(300)} {300}`, [send('a1 BAD [TOOBIG] Command with its literals too long\r\n')]],
        ],
      ],
      ['LOGIN refused in cleartext is refused before its literal', { allowCleartextLogin: false }, [['a1 LOGIN {5}', [PRIVACY('a1')]]]],
      [
        'an unknown command with a literal is refused before it',
        {},
        [
          ['a1 XYZZY {5}', [send('a1 BAD Unknown command\r\n')]],
          ['a2 SELECT {5}', [send('a2 BAD Log in first\r\n')]],
          ['a3 NOOP {5}', [send('a3 BAD Syntax error\r\n')]],
        ],
      ],
      [
        'a LITERAL+ literal of a refused command is read past, then answered',
        {},
        [
          ['a1 APPEND INBOX {11+}', []],
          ['hello world', [send('a1 BAD Log in first\r\n')]],
          ['a2 NOOP', [send('a2 OK NOOP completed\r\n')]],
        ],
      ],
      [
        'a LITERAL+ literal after an unreadable tag: we cannot tell where the next command starts',
        {},
        [['"x LOGIN {5+}', [close('* BYE Invalid tag\r\n')]]],
      ],
      [
        'a literal of zero bytes',
        {},
        [
          ['a1 LOGIN {0}', [LITERAL]],
          [' pw', [BAD_TEXT('a1')]],
        ],
      ],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('AUTHENTICATE PLAIN (curl, imaplib.authenticate)', () => {
    const plain = encodePlain('alice', 'secret');
    test.each<[string, Step[]]>([
      ['with an initial response (SASL-IR, RFC 4959: curl)', [[`a1 AUTHENTICATE PLAIN ${plain}`, [login('alice', 'secret', 'PLAIN')]]]],
      [
        'without: "+ " then the response (imaplib)',
        [
          ['a1 AUTHENTICATE PLAIN', [CONTINUE]],
          [plain, [login('alice', 'secret', 'PLAIN')]],
          [succeed(['IMAP4rev1']), 'a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n'],
        ],
      ],
      ['mechanism and command in any case', [[`a1 authenticate plain ${plain}`, [login('alice', 'secret', 'PLAIN')]]]],
      [
        'an authorization identity equal to the user',
        [[`a AUTHENTICATE PLAIN ${encodeBase64('alice\0alice\0secret')}`, [login('alice', 'secret', 'PLAIN')]]],
      ],
      [
        'acting as someone else is refused',
        [[`a AUTHENTICATE PLAIN ${encodeBase64('bob\0alice\0secret')}`, [send('a NO [AUTHENTICATIONFAILED] Invalid PLAIN response\r\n')]]],
      ],
      [
        '"*" cancels with a tagged BAD (RFC 9051 6.2.2), and the dialogue goes on',
        [
          ['a1 AUTHENTICATE PLAIN', [CONTINUE]],
          ['*', [send('a1 BAD Authentication cancelled\r\n')]],
          ['a2 LOGIN alice pw', [login('alice', 'pw', 'LOGIN')]],
        ],
      ],
      [
        'the response line is a response, even when it looks like a command',
        [
          ['a1 AUTHENTICATE PLAIN', [CONTINUE]],
          ['a2 LOGOUT', [send('a1 BAD Invalid base64 in the SASL response\r\n')]],
        ],
      ],
      [
        '"=" is an empty initial response, which PLAIN cannot be',
        [['a AUTHENTICATE PLAIN =', [send('a NO [AUTHENTICATIONFAILED] Invalid PLAIN response\r\n')]]],
      ],
      ['invalid base64', [['a AUTHENTICATE PLAIN bm90IGJhc2U2NA', [send('a BAD Invalid base64 in the SASL response\r\n')]]]],
      ['another mechanism', [['a AUTHENTICATE CRAM-MD5', [send('a NO Unsupported authentication mechanism\r\n')]]]],
      ['no mechanism', [['a AUTHENTICATE', [send('a BAD Syntax: AUTHENTICATE mechanism [initial-response]\r\n')]]]],
      ['too many arguments', [[`a AUTHENTICATE PLAIN ${plain} x`, [send('a BAD Syntax: AUTHENTICATE PLAIN [initial-response]\r\n')]]]],
      ['a password with CR LF', [[`a AUTHENTICATE PLAIN ${encodePlain('alice', 'pw\r\nb LOGOUT')}`, [BAD_TEXT('a')]]]],
    ])('%s', (_name, steps) => play({}, steps));
  });

  describe('cleartext refused', () => {
    test.each<[string, Partial<ClientDialogueOptions>, (tag: string) => ClientAction]>([
      ['with STARTTLS offered', { startTlsAvailable: true, allowCleartextLogin: false }, PRIVACY_STARTTLS],
      ['without TLS', { allowCleartextLogin: false }, PRIVACY],
    ])('%s: LOGIN and AUTHENTICATE are NO [PRIVACYREQUIRED]', (_name, options, refusal) =>
      play(options, [
        ['a LOGIN alice pw', [refusal('a')]],
        [`b AUTHENTICATE PLAIN ${encodePlain('alice', 'pw')}`, [refusal('b')]],
        ['c AUTHENTICATE PLAIN', [refusal('c')]],
        ['d LOGIN {5+}', []],
        ['alice pw', [refusal('d')]],
      ]),
    );
  });

  describe('STARTTLS', () => {
    const options = { startTlsAvailable: true, allowCleartextLogin: false };
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'then capabilities anew and a login over TLS',
        options,
        [
          ['a1 STARTTLS', [starttls('a1 OK Begin TLS negotiation now\r\n')]],
          [TLS, []],
          ['a2 CAPABILITY', [capability('a2', CAPS_LOGIN)]],
          ['a3 LOGIN alice pw', [login('alice', 'pw', 'LOGIN')]],
        ],
      ],
      [
        'commands sent ahead of the handshake are dropped (no injection)',
        options,
        [
          ['a1 STARTTLS', [starttls('a1 OK Begin TLS negotiation now\r\n')]],
          ['a2 LOGIN alice pw', []],
          [TOO_LONG, [close('')]],
        ],
      ],
      [
        'whether the client asked CAPABILITY before TLS is forgotten',
        options,
        [
          ['a1 CAPABILITY', [capability('a1', CAPS_STARTTLS_ONLY)]],
          ['a2 STARTTLS', [starttls('a2 OK Begin TLS negotiation now\r\n')]],
          [TLS, []],
          ['a3 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [succeed(['IMAP4rev1']), 'a3 OK [CAPABILITY IMAP4rev1] Logged in\r\n'],
        ],
      ],
      [
        'not twice',
        options,
        [
          ['a1 STARTTLS', [starttls('a1 OK Begin TLS negotiation now\r\n')]],
          [TLS, []],
          ['a2 STARTTLS', [send('a2 BAD TLS is already active\r\n')]],
        ],
      ],
      ['not on the implicit-TLS port', { ...options, secure: true }, [['a1 STARTTLS', [send('a1 BAD TLS is already active\r\n')]]]],
      ['not without a certificate', {}, [['a1 STARTTLS', [send('a1 NO STARTTLS is not available\r\n')]]]],
      [
        'tlsStarted without STARTTLS changes nothing',
        options,
        [
          [TLS, []],
          ['a1 LOGIN a b', [PRIVACY_STARTTLS('a1')]],
        ],
      ],
    ])('%s', (_name, opts, steps) => play(opts, steps));
  });

  describe('failed logins and limits', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'a failure answers NO [AUTHENTICATIONFAILED] under the tag',
        {},
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [fail('wrong user name or password'), [send('a1 NO [AUTHENTICATIONFAILED] wrong user name or password\r\n')]],
          ['a2 LOGIN a c', [login('a', 'c', 'LOGIN')]],
        ],
      ],
      [
        "a server's reason keeps its code",
        {},
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [fail('[UNAVAILABLE] Temporary failure'), [send('a1 NO [UNAVAILABLE] Temporary failure\r\n')]],
        ],
      ],
      [
        'a reason cannot inject a line',
        {},
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [fail('no\r\na1 OK Logged in'), [send('a1 NO [AUTHENTICATIONFAILED] no a1 OK Logged in\r\n')]],
        ],
      ],
      [
        'the last allowed failure closes with BYE',
        { maxLoginAttempts: 2 },
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [fail('no'), [send('a1 NO [AUTHENTICATIONFAILED] no\r\n')]],
          [`a2 AUTHENTICATE PLAIN ${encodePlain('a', 'c')}`, [login('a', 'c', 'PLAIN')]],
          [fail('no'), [close('a2 NO [AUTHENTICATIONFAILED] no\r\n* BYE Too many failed logins\r\n')]],
          ['a3 NOOP', []],
        ],
      ],
      [
        'maxUnauthenticatedCommands counts commands, SASL responses included',
        { maxUnauthenticatedCommands: 3 },
        [
          ['a NOOP', [send('a OK NOOP completed\r\n')]],
          ['b AUTHENTICATE PLAIN', [CONTINUE]],
          ['*', [send('b BAD Authentication cancelled\r\n')]],
          ['c NOOP', [close('* BYE Too many commands without logging in\r\n')]],
        ],
      ],
      [
        'the lines of a literal are not commands',
        { maxUnauthenticatedCommands: 1 },
        [
          ['a LOGIN {7}', [LITERAL]],
          ['al', []],
          ['ice pw', [BAD_TEXT('a')]],
        ],
      ],
      [
        'a line too long closes',
        {},
        [
          [TOO_LONG, [close('* BYE Line too long\r\n')]],
          ['a NOOP', []],
        ],
      ],
      [
        'a line while the login is checked breaks the contract: closed',
        {},
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          ['a2 NOOP', [close('* BYE [UNAVAILABLE] Command received while the login was being checked\r\n')]],
          [succeed(), ''],
        ],
      ],
      [
        'loginSucceeded and loginFailed without a login do nothing',
        {},
        [
          [succeed(), ''],
          [fail('x'), []],
        ],
      ],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('last words: a login the adapter gives up on is answered by its tag', () => {
    test.each<[string, Step[]]>([
      [
        'a temporary failure: NO [UNAVAILABLE], then BYE',
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [
            lastWords('ROAMGATE_UPSTREAM_REFUSED', 'imap service unavailable'),
            'a1 NO [UNAVAILABLE] imap service unavailable\r\n* BYE [UNAVAILABLE] imap service unavailable\r\n',
          ],
          ['a2 NOOP', []],
          [lastWords('ROAMGATE_UPSTREAM_REFUSED', 'again'), ''],
        ],
      ],
      [
        'access denied: NOPERM',
        [
          ['a1 LOGIN a b', [login('a', 'b', 'LOGIN')]],
          [lastWords('ROAMGATE_ACCESS_DENIED', 'no imap for you'), 'a1 NO [NOPERM] no imap for you\r\n* BYE [NOPERM] no imap for you\r\n'],
        ],
      ],
      [
        'with no login pending, BYE alone',
        [[lastWords('ROAMGATE_IDLE_TIMEOUT', 'idle too long before login'), '* BYE [UNAVAILABLE] idle too long before login\r\n']],
      ],
    ])('%s', (_name, steps) => play({}, steps));
  });
});

/** Checks that `data` is complete IMAP from a server: CRLF lines, each a status or data response under `*`, a tag, or a continuation. */
function expectImapReply(data: string): void {
  for (const line of wireLines(data)) {
    const response = parseImapResponse(line);
    expect(response).not.toBeNull();
  }
}

/** Longest reply the dialogue writes: a reason at its limit with a code and a tag, or the capability greeting. */
const MAX_REPLY_LENGTH = 1100;

function expectActions(actions: ClientAction[]): void {
  expect(actions.length).toBeLessThanOrEqual(1);
  for (const action of actions) {
    if (action.kind === 'login') continue;
    if (action.kind === 'close' && action.data === '') continue;
    expectImapReply(action.data);
    expect(action.data.length).toBeLessThanOrEqual(MAX_REPLY_LENGTH);
  }
}

const COMMANDS = ['CAPABILITY', 'NOOP', 'LOGOUT', 'ID', 'STARTTLS', 'LOGIN', 'AUTHENTICATE', 'SELECT', 'IDLE', 'APPEND', 'XYZZY'];
const anyCase = (word: string) =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
const tag = fc.oneof(fc.constantFrom('a1', 'A0001', '*', '+x', 'x]', ''), fc.stringMatching(/^[A-Za-z0-9.]{1,8}$/));
const credential = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '0', ' ', '"', '\\', '{', '}', '\u00e9', '\u{1F511}'),
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  ),
  minLength: 1,
  maxLength: 20,
});

/** Command lines: real commands with plausible or random arguments, literals, SASL responses, and junk. */
const commandLine: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(tag, fc.constantFrom(...COMMANDS).chain(anyCase), fc.option(anyText(30), { nil: undefined }))
      .map(([t, command, argument]) => (argument === undefined ? `${t} ${command}` : `${t} ${command} ${argument}`)),
  },
  { weight: 2, arbitrary: fc.tuple(tag, fc.nat(3000), fc.boolean()).map(([t, n, plus]) => `${t} LOGIN {${n}${plus ? '+' : ''}}`) },
  { weight: 2, arbitrary: fc.tuple(credential, credential).map(([user, pw]) => encodePlain(user, pw)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('*', '', 'a STARTTLS', 'a CAPABILITY', 'a AUTHENTICATE PLAIN', 'a LOGIN alice pw', 'alice {2+}', 'pw'),
  },
  { weight: 2, arbitrary: anyText(60) },
);

const dialogueOptions: fc.Arbitrary<ClientDialogueOptions> = fc.record({
  hostname: fc.oneof(fc.constant('mail.example'), anyText(30)),
  startTlsAvailable: fc.boolean(),
  secure: fc.boolean(),
  allowCleartextLogin: fc.boolean(),
  maxLineLength: fc.constantFrom(512, 2048),
  maxUnauthenticatedCommands: fc.integer({ min: 0, max: 40 }),
  maxLoginAttempts: fc.integer({ min: 1, max: 5 }),
});

/** An astring as a client could write it: an atom where it can be one, else quoted, else a literal (with or without +). */
function astring(value: string, form: number): { first: string; rest: string[] } {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (form === 0 && /^[\x21\x23\x24\x26\x27\x2b-\x5b\x5d-\x7a\x7c-\x7e]+$/.test(value)) return { first: value, rest: [] };
  if (form <= 1 && !/[\x00-\x1f\x7f]/.test(value)) return { first: `"${value.replace(/["\\]/g, '\\$&')}"`, rest: [] };
  return { first: `{${bytes}${form === 3 ? '+' : ''}}`, rest: [value] };
}

describe('createImapClientDialogue properties', () => {
  test('driven as the adapter does: complete IMAP replies, nothing after a close, no login in cleartext when refused', () => {
    fc.assert(
      fc.property(
        dialogueOptions,
        fc.array(commandLine, { maxLength: 60 }),
        fc.infiniteStream(fc.oneof(fc.constant<true>(true), reasonText)),
        (options, lines, outcomes) => {
          const dialogue = createImapClientDialogue(options);
          expectActions(dialogue.start());
          let closed = false;
          let secure = options.secure;
          const perform = (actions: ClientAction[]) => {
            expectActions(actions);
            if (closed) expect(actions).toEqual([]);
            for (const action of actions) {
              if (action.kind === 'close') closed = true;
              if (action.kind === 'starttls') {
                expect(options.startTlsAvailable && !secure).toBe(true);
                dialogue.tlsStarted();
                secure = true;
              }
              if (action.kind === 'login') {
                expect(secure || options.allowCleartextLogin).toBe(true);
                const outcome = outcomes.next().value;
                if (outcome === true) {
                  expect(dialogue.loginSucceeded()).toMatch(/^\S+ OK Logged in\r\n$/);
                  closed = true; // relaying from here: the dialogue is out of the way
                  expect([dialogue.onLine('a NOOP'), dialogue.onLineTooLong(), dialogue.loginFailed('x')]).toEqual([[], [], []]);
                } else perform(dialogue.loginFailed(outcome));
              }
            }
            expect(dialogue.heldBytes).toBeLessThanOrEqual(2 * options.maxLineLength + 2);
          };
          for (const line of lines) perform(dialogue.onLine(onWire(line)));
          perform(dialogue.onLineTooLong());
          expect(closed).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('LOGIN with atoms, quoted strings and literals, and AUTHENTICATE PLAIN with and without SASL-IR, log in with exactly those credentials', () => {
    const harmless = fc.array(fc.constantFrom('h CAPABILITY', 'h NOOP', 'h ID NIL', 'h SELECT INBOX', 'h XYZZY', 'h AUTHENTICATE LOGIN'), {
      maxLength: 5,
    });
    const flow = fc.constantFrom('login', 'plain-initial', 'plain-continued');
    fc.assert(
      fc.property(
        credential,
        credential,
        flow,
        harmless,
        fc.nat(3),
        fc.nat(3),
        anyCase('LOGIN'),
        (username, password, kind, before, userForm, passForm, verb) => {
          const dialogue = createImapClientDialogue(BASE);
          dialogue.start();
          for (const line of before) expect(dialogue.onLine(line)).toEqual([expect.objectContaining({ kind: 'send' })]);
          let actions: ClientAction[];
          if (kind === 'login') {
            const user = astring(username, userForm);
            const pass = astring(password, passForm);
            // The wire: the first line, then each literal's data followed by the rest of the command.
            const lines = [`t ${verb} ${user.first}`, ...user.rest.map((value) => `${value} ${pass.first}`)];
            if (user.rest.length === 0) lines[0] += ` ${pass.first}`;
            if (pass.rest.length > 0) lines.push(pass.rest[0]);
            actions = [];
            for (const line of lines) actions = dialogue.onLine(onWire(line));
          } else if (kind === 'plain-initial') {
            actions = dialogue.onLine(`t AUTHENTICATE PLAIN ${encodePlain(username, password)}`);
          } else {
            expect(dialogue.onLine('t AUTHENTICATE PLAIN')).toEqual([CONTINUE]);
            actions = dialogue.onLine(encodePlain(username, password));
          }
          expect(actions).toEqual([login(username, password, kind === 'login' ? 'LOGIN' : 'PLAIN')]);
          expect(dialogue.loginSucceeded()).toBe('t OK Logged in\r\n');
        },
      ),
      { numRuns: 300 },
    );
  });

  test('whatever arrives between STARTTLS and the handshake is dropped and leaves no trace', () => {
    const options = { ...BASE, startTlsAvailable: true, allowCleartextLogin: false, maxUnauthenticatedCommands: 10 };
    fc.assert(
      fc.property(fc.array(commandLine, { maxLength: 30 }), (injected) => {
        const dialogue = createImapClientDialogue(options);
        dialogue.start();
        expect(dialogue.onLine('s STARTTLS')).toEqual([starttls('s OK Begin TLS negotiation now\r\n')]);
        for (const line of injected) expect(dialogue.onLine(line)).toEqual([]);
        dialogue.tlsStarted();
        expect(dialogue.onLine('c CAPABILITY')).toEqual([capability('c', CAPS_LOGIN)]);
        expect(dialogue.onLine('l LOGIN alice pw')).toEqual([login('alice', 'pw', 'LOGIN')]);
      }),
      { numRuns: 200 },
    );
  });

  test('without TLS and with cleartext refused, no sequence of lines yields a login', () => {
    fc.assert(
      fc.property(fc.array(commandLine, { maxLength: 60 }), (lines) => {
        const dialogue = createImapClientDialogue({
          ...BASE,
          allowCleartextLogin: false,
          startTlsAvailable: true,
          maxUnauthenticatedCommands: 100,
        });
        dialogue.start();
        for (const line of lines) {
          const actions = dialogue.onLine(line);
          expect(actions.filter((action) => action.kind === 'login')).toEqual([]);
          if (actions.some((action) => action.kind === 'starttls' || action.kind === 'close')) return;
        }
      }),
      { numRuns: 300 },
    );
  });
});
