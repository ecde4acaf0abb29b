import fc from 'fast-check';
import type { ClientAction, ClientDialogueOptions } from '../../protocols/dialogue';
import { MAX_SASL_RESPONSE_LENGTH } from '../../protocols/sasl';
import { createSmtpClientDialogue, isValidEhloName, type SmtpClientDialogue } from '../../protocols/smtp/client-dialogue';
import { anyText } from './arbitraries';

const OPTIONS: ClientDialogueOptions = {
  hostname: 'gw.example.org',
  startTlsAvailable: true,
  secure: false,
  allowCleartextLogin: true,
  pipelining: true,
  maxLineLength: 512,
  maxUnauthenticatedCommands: 20,
  maxLoginAttempts: 3,
};

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * One step of a script: a line the client sends, or (starting with `@`) what
 * the adapter does: `@tls` (TLS is up), `@too-long` (the line reader overflowed),
 * `@ok` (login accepted), `@fail <reason>` (login refused).
 */
type Step = [input: string, expected: string[]];

/** Actions as short strings: a `send` is its data, the others are prefixed with their kind. */
function render(actions: ClientAction[]): string[] {
  return actions.map((action) => {
    switch (action.kind) {
      case 'send':
        return action.data;
      case 'starttls':
      case 'close':
        return `${action.kind} ${action.data}`;
      case 'login':
        return `login ${action.credentials.mechanism} ${action.credentials.username} ${action.credentials.password}`;
      default:
        throw new Error(`unknown action ${JSON.stringify(action)}`);
    }
  });
}

function feed(dialogue: SmtpClientDialogue, input: string): string[] {
  if (input === '@tls') {
    dialogue.tlsStarted();
    return [];
  }
  if (input === '@too-long') return render(dialogue.onLineTooLong());
  if (input === '@ok') return [dialogue.loginSucceeded()];
  if (input.startsWith('@fail')) return render(dialogue.loginFailed(input.slice(6)));
  return render(dialogue.onLine(input));
}

const GREETING = '220 gw.example.org ESMTP roamgate ready\r\n';

function ehloReply(name: string, { auth = true, startTls = true } = {}): string {
  const lines = [`gw.example.org greets ${name}`, 'PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES'];
  if (auth) lines.push('AUTH PLAIN LOGIN');
  if (startTls) lines.push('STARTTLS');
  return lines.map((line, i) => `250${i === lines.length - 1 ? ' ' : '-'}${line}\r\n`).join('');
}

const EHLO: Step = ['EHLO pc.example', [ehloReply('pc.example')]];
const PLAIN_ANN = `AUTH PLAIN ${b64('\u0000ann\u0000secret')}`;
const ANN_LOGS_IN: Step = [PLAIN_ANN, ['login PLAIN ann secret']];
const OK = '250 2.0.0 OK\r\n';
const AUTH_REQUIRED = '530 5.7.0 Authentication required\r\n';
const UNRECOGNIZED = '500 5.5.2 Command unrecognized\r\n';
const EHLO_FIRST = '503 5.5.1 EHLO first\r\n';
const SUCCESS = '235 2.7.0 Authentication successful\r\n';
const INVALID_BASE64 = '501 5.5.2 Invalid base64 or empty credentials\r\n';
const INVALID_PLAIN = '501 5.5.2 Malformed PLAIN response, or an authorization identity other than the user\r\n';
const CANCELLED = '501 5.0.0 Authentication cancelled\r\n';
const READY_TLS = 'starttls 220 2.0.0 Ready to start TLS\r\n';

function run(options: Partial<ClientDialogueOptions>, steps: Step[]): SmtpClientDialogue {
  const dialogue = createSmtpClientDialogue({ ...OPTIONS, ...options });
  expect(render(dialogue.start())).toEqual([GREETING]);
  const got = steps.map(([input]): Step => [input, feed(dialogue, input)]);
  expect(got).toEqual(steps);
  return dialogue;
}

describe('createSmtpClientDialogue', () => {
  test('greets with the host name', () => {
    expect(createSmtpClientDialogue({ ...OPTIONS, hostname: 'mx.example.net' }).start()).toEqual([
      { kind: 'send', data: '220 mx.example.net ESMTP roamgate ready\r\n' },
    ]);
  });

  describe('EHLO and HELO', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      ['cleartext with STARTTLS and cleartext logins: AUTH and STARTTLS offered', {}, [EHLO]],
      [
        'cleartext logins refused: no AUTH before TLS',
        { allowCleartextLogin: false },
        [['EHLO pc.example', [ehloReply('pc.example', { auth: false })]]],
      ],
      [
        'implicit TLS: AUTH, no STARTTLS',
        { secure: true, allowCleartextLogin: false },
        [['EHLO pc.example', [ehloReply('pc.example', { startTls: false })]]],
      ],
      ['no certificate: no STARTTLS', { startTlsAvailable: false }, [['EHLO pc.example', [ehloReply('pc.example', { startTls: false })]]]],
      [
        'neither AUTH nor STARTTLS',
        { startTlsAvailable: false, allowCleartextLogin: false },
        [['EHLO pc', [ehloReply('pc', { auth: false, startTls: false })]]],
      ],
      ['an address literal', {}, [['EHLO [192.0.2.7]', [ehloReply('[192.0.2.7]')]]]],
      ['HELO: one line with the host name', {}, [['HELO pc.example', ['250 gw.example.org\r\n']]]],
      [
        'verbs are case-insensitive',
        {},
        [
          ['ehlo pc', [ehloReply('pc')]],
          ['HeLo pc', ['250 gw.example.org\r\n']],
        ],
      ],
      ['trailing blanks are ignored', {}, [['EHLO pc \t ', [ehloReply('pc')]]]],
      [
        'EHLO without a name',
        {},
        [
          ['EHLO', ['501 5.5.4 Syntax: EHLO hostname\r\n']],
          ['EHLO   ', ['501 5.5.4 Syntax: EHLO hostname\r\n']],
        ],
      ],
      ['HELO without a name', {}, [['HELO', ['501 5.5.4 Syntax: HELO hostname\r\n']]]],
      ['a name with a space', {}, [['EHLO pc example', ['501 5.5.4 Syntax: EHLO hostname\r\n']]]],
      [
        'a name with a bare CR (it would split the EHLO sent to the server)',
        {},
        [['EHLO pc\rRCPT', ['501 5.5.4 Syntax: EHLO hostname\r\n']]],
      ],
      ['a name with a NUL', {}, [['EHLO pc\u0000', ['501 5.5.4 Syntax: EHLO hostname\r\n']]]],
      ['a non-ASCII name', {}, [['EHLO p\u00e9', ['501 5.5.4 Syntax: EHLO hostname\r\n']]]],
      ['a name of 255 characters', {}, [[`EHLO ${'a'.repeat(255)}`, [ehloReply('a'.repeat(255))]]]],
      ['a name of 256 characters', {}, [[`EHLO ${'a'.repeat(256)}`, ['501 5.5.4 Syntax: EHLO hostname\r\n']]]],
      [
        'after a refused EHLO, AUTH still needs EHLO',
        {},
        [
          ['EHLO', ['501 5.5.4 Syntax: EHLO hostname\r\n']],
          [PLAIN_ANN, [EHLO_FIRST]],
        ],
      ],
      [
        'HELO does not allow AUTH (no ESMTP session)',
        {},
        [
          ['HELO pc', ['250 gw.example.org\r\n']],
          [PLAIN_ANN, [EHLO_FIRST]],
        ],
      ],
      ['HELO after EHLO ends the ESMTP session', {}, [EHLO, ['HELO pc', ['250 gw.example.org\r\n']], [PLAIN_ANN, [EHLO_FIRST]]]],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });

    test('clientName holds the last EHLO or HELO name', () => {
      const dialogue = createSmtpClientDialogue(OPTIONS);
      expect(dialogue.clientName).toBeUndefined();
      dialogue.onLine('EHLO first.example');
      expect(dialogue.clientName).toBe('first.example');
      dialogue.onLine('HELO second.example');
      expect(dialogue.clientName).toBe('second.example');
      dialogue.onLine('EHLO bad name');
      expect(dialogue.clientName).toBe('second.example');
    });

    test.each([
      ['pc.example.org', true],
      ['[IPv6:2001:db8::1]', true],
      ['', false],
      ['a b', false],
      ['a\tb', false],
      ['a\r', false],
      ['\u00e9', false],
      ['x'.repeat(256), false],
    ])('isValidEhloName(%j) is %s', (name, expected) => {
      expect(isValidEhloName(name)).toBe(expected);
    });
  });

  describe('AUTH PLAIN', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      ['with an initial response; accepted', {}, [EHLO, ANN_LOGS_IN, ['@ok', [SUCCESS]]]],
      ['mechanism names are case-insensitive', {}, [EHLO, [`auth plain ${b64('\u0000ann\u0000secret')}`, ['login PLAIN ann secret']]]],
      [
        'an authorization identity equal to the user',
        {},
        [EHLO, [`AUTH PLAIN ${b64('ann\u0000ann\u0000secret')}`, ['login PLAIN ann secret']]],
      ],
      ['another authorization identity is refused', {}, [EHLO, [`AUTH PLAIN ${b64('root\u0000ann\u0000secret')}`, [INVALID_PLAIN]]]],
      [
        'without an initial response: 334, then the response',
        {},
        [EHLO, ['AUTH PLAIN', ['334\r\n']], [b64('\u0000ann\u0000secret'), ['login PLAIN ann secret']]],
      ],
      [
        'UTF-8 credentials',
        {},
        [EHLO, [`AUTH PLAIN ${b64('\u0000j\u00f6rg\u0000p\u00e4ss \u{1F511}')}`, ['login PLAIN j\u00f6rg p\u00e4ss \u{1F511}']]],
      ],
      ['an empty initial response (=) is malformed', {}, [EHLO, ['AUTH PLAIN =', [INVALID_PLAIN]]]],
      ['bad base64', {}, [EHLO, ['AUTH PLAIN not*base64', [INVALID_PLAIN]]]],
      ['unpadded base64', {}, [EHLO, [`AUTH PLAIN ${b64('\u0000ann\u0000secre').replace(/=+$/, '')}`, [INVALID_PLAIN]]]],
      ['two fields only', {}, [EHLO, [`AUTH PLAIN ${b64('ann\u0000secret')}`, [INVALID_PLAIN]]]],
      ['four fields', {}, [EHLO, [`AUTH PLAIN ${b64('\u0000ann\u0000secret\u0000x')}`, [INVALID_PLAIN]]]],
      ['an empty user', {}, [EHLO, [`AUTH PLAIN ${b64('\u0000\u0000secret')}`, [INVALID_PLAIN]]]],
      ['an empty password', {}, [EHLO, [`AUTH PLAIN ${b64('\u0000ann\u0000')}`, [INVALID_PLAIN]]]],
      ['invalid UTF-8', {}, [EHLO, [`AUTH PLAIN ${Buffer.from([0, 0x61, 0, 0xff]).toString('base64')}`, [INVALID_PLAIN]]]],
      [
        'a response longer than MAX_SASL_RESPONSE_LENGTH',
        {},
        [EHLO, [`AUTH PLAIN ${'A'.repeat(MAX_SASL_RESPONSE_LENGTH + 4)}`, [INVALID_PLAIN]]],
      ],
      ['a bad continuation response returns to commands', {}, [EHLO, ['AUTH PLAIN', ['334\r\n']], ['!!', [INVALID_PLAIN]], ['NOOP', [OK]]]],
      ['* cancels', {}, [EHLO, ['AUTH PLAIN', ['334\r\n']], ['*', [CANCELLED]], ANN_LOGS_IN]],
      ['a command during the exchange is taken as the response', {}, [EHLO, ['AUTH PLAIN', ['334\r\n']], ['QUIT', [INVALID_PLAIN]]]],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });
  });

  describe('AUTH LOGIN', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'step by step',
        {},
        [
          EHLO,
          ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']],
          [b64('ann'), ['334 UGFzc3dvcmQ6\r\n']],
          [b64('secret'), ['login LOGIN ann secret']],
          ['@ok', [SUCCESS]],
        ],
      ],
      [
        'with the username as initial response',
        {},
        [EHLO, [`AUTH LOGIN ${b64('ann')}`, ['334 UGFzc3dvcmQ6\r\n']], [b64('secret'), ['login LOGIN ann secret']]],
      ],
      ['* cancels at the username', {}, [EHLO, ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']], ['*', [CANCELLED]], ['NOOP', [OK]]]],
      [
        '* cancels at the password',
        {},
        [EHLO, ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']], [b64('ann'), ['334 UGFzc3dvcmQ6\r\n']], ['*', [CANCELLED]], ['NOOP', [OK]]],
      ],
      ['bad base64 username', {}, [EHLO, ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']], ['%%%', [INVALID_BASE64]], ['NOOP', [OK]]]],
      ['bad base64 password', {}, [EHLO, [`AUTH LOGIN ${b64('ann')}`, ['334 UGFzc3dvcmQ6\r\n']], ['%%%', [INVALID_BASE64]]]],
      ['an empty username (empty line)', {}, [EHLO, ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']], ['', [INVALID_BASE64]]]],
      ['an empty initial username (=)', {}, [EHLO, ['AUTH LOGIN =', [INVALID_BASE64]]]],
      ['an empty password', {}, [EHLO, [`AUTH LOGIN ${b64('ann')}`, ['334 UGFzc3dvcmQ6\r\n']], ['', [INVALID_BASE64]]]],
      ['a NUL in the username', {}, [EHLO, [`AUTH LOGIN ${b64('ann\u0000root')}`, [INVALID_BASE64]]]],
      [
        'a NUL in the password',
        {},
        [EHLO, [`AUTH LOGIN ${b64('ann')}`, ['334 UGFzc3dvcmQ6\r\n']], [b64('se\u0000cret'), [INVALID_BASE64]]],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });

    test('heldBytes counts a username awaiting its password', () => {
      const dialogue = run({}, [EHLO, [`AUTH LOGIN ${b64('annabel')}`, ['334 UGFzc3dvcmQ6\r\n']]]);
      expect(dialogue.heldBytes).toBe('pc.example'.length + 'annabel'.length);
      feed(dialogue, '*');
      expect(dialogue.heldBytes).toBe('pc.example'.length);
    });
  });

  describe('AUTH refusals and login results', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      ['before EHLO', {}, [[PLAIN_ANN, [EHLO_FIRST]]]],
      [
        'in cleartext when cleartext logins are refused',
        { allowCleartextLogin: false },
        [
          ['EHLO pc', [ehloReply('pc', { auth: false })]],
          [PLAIN_ANN, ['538 5.7.11 Encryption required for requested authentication mechanism\r\n']],
          ['AUTH LOGIN', ['538 5.7.11 Encryption required for requested authentication mechanism\r\n']],
        ],
      ],
      [
        'on implicit TLS when cleartext logins are refused',
        { secure: true, allowCleartextLogin: false },
        [['EHLO pc', [ehloReply('pc', { startTls: false })]], ANN_LOGS_IN],
      ],
      ['an unknown mechanism', {}, [EHLO, ['AUTH CRAM-MD5', ['504 5.5.4 Unrecognized authentication type\r\n']]]],
      ['no mechanism', {}, [EHLO, ['AUTH', ['501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n']]]],
      ['too many arguments', {}, [EHLO, [`${PLAIN_ANN} extra`, ['501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n']]]],
      [
        'a refused login shows the reason and allows another try',
        {},
        [EHLO, ANN_LOGS_IN, ['@fail wrong password for ann', ['535 5.7.8 wrong password for ann\r\n']], ANN_LOGS_IN, ['@ok', [SUCCESS]]],
      ],
      ['a refused login without a reason', {}, [EHLO, ANN_LOGS_IN, ['@fail ', ['535 5.7.8 Authentication credentials invalid\r\n']]]],
      ['a reason cannot inject a second reply', {}, [EHLO, ANN_LOGS_IN, ['@fail no\r\n235 2.7.0 ok', ['535 5.7.8 no 235 2.7.0 ok\r\n']]]],
      [
        'the last allowed failure closes with 535 then 421',
        { maxLoginAttempts: 2 },
        [
          EHLO,
          ANN_LOGS_IN,
          ['@fail bad', ['535 5.7.8 bad\r\n']],
          ANN_LOGS_IN,
          ['@fail bad', ['close 535 5.7.8 bad\r\n421 4.7.0 Too many failed logins\r\n']],
          ['NOOP', []],
        ],
      ],
      [
        'one attempt allowed',
        { maxLoginAttempts: 1 },
        [EHLO, ANN_LOGS_IN, ['@fail bad', ['close 535 5.7.8 bad\r\n421 4.7.0 Too many failed logins\r\n']]],
      ],
      ['AUTH after success', {}, [EHLO, ANN_LOGS_IN, ['@ok', [SUCCESS]], [PLAIN_ANN, ['503 5.5.1 Already authenticated\r\n']]]],
      [
        'a line fed before the login result closes (the adapter must hold it)',
        {},
        [EHLO, ANN_LOGS_IN, ['MAIL FROM:<ann@example.org>', ['close 421 4.3.0 Command received before the authentication result\r\n']]],
      ],
      [
        'a result with no login in progress',
        {},
        [EHLO, ['@ok', ['503 5.5.1 No authentication in progress\r\n']], ['@fail x', []], ANN_LOGS_IN],
      ],
      [
        'a second result for one login',
        {},
        [
          EHLO,
          ANN_LOGS_IN,
          ['@fail bad', ['535 5.7.8 bad\r\n']],
          ['@ok', ['503 5.5.1 No authentication in progress\r\n']],
          ['@fail bad', []],
        ],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });
  });

  describe('STARTTLS', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'upgrades, then forgets the EHLO and offers AUTH without STARTTLS',
        { allowCleartextLogin: false },
        [
          ['EHLO pc', [ehloReply('pc', { auth: false })]],
          ['STARTTLS', [READY_TLS]],
          ['@tls', []],
          [PLAIN_ANN, [EHLO_FIRST]],
          ['EHLO pc', [ehloReply('pc', { startTls: false })]],
          ANN_LOGS_IN,
        ],
      ],
      [
        'commands pipelined after STARTTLS in cleartext are dropped (CVE-2011-0411)',
        {},
        [
          EHLO,
          ['STARTTLS', [READY_TLS]],
          ['EHLO evil', []],
          [PLAIN_ANN, []],
          ['QUIT', []],
          ['@too-long', []],
          ['@tls', []],
          [PLAIN_ANN, [EHLO_FIRST]],
        ],
      ],
      ['allowed before EHLO', {}, [['STARTTLS', [READY_TLS]]]],
      ['case-insensitive', {}, [['starttls', [READY_TLS]]]],
      [
        'only once',
        {},
        [
          ['STARTTLS', [READY_TLS]],
          ['@tls', []],
          ['STARTTLS', ['503 5.5.1 Already running TLS\r\n']],
        ],
      ],
      ['on implicit TLS', { secure: true }, [['STARTTLS', ['503 5.5.1 Already running TLS\r\n']]]],
      ['without a certificate', { startTlsAvailable: false }, [['STARTTLS', ['502 5.5.1 STARTTLS not available\r\n']]]],
      ['with an argument', {}, [['STARTTLS now', ['501 5.5.4 Syntax: STARTTLS\r\n']]]],
      ['after login', {}, [EHLO, ANN_LOGS_IN, ['@ok', [SUCCESS]], ['STARTTLS', ['503 5.5.1 Already authenticated\r\n']]]],
      [
        'a stray tlsStarted() changes nothing',
        { allowCleartextLogin: false },
        [
          ['@tls', []],
          ['EHLO pc', [ehloReply('pc', { auth: false })]],
          [PLAIN_ANN, ['538 5.7.11 Encryption required for requested authentication mechanism\r\n']],
        ],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });

    test('clientName is forgotten at the upgrade and set by the next EHLO', () => {
      const dialogue = run({}, [EHLO, ['STARTTLS', [READY_TLS]]]);
      expect(dialogue.clientName).toBe('pc.example');
      dialogue.tlsStarted();
      expect(dialogue.clientName).toBeUndefined();
      dialogue.onLine('EHLO after.example');
      expect(dialogue.clientName).toBe('after.example');
    });
  });

  describe('other commands before login', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'NOOP and RSET',
        {},
        [
          ['NOOP', [OK]],
          ['noop with args', [OK]],
          ['RSET', [OK]],
        ],
      ],
      ['HELP', {}, [['HELP', ['214 2.0.0 Commands: EHLO HELO AUTH STARTTLS NOOP RSET QUIT HELP\r\n']]]],
      [
        'VRFY',
        {},
        [
          ['VRFY ann', ['252 2.5.2 Cannot verify users here\r\n']],
          ['VRFY', ['501 5.5.4 Syntax: VRFY address\r\n']],
        ],
      ],
      [
        'mail commands need a login',
        {},
        [
          EHLO,
          ['MAIL FROM:<ann@example.org>', [AUTH_REQUIRED]],
          ['RCPT TO:<bob@example.org>', [AUTH_REQUIRED]],
          ['DATA', [AUTH_REQUIRED]],
          ['BDAT 10 LAST', [AUTH_REQUIRED]],
          ['ETRN example.org', [AUTH_REQUIRED]],
          ['EXPN staff', [AUTH_REQUIRED]],
          ['mail from:<ann@example.org>', [AUTH_REQUIRED]],
        ],
      ],
      ['mail commands before EHLO too', {}, [['MAIL FROM:<a@b>', [AUTH_REQUIRED]]]],
      [
        'unknown or malformed commands',
        {},
        [
          ['XCLIENT ADDR=1.2.3.4', [UNRECOGNIZED]],
          ['', [UNRECOGNIZED]],
          [' EHLO pc', [UNRECOGNIZED]],
          ['EHLO:pc', [UNRECOGNIZED]],
          ['TOSTRING', [UNRECOGNIZED]],
          ['__PROTO__', [UNRECOGNIZED]],
          ['\u0131', [UNRECOGNIZED]],
        ],
      ],
      [
        'QUIT closes, then nothing more',
        {},
        [
          ['QUIT', ['close 221 2.0.0 Bye\r\n']],
          ['NOOP', []],
          ['@too-long', []],
        ],
      ],
      ['quit in lower case', {}, [['quit', ['close 221 2.0.0 Bye\r\n']]]],
      [
        'mail commands fed after login (the adapter should relay them)',
        {},
        [EHLO, ANN_LOGS_IN, ['@ok', [SUCCESS]], ['MAIL FROM:<a@b>', ['451 4.3.0 Server connection not ready\r\n']]],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });
  });

  describe('limits', () => {
    const tooMany = 'close 421 4.7.0 Too many commands without login\r\n';
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'the command after maxUnauthenticatedCommands closes',
        { maxUnauthenticatedCommands: 3 },
        [
          ['NOOP', [OK]],
          ['NOOP', [OK]],
          ['NOOP', [OK]],
          ['NOOP', [tooMany]],
          ['NOOP', []],
        ],
      ],
      [
        'unknown and refused commands count',
        { maxUnauthenticatedCommands: 2 },
        [
          ['XYZ', [UNRECOGNIZED]],
          ['MAIL FROM:<a@b>', [AUTH_REQUIRED]],
          ['QUIT', [tooMany]],
        ],
      ],
      [
        'SASL responses are not commands',
        { maxUnauthenticatedCommands: 2 },
        [
          EHLO,
          ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']],
          [b64('ann'), ['334 UGFzc3dvcmQ6\r\n']],
          [b64('secret'), ['login LOGIN ann secret']],
        ],
      ],
      [
        'failed logins do not reset the count',
        { maxUnauthenticatedCommands: 3 },
        [
          EHLO,
          ANN_LOGS_IN,
          ['@fail bad', ['535 5.7.8 bad\r\n']],
          ANN_LOGS_IN,
          ['@fail bad', ['535 5.7.8 bad\r\n']],
          [PLAIN_ANN, [tooMany]],
        ],
      ],
      [
        'STARTTLS does not reset the count',
        { maxUnauthenticatedCommands: 2 },
        [
          ['NOOP', [OK]],
          ['STARTTLS', [READY_TLS]],
          ['@tls', []],
          ['EHLO pc', [tooMany]],
        ],
      ],
      [
        'a logged-in client is not counted',
        { maxUnauthenticatedCommands: 2 },
        [EHLO, ANN_LOGS_IN, ['@ok', [SUCCESS]], ['NOOP', [OK]], ['NOOP', [OK]]],
      ],
      ['a line too long closes', {}, [EHLO, ['@too-long', ['close 500 5.5.6 Line too long\r\n']], ['NOOP', []]]],
      [
        'a line too long during a SASL exchange closes',
        {},
        [EHLO, ['AUTH LOGIN', ['334 VXNlcm5hbWU6\r\n']], ['@too-long', ['close 500 5.5.6 Line too long\r\n']]],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });
  });

  describe('properties', () => {
    /** Throws (plain, fast: these run hundreds of thousands of times) when `condition` is false. */
    function check(condition: boolean, what: string, detail?: unknown): asserts condition {
      if (!condition) throw new Error(`${what}: ${JSON.stringify(detail)}`);
    }

    /** Checks `data` is one or more complete SMTP replies (RFC 5321 4.2) and returns their codes. */
    function replyCodes(data: string): number[] {
      check(data.endsWith('\r\n'), 'reply ends with CRLF', data);
      const codes: number[] = [];
      let open: string | undefined;
      for (const line of data.slice(0, -2).split('\r\n')) {
        const match = /^([2-5][0-9]{2})([ -]|$)/.exec(line);
        check(
          match !== null && !/[\r\n]/.test(line) && line.length <= 510,
          'reply line: code, separator, no CR/LF, at most 510 characters',
          line,
        );
        const [, code, separator] = match;
        check(open === undefined || code === open, 'one code throughout a multi-line reply', data);
        if (separator === '-') open = code;
        else {
          codes.push(Number(code));
          open = undefined;
        }
      }
      check(open === undefined, 'a multi-line reply ends with a final line', data);
      return codes;
    }

    type Event = { kind: 'line'; line: string } | { kind: 'tls' };

    const optionsArbitrary = fc.record({
      hostname: fc.constantFrom('gw.example.org', 'a', 'x'.repeat(300)),
      startTlsAvailable: fc.boolean(),
      secure: fc.boolean(),
      allowCleartextLogin: fc.boolean(),
      maxLineLength: fc.constantFrom(64, 512, 512, 2048),
      maxUnauthenticatedCommands: fc.oneof(fc.constant(20), fc.integer({ min: 0, max: 30 })),
      maxLoginAttempts: fc.integer({ min: 1, max: 4 }),
    });

    /** What runs reached, so that a test can tell its runs went deep enough to prove something. */
    const reached = { login: 0, starttls: 0, close: 0 };

    /**
     * Plays `events` as an adapter would, checking every action. Logins are
     * decided in turn by `decisions` (true: accepted, and the relay starts).
     */
    function play(options: ClientDialogueOptions, events: Event[], decisions: boolean[]): void {
      const dialogue = createSmtpClientDialogue(options);
      const greeting = dialogue.start();
      check(greeting.length === 1 && greeting[0].kind === 'send' && replyCodes(greeting[0].data)[0] === 220, 'a 220 greeting', greeting);
      let secure = options.secure;
      let tlsPending = false;
      let decision = 0;
      for (const event of events) {
        if (event.kind === 'tls') {
          if (!tlsPending) continue;
          dialogue.tlsStarted();
          secure = true;
          tlsPending = false;
          continue;
        }
        const actions = event.line.length > options.maxLineLength ? dialogue.onLineTooLong() : dialogue.onLine(event.line);
        check(dialogue.heldBytes <= 4096 && JSON.stringify(dialogue).length < 1024, 'bounded state', dialogue);
        if (tlsPending) {
          check(actions.length === 0, 'lines between STARTTLS and the upgrade are dropped', actions);
          continue;
        }
        // One reply (or one login to decide) per line: a pipelining client stays in step.
        check(actions.length === 1, 'one action per line', actions);
        const [action] = actions;
        if (action.kind !== 'send') reached[action.kind]++;
        if (action.kind === 'login') {
          const { username, password } = action.credentials;
          check(secure || options.allowCleartextLogin, 'no login in cleartext unless allowed');
          check(
            username !== '' && !username.includes('\u0000') && password !== '',
            'non-empty credentials, no NUL in the username',
            action,
          );
          if (decisions[decision++ % decisions.length]) {
            check(dialogue.loginSucceeded() === '235 2.7.0 Authentication successful\r\n', '235 on success');
            return;
          }
          const refusal = dialogue.loginFailed('no such user');
          check(refusal.length === 1 && refusal[0].kind !== 'login' && replyCodes(refusal[0].data)[0] === 535, 'a 535 refusal', refusal);
          if (refusal[0].kind === 'close') return;
          continue;
        }
        check(replyCodes(action.data).length === 1, 'one reply per line', action);
        if (action.kind === 'starttls') {
          check(!secure && options.startTlsAvailable, 'STARTTLS only when offered');
          tlsPending = true;
        }
        if (action.kind === 'close') {
          check(dialogue.onLine('NOOP').length === 0 && dialogue.onLineTooLong().length === 0, 'nothing after a close');
          return;
        }
      }
    }

    const VERBS = [
      'EHLO',
      'HELO',
      'AUTH',
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
      'XCLIENT',
      'ehlo',
      'auth',
      'StartTls',
    ];
    const saslLines = [
      '*',
      '=',
      '',
      b64('ann'),
      b64('secret'),
      b64('\u0000ann\u0000secret'),
      b64('root\u0000ann\u0000secret'),
      b64('\u0000ann'),
    ];
    const argument = fc.oneof(
      fc.constantFrom(
        '',
        'pc.example',
        'PLAIN',
        'LOGIN',
        'CRAM-MD5',
        '=',
        'FROM:<ann@example.org>',
        `PLAIN ${b64('\u0000ann\u0000secret')}`,
        `LOGIN ${b64('ann')}`,
      ),
      anyText(30),
    );
    const validCommands = [
      'EHLO pc.example',
      'STARTTLS',
      'AUTH PLAIN',
      'AUTH LOGIN',
      `AUTH PLAIN ${b64('\u0000ann\u0000secret')}`,
      `AUTH LOGIN ${b64('ann')}`,
      'NOOP',
    ];
    const line = fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...validCommands) },
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...VERBS), argument).map(([verb, args]) => (args ? `${verb} ${args}` : verb)) },
      { weight: 2, arbitrary: fc.constantFrom(...saslLines) },
      { weight: 2, arbitrary: anyText(80) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom('EHLO ', 'AUTH PLAIN ', ''), fc.integer({ min: 60, max: 3000 }))
          .map(([prefix, length]) => prefix + 'A'.repeat(length)),
      },
    );
    const event: fc.Arbitrary<Event> = fc.oneof(
      { weight: 9, arbitrary: line.map((text): Event => ({ kind: 'line', line: text })) },
      { weight: 1, arbitrary: fc.constant<Event>({ kind: 'tls' }) },
    );

    /** Runs `body` and returns what its runs reached. */
    function counting(body: () => void): typeof reached {
      Object.assign(reached, { login: 0, starttls: 0, close: 0 });
      body();
      return { ...reached };
    }

    test('random command sequences: never throws, well-formed replies, one per line, bounded state', () => {
      const counts = counting(() =>
        fc.assert(
          fc.property(
            optionsArbitrary,
            fc.array(event, { maxLength: 60, size: 'medium' }),
            fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
            (options, events, decisions) => {
              play(options, events, decisions);
            },
          ),
          { numRuns: 1000 },
        ),
      );
      // The runs must reach logins, upgrades and closes, or the checks above prove little.
      expect(Math.min(counts.login, counts.starttls, counts.close)).toBeGreaterThan(30);
    });

    /** Text a client may log in with: any code point but NUL, surrogates and U+FFFD. */
    const credential = fc.string({
      unit: fc.integer({ min: 1, max: 0xd7ff }).map((code) => String.fromCodePoint(code)),
      minLength: 1,
      maxLength: 20,
    });
    const session = fc
      .record({
        name: fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/),
        startTls: fc.boolean(),
        mechanism: fc.constantFrom('PLAIN', 'PLAIN-INITIAL', 'LOGIN', 'LOGIN-INITIAL'),
        username: credential,
        password: credential,
      })
      .map(({ name, startTls, mechanism, username, password }) => {
        const events: Event[] = [];
        const send = (...lines: string[]) => events.push(...lines.map((text): Event => ({ kind: 'line', line: text })));
        send(`EHLO ${name}`);
        if (startTls) {
          send('STARTTLS');
          events.push({ kind: 'tls' });
          send(`EHLO ${name}`);
        }
        const plain = b64(`\u0000${username}\u0000${password}`);
        if (mechanism === 'PLAIN') send('AUTH PLAIN', plain);
        if (mechanism === 'PLAIN-INITIAL') send(`AUTH PLAIN ${plain}`);
        if (mechanism === 'LOGIN') send('AUTH LOGIN', b64(username), b64(password));
        if (mechanism === 'LOGIN-INITIAL') send(`AUTH LOGIN ${b64(username)}`, b64(password));
        return { name, startTls, username, password, events };
      });

    test('a well-behaved client ends in a login with its own credentials and EHLO name', () => {
      fc.assert(
        fc.property(session, ({ name, startTls, username, password, events }) => {
          const dialogue = createSmtpClientDialogue({ ...OPTIONS, allowCleartextLogin: !startTls, maxLineLength: 8192 });
          dialogue.start();
          const actions = events.flatMap((event) => (event.kind === 'tls' ? (dialogue.tlsStarted(), []) : dialogue.onLine(event.line)));
          expect(actions.at(-1)).toEqual({
            kind: 'login',
            credentials: { username, password, mechanism: expect.stringMatching(/^(PLAIN|LOGIN)$/) },
          });
          expect(dialogue.clientName).toBe(name);
        }),
        { numRuns: 300 },
      );
    });

    type Mutation = { kind: 'delete' | 'duplicate' | 'swap' | 'upper' | 'lower' | 'truncate' | 'insert'; at: number; text: string };
    const mutation: fc.Arbitrary<Mutation> = fc.record({
      kind: fc.constantFrom('delete', 'duplicate', 'swap', 'upper', 'lower', 'truncate', 'insert'),
      at: fc.nat(),
      text: fc.oneof(line, fc.constantFrom('STARTTLS', '*', 'QUIT')),
    });

    function mutate(events: Event[], mutations: Mutation[]): Event[] {
      const result = [...events];
      for (const { kind, at, text } of mutations) {
        const i = at % (result.length + 1);
        const target = result[i];
        if (kind === 'insert') result.splice(i, 0, { kind: 'line', line: text });
        else if (!target) continue;
        else if (kind === 'delete') result.splice(i, 1);
        else if (kind === 'duplicate') result.splice(i, 0, target);
        else if (kind === 'swap' && result[i + 1]) [result[i], result[i + 1]] = [result[i + 1], target];
        else if (target.kind === 'line') {
          const changed =
            kind === 'upper'
              ? target.line.toUpperCase()
              : kind === 'lower'
                ? target.line.toLowerCase()
                : target.line.slice(0, at % (target.line.length + 1));
          result[i] = { kind: 'line', line: changed };
        }
      }
      return result;
    }

    test('mutated sessions: never throws, well-formed replies, one per line, bounded state', () => {
      const counts = counting(() =>
        fc.assert(
          fc.property(
            optionsArbitrary,
            session,
            fc.array(mutation, { minLength: 1, maxLength: 6 }),
            fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
            (options, { events }, mutations, decisions) => {
              play(options, mutate(events, mutations), decisions);
            },
          ),
          { numRuns: 1000 },
        ),
      );
      // The runs must reach logins, upgrades and closes, or the checks above prove little.
      expect(Math.min(counts.login, counts.starttls, counts.close)).toBeGreaterThan(30);
    });
  });
});

describe('PIPELINING is advertised only when the servers support it', () => {
  test.each([
    [true, true],
    [false, false],
    [undefined, false],
  ])('pipelining: %s -> advertised: %s', (pipelining, advertised) => {
    const dialogue = createSmtpClientDialogue({ ...OPTIONS, pipelining });
    dialogue.start();
    const [reply] = dialogue.onLine('EHLO pc.example');
    expect(reply.kind).toBe('send');
    expect((reply as { data: string }).data.includes('250-PIPELINING\r\n')).toBe(advertised);
  });
});
