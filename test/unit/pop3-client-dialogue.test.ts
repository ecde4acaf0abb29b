import fc from 'fast-check';
import type { ClientAction, ClientDialogue, ClientDialogueOptions } from '../../protocols/dialogue';
import { createPop3ClientDialogue } from '../../protocols/pop3/client-dialogue';
import { formatPop3Continuation, formatPop3Failure, formatPop3MultiLine } from '../../protocols/pop3/replies';
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
  pipelining: true,
};
const GREETING = '+OK mail.example POP3 roamgate ready\r\n';

const send = (data: string): ClientAction => ({ kind: 'send', data });
const close = (data: string): ClientAction => ({ kind: 'close', data });
const starttls = (data: string): ClientAction => ({ kind: 'starttls', data });
const login = (username: string, password: string, mechanism: 'USER' | 'PLAIN'): ClientAction => ({
  kind: 'login',
  credentials: { username, password, mechanism },
});

const OK = send('+OK\r\n');
const CAPA_HEAD = '+OK Capability list follows\r\n';
const SESSION_CAPS = 'RESP-CODES\r\nAUTH-RESP-CODE\r\nUIDL\r\nTOP\r\nPIPELINING\r\n.\r\n';
const CAPA_LOGIN = send(`${CAPA_HEAD}USER\r\nSASL PLAIN\r\n${SESSION_CAPS}`);
const CAPA_STLS_ONLY = send(`${CAPA_HEAD}STLS\r\n${SESSION_CAPS}`);
const CAPA_LOGIN_STLS = send(`${CAPA_HEAD}USER\r\nSASL PLAIN\r\nSTLS\r\n${SESSION_CAPS}`);
const CAPA_NOTHING = send(`${CAPA_HEAD}${SESSION_CAPS}`);
const BEGIN_TLS = starttls('+OK Begin TLS negotiation\r\n');
const NO_CLEARTEXT_STLS = send('-ERR [SYS/PERM] Cleartext login is disabled, use STLS first\r\n');
const NO_CLEARTEXT = send('-ERR [SYS/PERM] Cleartext login is disabled\r\n');
const USER_FIRST = send('-ERR USER first\r\n');
const LOG_IN_FIRST = send('-ERR [AUTH] Log in first\r\n');
const UNKNOWN = send('-ERR Unknown command\r\n');
const BAD_TEXT = send('-ERR User name and password must be UTF-8 without CR, LF or NUL\r\n');
const BYE = close('+OK Bye\r\n');
const CONTINUE = send('+ \r\n');

/** What the adapter does, besides feeding lines. */
type Event = { event: 'too-long' } | { event: 'tls' } | { event: 'succeed' } | { event: 'fail'; reason: string } | { event: 'start' };
const TOO_LONG: Event = { event: 'too-long' };
const TLS: Event = { event: 'tls' };
const SUCCEED: Event = { event: 'succeed' };
const fail = (reason: string): Event => ({ event: 'fail', reason });
type Step = [input: string | Event, expected: ClientAction[] | string];

/** Feeds one line or adapter event; loginSucceeded's string comes back as it is. */
function feed(dialogue: ClientDialogue, input: string | Event): ClientAction[] | string {
  if (typeof input === 'string') return dialogue.onLine(input);
  switch (input.event) {
    case 'too-long':
      return dialogue.onLineTooLong();
    case 'tls':
      dialogue.tlsStarted();
      return [];
    case 'succeed':
      return dialogue.loginSucceeded();
    case 'fail':
      return dialogue.loginFailed(input.reason);
    case 'start':
      return dialogue.start();
  }
}

function play(options: Partial<ClientDialogueOptions>, steps: Step[]): void {
  const dialogue = createPop3ClientDialogue({ ...BASE, ...options });
  expect(dialogue.start()).toEqual([send(GREETING.replace('mail.example', options.hostname ?? 'mail.example'))]);
  steps.forEach(([input, expected], index) => {
    expect({ step: index, input, output: feed(dialogue, input) }).toEqual({ step: index, input, output: expected });
  });
}

/** A line as LineReader delivers it: UTF-8 bytes, one latin1 character per byte. */
const onWire = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

describe('createPop3ClientDialogue', () => {
  test('greets without an APOP timestamp, and only once', () => {
    const dialogue = createPop3ClientDialogue(BASE);
    expect(dialogue.start()).toEqual([send(GREETING)]);
    expect(dialogue.start()).toEqual([]);
  });

  test.each([
    ['angle brackets, which clients take for an APOP timestamp', '<1.2@mail.example>', '+OK 1.2@mail.example POP3 roamgate ready\r\n'],
    ['CR LF, which would inject a line', 'mail\r\n-ERR x', '+OK mail -ERR x POP3 roamgate ready\r\n'],
  ])('a hostname with %s is made harmless', (_name, hostname, expected) => {
    expect(createPop3ClientDialogue({ ...BASE, hostname }).start()).toEqual([send(expected)]);
  });

  describe('USER and PASS (python poplib, Thunderbird, curl without SASL)', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'USER then PASS is a login',
        {},
        [
          ['USER alice', [OK]],
          ['PASS secret', [login('alice', 'secret', 'USER')]],
        ],
      ],
      [
        'then loginSucceeded answers +OK Logged in',
        {},
        [
          ['USER alice', [OK]],
          ['PASS secret', [login('alice', 'secret', 'USER')]],
          [SUCCEED, '+OK Logged in\r\n'],
        ],
      ],
      [
        "after the login the dialogue is done: lines are the relay's",
        {},
        [
          ['USER alice', [OK]],
          ['PASS pw', [login('alice', 'pw', 'USER')]],
          [SUCCEED, '+OK Logged in\r\n'],
          ['STAT', []],
          [TOO_LONG, []],
          [SUCCEED, ''],
        ],
      ],
      [
        'commands are case-insensitive',
        {},
        [
          ['user alice', [OK]],
          ['pAsS pw', [login('alice', 'pw', 'USER')]],
        ],
      ],
      [
        'the password is the rest of the line, spaces included',
        {},
        [
          ['USER alice', [OK]],
          ['PASS  two words ', [login('alice', ' two words ', 'USER')]],
        ],
      ],
      ['PASS without USER', {}, [['PASS secret', [USER_FIRST]]]],
      [
        'USER without a name',
        {},
        [
          ['USER', [send('-ERR Syntax: USER name\r\n')]],
          ['USER ', [send('-ERR Syntax: USER name\r\n')]],
        ],
      ],
      [
        'PASS without a password keeps the name',
        {},
        [
          ['USER alice', [OK]],
          ['PASS', [send('-ERR Syntax: PASS password\r\n')]],
          ['PASS pw', [login('alice', 'pw', 'USER')]],
        ],
      ],
      [
        'a second USER replaces the first',
        {},
        [
          ['USER alice', [OK]],
          ['USER bob', [OK]],
          ['PASS pw', [login('bob', 'pw', 'USER')]],
        ],
      ],
      [
        'UTF-8 credentials arrive decoded',
        {},
        [
          [onWire('USER jürgen'), [OK]],
          [onWire('PASS pässwörd🔑'), [login('jürgen', 'pässwörd🔑', 'USER')]],
        ],
      ],
      [
        'a name that is not UTF-8 is refused',
        {},
        [
          ['USER j\u00fcrgen', [BAD_TEXT]],
          ['PASS pw', [USER_FIRST]],
        ],
      ],
      [
        'a password that is not UTF-8 is refused',
        {},
        [
          ['USER alice', [OK]],
          ['PASS \u00e9t\u00e9', [BAD_TEXT]],
        ],
      ],
      [
        'a bare CR or NUL, which the server line could not carry, is refused',
        {},
        [
          ['USER al\rice', [BAD_TEXT]],
          ['USER alice', [OK]],
          ['PASS a\u0000b', [BAD_TEXT]],
          ['PASS a\rb', [BAD_TEXT]],
        ],
      ],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('failed logins', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'a failure answers -ERR [AUTH] and forgets the name',
        {},
        [
          ['USER alice', [OK]],
          ['PASS wrong', [login('alice', 'wrong', 'USER')]],
          [fail('Invalid user name or password'), [send('-ERR [AUTH] Invalid user name or password\r\n')]],
          ['PASS again', [USER_FIRST]],
        ],
      ],
      [
        'a reason with its own response code keeps it',
        {},
        [
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          [fail('[AUTH] Authentication failed.'), [send('-ERR [AUTH] Authentication failed.\r\n')]],
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          [fail('[IN-USE] Mailbox is locked'), [send('-ERR [IN-USE] Mailbox is locked\r\n')]],
        ],
      ],
      [
        'a reason cannot inject a line',
        {},
        [
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          [fail('no\r\n+OK Logged in'), [send('-ERR [AUTH] no +OK Logged in\r\n')]],
        ],
      ],
      [
        'a retry after a failure can succeed',
        {},
        [
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          [fail('no'), [send('-ERR [AUTH] no\r\n')]],
          ['USER a', [OK]],
          ['PASS c', [login('a', 'c', 'USER')]],
          [SUCCEED, '+OK Logged in\r\n'],
        ],
      ],
      [
        'the last allowed failure closes the connection',
        { maxLoginAttempts: 2 },
        [
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          [fail('no'), [send('-ERR [AUTH] no\r\n')]],
          ['AUTH PLAIN ' + encodePlain('a', 'c'), [login('a', 'c', 'PLAIN')]],
          [fail('no'), [close('-ERR [AUTH] Too many failed logins\r\n')]],
          ['USER a', []],
          [SUCCEED, ''],
        ],
      ],
      [
        'maxLoginAttempts 1: the first failure closes',
        { maxLoginAttempts: 1 },
        [
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          [fail('no'), [close('-ERR [AUTH] Too many failed logins\r\n')]],
        ],
      ],
      [
        'loginSucceeded and loginFailed without a login do nothing',
        {},
        [
          [SUCCEED, ''],
          [fail('x'), []],
          ['USER a', [OK]],
          [SUCCEED, ''],
          [fail('x'), []],
          ['PASS b', [login('a', 'b', 'USER')]],
        ],
      ],
      [
        'a line while the login is checked breaks the contract: closed',
        {},
        [
          ['USER a', [OK]],
          ['PASS b', [login('a', 'b', 'USER')]],
          ['STAT', [close('-ERR [SYS/TEMP] Command received while the login was being checked\r\n')]],
          [SUCCEED, ''],
        ],
      ],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('AUTH PLAIN (curl, Thunderbird)', () => {
    const plain = encodePlain('alice', 'secret');
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'with an initial response (curl --sasl-ir)',
        {},
        [
          [`AUTH PLAIN ${plain}`, [login('alice', 'secret', 'PLAIN')]],
          [SUCCEED, '+OK Logged in\r\n'],
        ],
      ],
      [
        'without: "+ " then the response (curl by default)',
        {},
        [
          ['AUTH PLAIN', [CONTINUE]],
          [plain, [login('alice', 'secret', 'PLAIN')]],
        ],
      ],
      ['mechanism and verb in any case', {}, [[`auth plain ${plain}`, [login('alice', 'secret', 'PLAIN')]]]],
      [
        'an authorization identity equal to the user is fine',
        {},
        [[`AUTH PLAIN ${encodeBase64('alice\0alice\0secret')}`, [login('alice', 'secret', 'PLAIN')]]],
      ],
      ['UTF-8 credentials', {}, [[`AUTH PLAIN ${encodePlain('jürgen', 'pässwörd')}`, [login('jürgen', 'pässwörd', 'PLAIN')]]]],
      [
        '"*" cancels, and the dialogue goes on',
        {},
        [
          ['AUTH PLAIN', [CONTINUE]],
          ['*', [send('-ERR AUTH cancelled\r\n')]],
          ['USER alice', [OK]],
          ['PASS pw', [login('alice', 'pw', 'USER')]],
        ],
      ],
      [
        'the response line is a response, even when it looks like a command',
        {},
        [
          ['AUTH PLAIN', [CONTINUE]],
          ['QUIT', [send('-ERR Invalid AUTH PLAIN response\r\n')]],
          ['QUIT', [BYE]],
        ],
      ],
      ['AUTH alone lists the mechanisms', {}, [['AUTH', [send('+OK\r\nPLAIN\r\n.\r\n')]]]],
      [
        'an unknown mechanism',
        {},
        [
          ['AUTH CRAM-MD5', [send('-ERR Unsupported authentication mechanism\r\n')]],
          ['AUTH LOGIN', [send('-ERR Unsupported authentication mechanism\r\n')]],
          ['AUTH ', [send('-ERR Unsupported authentication mechanism\r\n')]],
        ],
      ],
      ['too many arguments', {}, [[`AUTH PLAIN ${plain} extra`, [send('-ERR Syntax: AUTH PLAIN [initial-response]\r\n')]]]],
      ['"=" (an empty response) is not a PLAIN message', {}, [['AUTH PLAIN =', [send('-ERR Invalid AUTH PLAIN response\r\n')]]]],
      [
        'invalid base64',
        {},
        [
          ['AUTH PLAIN not base64!', [send('-ERR Syntax: AUTH PLAIN [initial-response]\r\n')]],
          ['AUTH PLAIN bm90IGJhc2U2NA', [send('-ERR Invalid AUTH PLAIN response\r\n')]],
        ],
      ],
      [
        'acting as someone else (another authorization identity) is refused',
        {},
        [[`AUTH PLAIN ${encodeBase64('bob\0alice\0secret')}`, [send('-ERR Invalid AUTH PLAIN response\r\n')]]],
      ],
      [
        'a password with CR LF, which USER/PASS at the server would split, is refused',
        {},
        [[`AUTH PLAIN ${encodePlain('alice', 'pw\r\nDELE 1')}`, [BAD_TEXT]]],
      ],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('CAPA and cleartext logins', () => {
    test.each<[string, Partial<ClientDialogueOptions>, ClientAction]>([
      ['cleartext allowed, no TLS offered', {}, CAPA_LOGIN],
      ['cleartext allowed, STLS offered', { startTlsAvailable: true }, CAPA_LOGIN_STLS],
      [
        'cleartext refused, STLS offered: only STLS leads to a login',
        { startTlsAvailable: true, allowCleartextLogin: false },
        CAPA_STLS_ONLY,
      ],
      ['cleartext refused, no TLS at all: no login at all', { allowCleartextLogin: false }, CAPA_NOTHING],
      ['implicit TLS: logins, no STLS', { secure: true, startTlsAvailable: true, allowCleartextLogin: false }, CAPA_LOGIN],
    ])('%s', (_name, options, expected) =>
      play(options, [
        ['CAPA', [expected]],
        ['capa', [expected]],
      ]),
    );

    test.each<[string, Partial<ClientDialogueOptions>, ClientAction]>([
      ['with STLS offered', { startTlsAvailable: true, allowCleartextLogin: false }, NO_CLEARTEXT_STLS],
      ['without TLS', { allowCleartextLogin: false }, NO_CLEARTEXT],
    ])('cleartext refused %s: USER, PASS and AUTH are refused with [SYS/PERM]', (_name, options, refusal) =>
      play(options, [
        ['USER alice', [refusal]],
        ['PASS pw', [refusal]],
        [`AUTH PLAIN ${encodePlain('alice', 'pw')}`, [refusal]],
        ['AUTH PLAIN', [refusal]],
        ['AUTH', [refusal]],
      ]),
    );
  });

  describe('STLS', () => {
    const options = { startTlsAvailable: true, allowCleartextLogin: false };
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'then a login over TLS',
        options,
        [
          ['STLS', [BEGIN_TLS]],
          [TLS, []],
          ['USER alice', [OK]],
          ['PASS pw', [login('alice', 'pw', 'USER')]],
        ],
      ],
      [
        'CAPA after TLS lists the logins and no STLS',
        options,
        [
          ['CAPA', [CAPA_STLS_ONLY]],
          ['STLS', [BEGIN_TLS]],
          [TLS, []],
          ['CAPA', [CAPA_LOGIN]],
        ],
      ],
      [
        'lines before the handshake are dropped (command injection), and do not count',
        { ...options, maxUnauthenticatedCommands: 3 },
        [
          ['STLS', [BEGIN_TLS]],
          ['USER mallory', []],
          ['PASS x', []],
          ['CAPA', []],
          ['QUIT', []],
          [TLS, []],
          ['PASS x', [USER_FIRST]],
          ['USER alice', [OK]],
        ],
      ],
      [
        'a USER given before STLS is forgotten',
        { startTlsAvailable: true },
        [
          ['USER alice', [OK]],
          ['STLS', [BEGIN_TLS]],
          [TLS, []],
          ['PASS pw', [USER_FIRST]],
        ],
      ],
      [
        'a second STLS is refused',
        options,
        [
          ['STLS', [BEGIN_TLS]],
          [TLS, []],
          ['STLS', [send('-ERR TLS is already active\r\n')]],
        ],
      ],
      ['STLS on implicit TLS is refused', { ...options, secure: true }, [['STLS', [send('-ERR TLS is already active\r\n')]]]],
      [
        'STLS without a certificate is refused',
        {},
        [
          ['STLS', [send('-ERR STLS is not available\r\n')]],
          ['stls', [send('-ERR STLS is not available\r\n')]],
        ],
      ],
      [
        'a line too long during the handshake closes without a word',
        options,
        [
          ['STLS', [BEGIN_TLS]],
          [TOO_LONG, [close('')]],
          [TLS, []],
          ['CAPA', []],
        ],
      ],
      [
        'tlsStarted without STLS does not make the connection secure',
        options,
        [
          [TLS, []],
          ['USER alice', [NO_CLEARTEXT_STLS]],
        ],
      ],
    ])('%s', (_name, opts, steps) => play(opts, steps));
  });

  describe('other commands', () => {
    test.each(['QUIT', 'quit', 'QUIT now'])('%j closes with +OK Bye', (line) =>
      play({}, [
        [line, [BYE]],
        ['USER alice', []],
        [TOO_LONG, []],
      ]),
    );

    test('QUIT in the middle of a login closes too', () =>
      play({}, [
        ['USER alice', [OK]],
        ['QUIT', [BYE]],
      ]));

    test('NOOP answers +OK (and counts as a command)', () =>
      play({ maxUnauthenticatedCommands: 1 }, [
        ['NOOP', [OK]],
        ['NOOP', [close('-ERR Too many commands without logging in\r\n')]],
      ]));

    test.each(['STAT', 'LIST', 'LIST 1', 'RETR 1', 'DELE 1', 'UIDL', 'TOP 1 10', 'RSET', 'stat'])(
      '%j before the login: -ERR [AUTH] Log in first',
      (line) => play({}, [[line, [LOG_IN_FIRST]]]),
    );

    test('APOP is not offered', () =>
      play({}, [['APOP alice c4c9334bac560ecc979e58001b3e22fb', [send('-ERR APOP is not available, use USER/PASS or AUTH PLAIN\r\n')]]]));

    test.each([
      '',
      ' ',
      'HELO x',
      'EHLO x',
      'XYZZY',
      'LAST',
      'CAPABILITY',
      '\u0000',
      'USER\talice',
      '\u017ftls',
      'TOSTRING',
      '__PROTO__',
      'constructor',
      '  USER alice',
    ])('%j is an unknown command', (line) => play({}, [[line, [UNKNOWN]]]));
  });

  describe('limits', () => {
    test('maxUnauthenticatedCommands counts every line, unknown ones and SASL responses included', () =>
      play({ maxUnauthenticatedCommands: 4 }, [
        ['CAPA', [CAPA_LOGIN]],
        ['BOGUS', [UNKNOWN]],
        ['AUTH PLAIN', [CONTINUE]],
        ['*', [send('-ERR AUTH cancelled\r\n')]],
        ['QUIT', [close('-ERR Too many commands without logging in\r\n')]],
        ['CAPA', []],
      ]));

    test('a line too long closes with -ERR Line too long', () =>
      play({}, [
        ['USER alice', [OK]],
        [TOO_LONG, [close('-ERR Line too long\r\n')]],
        ['PASS pw', []],
      ]));

    test('a line too long as the SASL response closes too', () =>
      play({}, [
        ['AUTH PLAIN', [CONTINUE]],
        [TOO_LONG, [close('-ERR Line too long\r\n')]],
      ]));

    test('after a close, nothing more', () => {
      const dialogue = createPop3ClientDialogue(BASE);
      dialogue.start();
      expect(dialogue.onLine('QUIT')).toEqual([BYE]);
      expect([dialogue.start(), dialogue.onLine('CAPA'), dialogue.onLineTooLong(), dialogue.loginFailed('x')]).toEqual([[], [], [], []]);
      dialogue.tlsStarted();
      expect(dialogue.loginSucceeded()).toBe('');
    });
  });

  describe('the reply helpers it uses', () => {
    test.each([
      ['a plain reason gets the default code', 'bad login', 'AUTH', '-ERR [AUTH] bad login\r\n'],
      ['a reason with a code keeps it', '[SYS/TEMP] try later', 'AUTH', '-ERR [SYS/TEMP] try later\r\n'],
      ['a bare code keeps it', '[IN-USE]', 'AUTH', '-ERR [IN-USE]\r\n'],
      ['brackets that are not a code', '[not a code] x', 'AUTH', '-ERR [AUTH] [not a code] x\r\n'],
      ['a code glued to its text is still a code', '[IN-USE]locked', 'AUTH', '-ERR [IN-USE]locked\r\n'],
      ['a code that breaks the grammar is not', '[SYS//TEMP] x', 'AUTH', '-ERR [AUTH] [SYS//TEMP] x\r\n'],
      ['a code after control characters', '\r\n[AUTH] x', 'SYS/TEMP', '-ERR [AUTH] x\r\n'],
    ])('formatPop3Failure: %s', (_name, reason, code, expected) => {
      expect(formatPop3Failure(reason, code)).toBe(expected);
    });

    test('formatPop3MultiLine dot-stuffs and terminates the body', () => {
      expect(formatPop3MultiLine('list', ['.hidden', 'A', '.', 'B\r\nC'])).toBe('+OK list\r\n..hidden\r\nA\r\n..\r\nB C\r\n.\r\n');
      expect(formatPop3MultiLine('', [])).toBe('+OK\r\n.\r\n');
    });

    test('formatPop3Continuation keeps its space and carries only base64', () => {
      expect(formatPop3Continuation()).toBe('+ \r\n');
      expect(formatPop3Continuation('PDE+\r\nx')).toBe('+ PDE+x\r\n');
    });
  });
});

/**
 * Checks that `data` is complete POP3 from a server: CRLF-terminated lines,
 * one status line (or one SASL continuation), and a multi-line body only
 * after +OK, dot-stuffed and ending with `.`.
 */
function expectPop3Reply(data: string): void {
  const lines = wireLines(data);
  if (lines[0].startsWith('+ ')) {
    expect(lines).toEqual(['+ ']);
    return;
  }
  expect(lines[0]).toMatch(/^(\+OK|-ERR)( |$)/);
  if (lines.length === 1) return;
  expect(lines[0]).toMatch(/^\+OK/);
  expect(lines[lines.length - 1]).toBe('.');
  for (const body of lines.slice(1, -1)) {
    expect(body).not.toBe('.');
    if (body.startsWith('.')) expect(body.startsWith('..')).toBe(true);
  }
}

/** Longest reply the dialogue may write (UTF-16 units): a reason at its limit with a code, or the CAPA list. Nothing echoes unbounded input. */
const MAX_REPLY_LENGTH = 512;

function expectActions(actions: ClientAction[]): void {
  expect(actions.length).toBeLessThanOrEqual(1);
  for (const action of actions) {
    if (action.kind === 'login') continue;
    if (action.kind === 'close' && action.data === '') continue;
    expectPop3Reply(action.data);
    expect(action.data.length).toBeLessThanOrEqual(MAX_REPLY_LENGTH);
  }
}

const VERBS = [
  'CAPA',
  'STLS',
  'USER',
  'PASS',
  'AUTH',
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
  'XTND',
  'HELO',
];

/** Mixed case, as clients (and attackers) may write a verb. */
const anyCase = (word: string) =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));

const credential = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '0', ' ', '.', '@', '\u00e9', '\u{1F511}', '\t'),
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  ),
  minLength: 1,
  maxLength: 20,
});

/** Command lines: real verbs with plausible or random arguments, SASL responses, and junk. */
const commandLine: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...VERBS).chain(anyCase), fc.option(anyText(30), { nil: undefined }))
      .map(([verb, argument]) => (argument === undefined ? verb : `${verb} ${argument}`)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(anyCase('AUTH'), anyCase('PLAIN'), credential, credential)
      .map(([auth, plain, user, pw]) => `${auth} ${plain} ${encodePlain(user, pw)}`),
  },
  { weight: 2, arbitrary: fc.tuple(credential, credential).map(([user, pw]) => encodePlain(user, pw)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('*', '', '.', '..', '+ ', 'AUTH', 'AUTH PLAIN', 'STLS', 'CAPA', 'QUIT', 'USER alice', 'PASS pw'),
  },
  { weight: 2, arbitrary: anyText(60) },
);

type Input =
  | { kind: 'line'; line: string }
  | { kind: 'too-long' }
  | { kind: 'tls' }
  | { kind: 'succeed' }
  | { kind: 'fail'; reason: string }
  | { kind: 'start' };

const adapterInput: fc.Arbitrary<Input> = fc.oneof(
  { weight: 20, arbitrary: commandLine.map((line): Input => ({ kind: 'line', line })) },
  { weight: 1, arbitrary: fc.constant<Input>({ kind: 'too-long' }) },
  { weight: 2, arbitrary: fc.constant<Input>({ kind: 'tls' }) },
  { weight: 2, arbitrary: fc.constant<Input>({ kind: 'succeed' }) },
  { weight: 2, arbitrary: reasonText.map((reason): Input => ({ kind: 'fail', reason })) },
  { weight: 1, arbitrary: fc.constant<Input>({ kind: 'start' }) },
);

const dialogueOptions: fc.Arbitrary<ClientDialogueOptions> = fc.record({
  hostname: fc.oneof(fc.constant('mail.example'), anyText(30)),
  startTlsAvailable: fc.boolean(),
  secure: fc.boolean(),
  allowCleartextLogin: fc.boolean(),
  maxLineLength: fc.constant(2048),
  maxUnauthenticatedCommands: fc.integer({ min: 0, max: 40 }),
  maxLoginAttempts: fc.integer({ min: 1, max: 5 }),
});

function call(dialogue: ClientDialogue, input: Input): ClientAction[] | string {
  switch (input.kind) {
    case 'line':
      return dialogue.onLine(input.line);
    case 'too-long':
      return dialogue.onLineTooLong();
    case 'tls':
      dialogue.tlsStarted();
      return [];
    case 'succeed':
      return dialogue.loginSucceeded();
    case 'fail':
      return dialogue.loginFailed(input.reason);
    case 'start':
      return dialogue.start();
  }
}

describe('createPop3ClientDialogue properties', () => {
  test('driven as the adapter does: complete POP3 replies, nothing after a close, no login in cleartext when refused', () => {
    fc.assert(
      fc.property(
        dialogueOptions,
        fc.array(commandLine, { maxLength: 60 }),
        fc.infiniteStream(fc.oneof(fc.constant<true>(true), reasonText)),
        fc.infiniteStream(fc.nat(3)),
        (options, lines, outcomes, handshakeDelays) => {
          const dialogue = createPop3ClientDialogue(options);
          const greeting = dialogue.start();
          expectActions(greeting);
          let closed = false;
          let secure = options.secure;
          let tlsPendingFor = -1;
          const perform = (actions: ClientAction[]) => {
            expectActions(actions);
            if (closed) expect(actions).toEqual([]);
            for (const action of actions) {
              if (action.kind === 'close') closed = true;
              if (action.kind === 'starttls') {
                expect(options.startTlsAvailable && !secure).toBe(true);
                tlsPendingFor = handshakeDelays.next().value;
              }
              if (action.kind === 'login') {
                expect(secure || options.allowCleartextLogin).toBe(true);
                const outcome = outcomes.next().value;
                if (outcome === true) {
                  expect(dialogue.loginSucceeded()).toBe('+OK Logged in\r\n');
                  closed = true; // relaying from here: the dialogue is out of the way
                  expect([dialogue.onLine('CAPA'), dialogue.onLineTooLong(), dialogue.loginFailed('x')]).toEqual([[], [], []]);
                } else perform(dialogue.loginFailed(outcome));
              }
            }
          };
          for (const line of lines) {
            perform(dialogue.onLine(line));
            if (tlsPendingFor === 0) {
              dialogue.tlsStarted();
              secure = true;
            }
            if (tlsPendingFor >= 0) tlsPendingFor -= 1;
          }
          perform(dialogue.onLineTooLong());
          expect(closed).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('any calls in any order never throw and never write after a close', () => {
    fc.assert(
      fc.property(dialogueOptions, fc.array(adapterInput, { maxLength: 80 }), (options, inputs) => {
        const dialogue = createPop3ClientDialogue(options);
        let closed = false;
        for (const input of inputs) {
          const output = call(dialogue, input);
          if (typeof output === 'string') {
            if (output !== '') expectPop3Reply(output);
            if (closed) expect(output).toBe('');
            continue;
          }
          expectActions(output);
          if (closed) expect(output).toEqual([]);
          if (output.some((action) => action.kind === 'close')) closed = true;
        }
      }),
      { numRuns: 400 },
    );
  });

  test('USER/PASS, AUTH PLAIN with and without an initial response, after any harmless commands, log in with exactly those credentials', () => {
    const harmless = fc.array(fc.constantFrom('CAPA', 'NOOP', 'STAT', 'AUTH', 'XYZZY', 'capa', 'AUTH LOGIN', 'PASS x'), { maxLength: 5 });
    const flow = fc.constantFrom('user-pass', 'plain-initial', 'plain-continued');
    fc.assert(
      fc.property(
        credential,
        credential,
        flow,
        harmless,
        anyCase('USER'),
        anyCase('PASS'),
        anyCase('AUTH'),
        (username, password, kind, before, user, pass, auth) => {
          const dialogue = createPop3ClientDialogue(BASE);
          dialogue.start();
          for (const line of before) expect(dialogue.onLine(line)).toEqual([expect.objectContaining({ kind: 'send' })]);
          const wire = (text: string) => onWire(text);
          let actions: ClientAction[];
          if (kind === 'user-pass') {
            expect(dialogue.onLine(wire(`${user} ${username}`))).toEqual([OK]);
            actions = dialogue.onLine(wire(`${pass} ${password}`));
          } else if (kind === 'plain-initial') {
            actions = dialogue.onLine(`${auth} PLAIN ${encodePlain(username, password)}`);
          } else {
            expect(dialogue.onLine(`${auth} plain`)).toEqual([CONTINUE]);
            actions = dialogue.onLine(encodePlain(username, password));
          }
          expect(actions).toEqual([login(username, password, kind === 'user-pass' ? 'USER' : 'PLAIN')]);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('whatever arrives between STLS and the handshake is dropped and leaves no trace', () => {
    const options = { ...BASE, startTlsAvailable: true, allowCleartextLogin: false, maxUnauthenticatedCommands: 10 };
    fc.assert(
      fc.property(fc.array(commandLine, { maxLength: 30 }), (injected) => {
        const dialogue = createPop3ClientDialogue(options);
        dialogue.start();
        expect(dialogue.onLine('STLS')).toEqual([BEGIN_TLS]);
        for (const line of injected) expect(dialogue.onLine(line)).toEqual([]);
        dialogue.tlsStarted();
        expect(dialogue.onLine('PASS pw')).toEqual([USER_FIRST]);
        expect(dialogue.onLine('CAPA')).toEqual([CAPA_LOGIN]);
        expect(dialogue.onLine('USER alice')).toEqual([OK]);
        expect(dialogue.onLine('PASS pw')).toEqual([login('alice', 'pw', 'USER')]);
      }),
      { numRuns: 200 },
    );
  });

  test('without TLS and with cleartext refused, no sequence of lines yields a login', () => {
    fc.assert(
      fc.property(fc.array(commandLine, { maxLength: 60 }), (lines) => {
        const dialogue = createPop3ClientDialogue({
          ...BASE,
          allowCleartextLogin: false,
          startTlsAvailable: true,
          maxUnauthenticatedCommands: 100,
        });
        dialogue.start();
        for (const line of lines) {
          const actions = dialogue.onLine(line);
          expect(actions.filter((action) => action.kind === 'login')).toEqual([]);
          // STLS was accepted: from here it is the case of the test above.
          if (actions.some((action) => action.kind === 'starttls' || action.kind === 'close')) return;
        }
      }),
      { numRuns: 300 },
    );
  });
});
