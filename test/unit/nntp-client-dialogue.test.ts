import fc from 'fast-check';
import type { ClientAction, ClientDialogueOptions } from '../../protocols/dialogue';
import { createNntpClientDialogue, type NntpClientDialogue } from '../../protocols/nntp/client-dialogue';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { anyText, reasonText, wireLines } from './arbitraries';

const OPTIONS: ClientDialogueOptions = {
  hostname: 'gw.example.test',
  startTlsAvailable: false,
  secure: false,
  allowCleartextLogin: true,
  maxLineLength: 512,
  maxUnauthenticatedCommands: 20,
  maxLoginAttempts: 3,
};

const crlf = (lines: string[]) => lines.map((line) => `${line}\r\n`).join('');
const send = (...lines: string[]): ClientAction => ({ kind: 'send', data: crlf(lines) });
const close = (...lines: string[]): ClientAction => ({ kind: 'close', data: crlf(lines) });
const starttls = (line: string): ClientAction => ({ kind: 'starttls', data: crlf([line]) });
const login = (username: string, password: string): ClientAction => ({
  kind: 'login',
  credentials: { username, password, mechanism: 'AUTHINFO' },
});

const GREETING = send('200 gw.example.test roamgate news proxy ready (posting ok)');
const capabilities = (...lines: string[]) => send('101 Capability list:', 'VERSION 2', ...lines, '.');

/** One step of a transcript: what the adapter does, and what the dialogue must answer. */
interface Step {
  label: string;
  run: (dialogue: NntpClientDialogue) => ClientAction[] | string;
  expected: ClientAction[] | string;
}
const C = (line: string, ...expected: ClientAction[]): Step => ({ label: `C: ${line}`, run: (d) => d.onLine(line), expected });
const TLS_STARTED: Step = { label: 'tlsStarted()', run: (d) => (d.tlsStarted(), []), expected: [] };
const TOO_LONG = (...expected: ClientAction[]): Step => ({ label: 'onLineTooLong()', run: (d) => d.onLineTooLong(), expected });
const FAILED = (reason: string, ...expected: ClientAction[]): Step => ({
  label: `loginFailed(${JSON.stringify(reason)})`,
  run: (d) => d.loginFailed(reason),
  expected,
});
const SUCCEEDED: Step = { label: 'loginSucceeded()', run: (d) => d.loginSucceeded(), expected: '281 Authentication accepted\r\n' };

function play(options: Partial<ClientDialogueOptions>, steps: Step[]): NntpClientDialogue {
  const dialogue = createNntpClientDialogue({ ...OPTIONS, ...options });
  expect(dialogue.start()).toEqual([{ kind: 'send', data: expect.stringMatching(/^200 /) }]);
  for (const step of steps) expect([step.label, step.run(dialogue)]).toEqual([step.label, step.expected]);
  return dialogue;
}

describe('createNntpClientDialogue', () => {
  test('greets with 200 and its host name', () => {
    expect(createNntpClientDialogue(OPTIONS).start()).toEqual([GREETING]);
  });

  test('a host name cannot inject a second line into the greeting', () => {
    expect(createNntpClientDialogue({ ...OPTIONS, hostname: 'evil\r\n281 ok' }).start()).toEqual([
      send('200 evil 281 ok roamgate news proxy ready (posting ok)'),
    ]);
  });

  describe('CAPABILITIES', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[], ClientAction]>([
      ['cleartext logins allowed', {}, [], capabilities('MODE-READER', 'AUTHINFO USER')],
      ['cleartext logins refused, no TLS on offer', { allowCleartextLogin: false }, [], capabilities('MODE-READER')],
      [
        'cleartext logins refused, STARTTLS on offer',
        { allowCleartextLogin: false, startTlsAvailable: true },
        [],
        capabilities('MODE-READER', 'STARTTLS'),
      ],
      ['STARTTLS and cleartext logins', { startTlsAvailable: true }, [], capabilities('MODE-READER', 'AUTHINFO USER', 'STARTTLS')],
      [
        'implicit TLS: no STARTTLS, logins allowed',
        { secure: true, allowCleartextLogin: false, startTlsAvailable: true },
        [],
        capabilities('MODE-READER', 'AUTHINFO USER'),
      ],
      [
        'after MODE READER: READER instead of MODE-READER',
        {},
        [C('MODE READER', send('200 Reader mode, posting permitted'))],
        capabilities('READER', 'AUTHINFO USER'),
      ],
      [
        'after STARTTLS: no STARTTLS, AUTHINFO now allowed',
        { allowCleartextLogin: false, startTlsAvailable: true },
        [C('STARTTLS', starttls('382 Continue with TLS negotiation')), TLS_STARTED],
        capabilities('MODE-READER', 'AUTHINFO USER'),
      ],
    ])('%s', (_name, options, before, expected) => {
      play(options, [...before, C('CAPABILITIES', expected)]);
    });

    test.each(['capabilities', 'Capabilities', 'CAPABILITIES AUTOUPDATE', 'CAPABILITIES  ', '\tCAPABILITIES'])(
      '%j lists the capabilities too',
      (line) => {
        play({}, [C(line, capabilities('MODE-READER', 'AUTHINFO USER'))]);
      },
    );
  });

  describe('MODE READER', () => {
    test.each(['MODE READER', 'mode reader', 'Mode Reader', 'MODE\tREADER', 'MODE  READER  '])('%j switches to reader mode', (line) => {
      const dialogue = play({}, [C(line, send('200 Reader mode, posting permitted'))]);
      expect(dialogue.modeReader).toBe(true);
    });

    test.each(['MODE', 'MODE STREAM', 'MODE READER NOW', 'MODE READERS'])('%j is 501 and changes nothing', (line) => {
      const dialogue = play({}, [C(line, send('501 Unknown MODE variant'))]);
      expect(dialogue.modeReader).toBe(false);
    });

    test('modeReader starts false', () => {
      expect(createNntpClientDialogue(OPTIONS).modeReader).toBe(false);
    });

    test('is remembered across STARTTLS (nntplib sends it before STARTTLS and not again)', () => {
      const dialogue = play({ startTlsAvailable: true }, [
        C('MODE READER', send('200 Reader mode, posting permitted')),
        C('STARTTLS', starttls('382 Continue with TLS negotiation')),
        TLS_STARTED,
        C('CAPABILITIES', capabilities('READER', 'AUTHINFO USER')),
      ]);
      expect(dialogue.modeReader).toBe(true);
    });
  });

  describe('AUTHINFO', () => {
    test.each<[string, Partial<ClientDialogueOptions>, Step[]]>([
      [
        'USER then PASS asks for a login',
        {},
        [C('AUTHINFO USER alice', send('381 Password required')), C('AUTHINFO PASS pw', login('alice', 'pw'))],
      ],
      [
        'lower case, as nntplib sends it',
        {},
        [C('authinfo user alice', send('381 Password required')), C('authinfo pass pw', login('alice', 'pw'))],
      ],
      [
        'extra spaces and tabs between the words',
        {},
        [C('AUTHINFO   USER \t alice', send('381 Password required')), C('AUTHINFO\tPASS  pw', login('alice', 'pw'))],
      ],
      [
        'a password with spaces is the rest of the line (RFC 4643 3.1)',
        {},
        [C('AUTHINFO USER alice', send('381 Password required')), C('AUTHINFO PASS pw with  spaces ', login('alice', 'pw with  spaces '))],
      ],
      [
        'a user name with a space',
        {},
        [C('AUTHINFO USER alice smith', send('381 Password required')), C('AUTHINFO PASS pw', login('alice smith', 'pw'))],
      ],
      [
        'a second USER replaces the first',
        {},
        [
          C('AUTHINFO USER alice', send('381 Password required')),
          C('AUTHINFO USER bob', send('381 Password required')),
          C('AUTHINFO PASS pw', login('bob', 'pw')),
        ],
      ],
      [
        'UTF-8 credentials are decoded from the wire bytes',
        {},
        [
          C('AUTHINFO USER j\u00c3\u00bcrgen', send('381 Password required')),
          C('AUTHINFO PASS \u00e2\u0082\u00ac', login('j\u00fcrgen', '\u20ac')),
        ],
      ],
      [
        'latin1 credentials that are not UTF-8 stay as they are',
        {},
        [
          C('AUTHINFO USER j\u00fcrgen', send('381 Password required')),
          C('AUTHINFO PASS \u00e9t\u00e9', login('j\u00fcrgen', '\u00e9t\u00e9')),
        ],
      ],
      ['PASS without USER is out of sequence', {}, [C('AUTHINFO PASS pw', send('482 Authentication commands issued out of sequence'))]],
      ['AUTHINFO alone', {}, [C('AUTHINFO', send('501 Syntax error in AUTHINFO command'))]],
      [
        'USER without a name',
        {},
        [
          C('AUTHINFO USER', send('501 Syntax error in AUTHINFO command')),
          C('AUTHINFO USER  ', send('501 Syntax error in AUTHINFO command')),
        ],
      ],
      [
        'PASS without a password keeps the pending user',
        {},
        [
          C('AUTHINFO USER alice', send('381 Password required')),
          C('AUTHINFO PASS', send('501 Syntax error in AUTHINFO command')),
          C('AUTHINFO PASS pw', login('alice', 'pw')),
        ],
      ],
      [
        'a NUL in a name is refused',
        {},
        [
          C('AUTHINFO USER al\0ice', send('501 Syntax error in AUTHINFO command')),
          C('AUTHINFO PASS pw', send('482 Authentication commands issued out of sequence')),
        ],
      ],
      [
        'a bare CR in a password is refused',
        {},
        [C('AUTHINFO USER alice', send('381 Password required')), C('AUTHINFO PASS p\rw', send('501 Syntax error in AUTHINFO command'))],
      ],
      ['SASL is not supported', {}, [C('AUTHINFO SASL PLAIN AGFsaWNlAHB3', send('503 AUTHINFO SASL is not supported'))]],
      [
        'other variants are syntax errors',
        {},
        [
          C('AUTHINFO GENERIC x', send('501 Syntax error in AUTHINFO command')),
          C('AUTHINFO SIMPLE', send('501 Syntax error in AUTHINFO command')),
        ],
      ],
      [
        'no login over cleartext when it is refused',
        { allowCleartextLogin: false, startTlsAvailable: true },
        [
          C('AUTHINFO USER alice', send('483 Encryption or stronger authentication required')),
          C('AUTHINFO PASS pw', send('483 Encryption or stronger authentication required')),
        ],
      ],
      [
        'on an implicit TLS connection cleartext rules do not apply',
        { secure: true, allowCleartextLogin: false },
        [C('AUTHINFO USER alice', send('381 Password required')), C('AUTHINFO PASS pw', login('alice', 'pw'))],
      ],
    ])('%s', (_name, options, steps) => {
      play(options, steps);
    });

    test('holds only the pending user name, and only until PASS', () => {
      const dialogue = createNntpClientDialogue(OPTIONS);
      dialogue.onLine('AUTHINFO USER alice');
      expect(dialogue.buffered).toBe(5);
      dialogue.onLine('AUTHINFO PASS pw');
      expect(dialogue.buffered).toBe(0);
    });

    test('nothing is answered while the login is being checked', () => {
      play({}, [
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', login('alice', 'pw')),
        C('GROUP misc.test'),
        C('QUIT'),
      ]);
    });

    test('a line too long while the login is being checked closes the connection (the reader cannot keep it)', () => {
      play({}, [
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', login('alice', 'pw')),
        TOO_LONG(close('500 Line too long')),
      ]);
    });

    test('a success ends the dialogue: the relay owns the connection', () => {
      play({}, [
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', login('alice', 'pw')),
        SUCCEEDED,
        C('CAPABILITIES'),
        C('QUIT'),
        TOO_LONG(),
      ]);
    });

    test('a failure answers 481 with the reason, forgets the user and allows another try', () => {
      play({}, [
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS wrong', login('alice', 'wrong')),
        FAILED('Authentication failed', send('481 Authentication failed')),
        C('AUTHINFO PASS pw', send('482 Authentication commands issued out of sequence')),
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', login('alice', 'pw')),
        SUCCEEDED,
      ]);
    });

    test.each<[string, string]>([
      ['', '481 Authentication failed'],
      ['  ', '481 Authentication failed'],
      ['news is not for you\r\n281 ok', '481 news is not for you 281 ok'],
    ])('a failure reason %j is sent as %j', (reason, line) => {
      play({}, [C('AUTHINFO USER a', send('381 Password required')), C('AUTHINFO PASS b', login('a', 'b')), FAILED(reason, send(line))]);
    });

    test('loginFailed() without a pending login does nothing', () => {
      play({}, [FAILED('x'), C('AUTHINFO PASS pw', send('482 Authentication commands issued out of sequence'))]);
    });
  });

  describe('STARTTLS', () => {
    test('answers 382, drops what arrives before the handshake, then starts afresh', () => {
      const dialogue = play({ startTlsAvailable: true }, [
        C('AUTHINFO USER mallory', send('381 Password required')),
        C('STARTTLS', starttls('382 Continue with TLS negotiation')),
        // injected in cleartext after STARTTLS: must not be answered nor remembered
        C('AUTHINFO USER injected'),
        C('QUIT'),
        TLS_STARTED,
        C('AUTHINFO PASS pw', send('482 Authentication commands issued out of sequence')),
        C('STARTTLS', send('502 Already using TLS')),
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', login('alice', 'pw')),
      ]);
      expect(dialogue.buffered).toBe(0);
    });

    test.each<[string, Partial<ClientDialogueOptions>, string, ClientAction]>([
      ['not offered', {}, 'STARTTLS', send('502 STARTTLS is not available')],
      ['already on TLS', { secure: true, startTlsAvailable: true }, 'STARTTLS', send('502 Already using TLS')],
      ['with an argument', { startTlsAvailable: true }, 'STARTTLS now', send('501 STARTTLS takes no arguments')],
      ['in lower case', { startTlsAvailable: true }, 'starttls', starttls('382 Continue with TLS negotiation')],
    ])('%s', (_name, options, line, expected) => {
      play(options, [C(line, expected)]);
    });

    test('tlsStarted() without STARTTLS changes nothing', () => {
      play({ allowCleartextLogin: false, startTlsAvailable: true }, [
        TLS_STARTED,
        C('AUTHINFO USER alice', send('483 Encryption or stronger authentication required')),
      ]);
    });

    test('a too-long line during the handshake closes without a cleartext reply', () => {
      play({ startTlsAvailable: true }, [
        C('STARTTLS', starttls('382 Continue with TLS negotiation')),
        TOO_LONG({ kind: 'close', data: '' }),
      ]);
    });
  });

  describe('other commands', () => {
    const verbs = [
      'ARTICLE',
      'BODY',
      'CHECK',
      'DATE',
      'GROUP',
      'HDR',
      'HEAD',
      'IHAVE',
      'LAST',
      'LIST',
      'LISTGROUP',
      'NEWGROUPS',
      'NEWNEWS',
      'NEXT',
      'OVER',
      'POST',
      'STAT',
      'TAKETHIS',
      'XGTITLE',
      'XHDR',
      'XOVER',
      'XPAT',
      'XPATH',
    ];

    test.each(verbs)('%s needs a login: 480', (verb) => {
      play({}, [C(verb, send('480 Authentication required')), C(`${verb.toLowerCase()} arg1  arg2`, send('480 Authentication required'))]);
    });

    test.each(verbs)('%s where logins need TLS first: 483', (verb) => {
      play({ allowCleartextLogin: false, startTlsAvailable: true }, [C(verb, send('483 Encryption or stronger authentication required'))]);
    });

    test.each([
      'FOO',
      '',
      '   ',
      'QUI',
      'QUITX',
      'qu\u0131t',
      'constructor',
      '__proto__',
      'TOSTRING',
      'COMPRESS DEFLATE',
      'XSECRET a b',
      '\u00ff\u00fe',
    ])('%j is unknown: 500', (line) => {
      play({}, [C(line, send('500 Unknown command'))]);
    });

    test.each(['QUIT', 'quit', ' QUIT ', 'QUIT now'])('%j closes with 205', (line) => {
      play({}, [C(line, close('205 Bye')), C('CAPABILITIES'), TOO_LONG()]);
    });

    test('HELP lists what can be done before login', () => {
      play({ startTlsAvailable: true }, [
        C(
          'help',
          send(
            '100 Help text follows',
            '  AUTHINFO USER name',
            '  AUTHINFO PASS password',
            '  CAPABILITIES [keyword]',
            '  HELP',
            '  MODE READER',
            '  QUIT',
            '  STARTTLS',
            '.',
          ),
        ),
      ]);
    });

    test('a too-long line closes with 500', () => {
      play({}, [TOO_LONG(close('500 Line too long')), C('QUIT')]);
    });
  });

  describe('limits', () => {
    test('maxUnauthenticatedCommands: the command after the limit closes with 400', () => {
      play({ maxUnauthenticatedCommands: 3 }, [
        C('CAPABILITIES', capabilities('MODE-READER', 'AUTHINFO USER')),
        C('FOO', send('500 Unknown command')),
        C('GROUP a', send('480 Authentication required')),
        C('AUTHINFO USER alice', close('400 Too many commands without logging in')),
        C('AUTHINFO PASS pw'),
      ]);
    });

    test('lines dropped during a handshake do not count', () => {
      play({ maxUnauthenticatedCommands: 2, startTlsAvailable: true }, [
        C('STARTTLS', starttls('382 Continue with TLS negotiation')),
        C('x'),
        C('y'),
        C('z'),
        TLS_STARTED,
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', close('400 Too many commands without logging in')),
      ]);
    });

    test('maxLoginAttempts: the last failure answers 481, then closes with 400', () => {
      const attempt = (n: number): Step[] => [
        C('AUTHINFO USER alice', send('381 Password required')),
        C(`AUTHINFO PASS wrong${n}`, login('alice', `wrong${n}`)),
      ];
      play({ maxLoginAttempts: 2 }, [
        ...attempt(1),
        FAILED('Authentication failed', send('481 Authentication failed')),
        ...attempt(2),
        FAILED('Authentication failed', close('481 Authentication failed', '400 Too many failed logins')),
        C('AUTHINFO USER alice'),
      ]);
    });
  });

  describe('real clients', () => {
    // What python's nntplib sends with NNTP(host, user=..., password=..., readermode=True): it asks
    // for capabilities, sends MODE READER because MODE-READER (not READER) is advertised, asks
    // again, logs in, and asks once more after the login (that one goes to the real server).
    test('python nntplib with readermode=True and a login', () => {
      const dialogue = play({}, [
        C('CAPABILITIES', capabilities('MODE-READER', 'AUTHINFO USER')),
        C('mode reader', send('200 Reader mode, posting permitted')),
        C('CAPABILITIES', capabilities('READER', 'AUTHINFO USER')),
        C('authinfo user alice', send('381 Password required')),
        C('authinfo pass pw', login('alice', 'pw')),
        SUCCEEDED,
      ]);
      expect(dialogue.modeReader).toBe(true);
    });

    test('python nntplib with readermode=True, starttls(), then login()', () => {
      const dialogue = play({ startTlsAvailable: true, allowCleartextLogin: false }, [
        C('CAPABILITIES', capabilities('MODE-READER', 'STARTTLS')),
        C('mode reader', send('200 Reader mode, posting permitted')),
        C('CAPABILITIES', capabilities('READER', 'STARTTLS')),
        C('STARTTLS', starttls('382 Continue with TLS negotiation')),
        TLS_STARTED,
        C('CAPABILITIES', capabilities('READER', 'AUTHINFO USER')),
        C('authinfo user alice', send('381 Password required')),
        C('authinfo pass pw', login('alice', 'pw')),
        SUCCEEDED,
      ]);
      expect(dialogue.modeReader).toBe(true);
    });

    test('a newsreader that tries to read first, gets 480, then logs in', () => {
      play({}, [
        C('MODE READER', send('200 Reader mode, posting permitted')),
        C('LIST', send('480 Authentication required')),
        C('AUTHINFO USER alice', send('381 Password required')),
        C('AUTHINFO PASS pw', login('alice', 'pw')),
        SUCCEEDED,
      ]);
    });
  });

  describe('properties', () => {
    /** Splits data into NNTP responses, failing unless each is complete; returns the status codes. */
    function responseCodes(data: string): number[] {
      const lines = wireLines(data);
      const codes: number[] = [];
      for (let i = 0; i < lines.length; ) {
        const status = lines[i++];
        expect(status).toMatch(/^[1-5][0-9]{2}(?: .*)?$/s);
        const code = Number(status.slice(0, 3));
        codes.push(code);
        if (code !== 100 && code !== 101) continue;
        for (;;) {
          expect(i).toBeLessThan(lines.length);
          const line = lines[i++];
          if (line === '.') break;
          expect(line).not.toMatch(/^\.(?!\.)/);
        }
      }
      return codes;
    }

    const words = [
      'AUTHINFO',
      'USER',
      'PASS',
      'SASL',
      'CAPABILITIES',
      'MODE',
      'READER',
      'STARTTLS',
      'QUIT',
      'HELP',
      'GROUP',
      'LIST',
      'POST',
      'alice',
      'pw',
    ];
    const word = fc.oneof(
      fc
        .constantFrom(...words)
        .chain((w) =>
          fc
            .array(fc.boolean(), { minLength: w.length, maxLength: w.length })
            .map((lower) => [...w].map((c, i) => (lower[i] ? c.toLowerCase() : c)).join('')),
        ),
      anyText(12),
    );
    const spaces = fc.constantFrom('', ' ', '  ', '\t', ' \t ');
    const command = fc.tuple(spaces, fc.array(fc.tuple(word, spaces), { maxLength: 4 })).map(
      ([lead, parts]) =>
        lead +
        parts
          .map(([w, s]) => w + (s || ' '))
          .join('')
          .trimEnd(),
    );
    /** Lines of nntplib's login, with characters inserted, deleted or replaced. */
    const mutated = fc
      .tuple(
        fc.constantFrom('CAPABILITIES', 'mode reader', 'authinfo user alice', 'authinfo pass pw', 'STARTTLS', 'QUIT'),
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.constantFrom('insert', 'delete', 'replace'),
            fc.constantFrom(' ', '\t', '\0', '\r', '.', 'A', 'z', '\u00ff', '\u2028'),
          ),
          { maxLength: 4 },
        ),
      )
      .map(([line, edits]) =>
        edits.reduce<string>((text, [at, edit, char]) => {
          const i = at % (text.length + 1);
          if (edit === 'insert') return text.slice(0, i) + char + text.slice(i);
          return text.slice(0, i) + (edit === 'replace' ? char : '') + text.slice(i + 1);
        }, line),
      );
    const line = fc.oneof(command, mutated, anyText(60));

    type Event = { kind: 'line'; line: string } | { kind: 'too-long' } | { kind: 'tls' } | { kind: 'verdict'; ok: boolean; reason: string };
    const event: fc.Arbitrary<Event> = fc.oneof(
      { weight: 12, arbitrary: line.map((text) => ({ kind: 'line' as const, line: text })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'too-long' as const }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'tls' as const }) },
      { weight: 3, arbitrary: fc.tuple(fc.boolean(), reasonText).map(([ok, reason]) => ({ kind: 'verdict' as const, ok, reason })) },
    );
    const options = fc.record({
      startTlsAvailable: fc.boolean(),
      secure: fc.boolean(),
      allowCleartextLogin: fc.boolean(),
      maxUnauthenticatedCommands: fc.integer({ min: 1, max: 30 }),
      maxLoginAttempts: fc.integer({ min: 1, max: 4 }),
    });

    /** Longest data any one action may carry: a 481 with the longest reason plus the 400 after it. */
    const MAX_ACTION_DATA = 2 * (MAX_REPLY_TEXT_LENGTH + 6) + OPTIONS.hostname.length;

    test('any sequence of client lines and adapter events: complete NNTP replies, no throw, limits and TLS rules kept', () => {
      fc.assert(
        fc.property(options, fc.array(event, { maxLength: 60 }), (chosen, events) => {
          const settings = { ...OPTIONS, ...chosen };
          const dialogue = createNntpClientDialogue(settings);
          let secure = settings.secure;
          let handshake = false;
          let pendingLogin = false;
          let finished = false;
          let counted = 0;
          let failures = 0;

          const check = (actions: ClientAction[]) => {
            for (const action of actions) {
              if (action.kind === 'login') {
                expect(secure || settings.allowCleartextLogin).toBe(true);
                for (const field of [action.credentials.username, action.credentials.password]) expect(field).toMatch(/^[^\0\r\n]+$/s);
                pendingLogin = true;
                continue;
              }
              expect(action.data.length).toBeLessThanOrEqual(MAX_ACTION_DATA);
              if (action.kind === 'close') finished = true;
              if (action.kind === 'starttls') {
                expect(settings.startTlsAvailable && !secure).toBe(true);
                expect(action.data).toBe('382 Continue with TLS negotiation\r\n');
                handshake = true;
                continue;
              }
              if (action.data === '') continue;
              const codes = responseCodes(action.data);
              if (codes[0] === 101) {
                expect(action.data.includes('\r\nSTARTTLS\r\n')).toBe(settings.startTlsAvailable && !secure);
                expect(action.data.includes('\r\nAUTHINFO USER\r\n')).toBe(secure || settings.allowCleartextLogin);
              }
            }
            expect(actions.filter((action) => action.kind !== 'send').length).toBeLessThanOrEqual(1);
            expect(dialogue.buffered).toBeLessThanOrEqual(settings.maxLineLength);
          };

          check(dialogue.start());
          for (const next of events) {
            if (finished) {
              // Closed or relaying: the dialogue says nothing more.
              if (next.kind === 'line') expect(dialogue.onLine(next.line)).toEqual([]);
              if (next.kind === 'too-long') expect(dialogue.onLineTooLong()).toEqual([]);
              continue;
            }
            if (pendingLogin) {
              // Contract: after `login`, the adapter's verdict comes before anything else.
              if (next.kind !== 'verdict') continue;
              pendingLogin = false;
              if (next.ok) {
                expect(dialogue.loginSucceeded()).toBe('281 Authentication accepted\r\n');
                finished = true;
              } else {
                failures += 1;
                const actions = dialogue.loginFailed(next.reason);
                check(actions);
                expect(actions).toEqual([
                  { kind: failures >= settings.maxLoginAttempts ? 'close' : 'send', data: expect.stringMatching(/^481 /) },
                ]);
              }
              continue;
            }
            if (next.kind === 'verdict') {
              expect(dialogue.loginFailed(next.reason)).toEqual([]);
            } else if (next.kind === 'tls') {
              dialogue.tlsStarted();
              if (handshake) secure = true;
              handshake = false;
            } else if (next.kind === 'too-long') {
              const actions = dialogue.onLineTooLong();
              check(actions);
              expect(actions).toEqual([{ kind: 'close', data: handshake ? '' : '500 Line too long\r\n' }]);
            } else if (handshake) {
              expect(dialogue.onLine(next.line)).toEqual([]);
            } else {
              counted += 1;
              const actions = dialogue.onLine(next.line);
              check(actions);
              expect(actions).toHaveLength(1);
              if (counted > settings.maxUnauthenticatedCommands)
                expect(actions).toEqual([{ kind: 'close', data: '400 Too many commands without logging in\r\n' }]);
            }
          }
        }),
        { numRuns: 1000 },
      );
    });

    test('a login is only ever asked for right after AUTHINFO USER (381) and AUTHINFO PASS', () => {
      fc.assert(
        fc.property(fc.array(line, { maxLength: 40 }), (lines) => {
          const dialogue = createNntpClientDialogue({ ...OPTIONS, maxUnauthenticatedCommands: 100 });
          let lastUserAccepted: string | null = null;
          for (const text of lines) {
            const [action] = dialogue.onLine(text);
            if (action === undefined) break; // login pending or closed
            if (action.kind === 'login') {
              expect(lastUserAccepted).not.toBeNull();
              expect(text).toMatch(/^[ \t]*authinfo[ \t]+pass[ \t]+/i);
              break;
            }
            // An accepted STARTTLS ends the run here (what follows it in cleartext is dropped); a
            // refused one (502) changes nothing, so the name given before it still waits for PASS.
            if (action.kind === 'close' || action.kind === 'starttls') break;
            if (action.data === '381 Password required\r\n') lastUserAccepted = text;
          }
        }),
        { numRuns: 500 },
      );
    });
  });
});
