import fc from 'fast-check';
import type { ServerAction, ServerDialogue, ServerDialogueOptions } from '../../protocols/dialogue';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { parsePop3Status } from '../../protocols/pop3/replies';
import { MAX_POP3_CAPABILITY_LINES, createPop3ServerDialogue } from '../../protocols/pop3/server-dialogue';
import { encodePlain } from '../../protocols/sasl';
import { anyText, wireLines } from './arbitraries';

const ALICE = { username: 'alice', password: 'secret' };
const PLAIN: ServerDialogueOptions = { credentials: ALICE, startTls: false };
const STLS: ServerDialogueOptions = { credentials: ALICE, startTls: true };

const send = (command: string): ServerAction => ({ kind: 'send', data: `${command}\r\n` });
const READY: ServerAction = { kind: 'ready' };
const STARTTLS: ServerAction = { kind: 'starttls' };
const failed = (authentication: boolean, reason: string): ServerAction => ({ kind: 'failed', authentication, reason });

/** `tlsStarted()` in a script; every other step is a line from the server. */
const TLS = Symbol('tlsStarted');
type Step = [input: string | typeof TLS, expected: ServerAction[]];

function play(options: ServerDialogueOptions, steps: Step[]): void {
  const dialogue = createPop3ServerDialogue(options);
  steps.forEach(([input, expected], index) => {
    const output = input === TLS ? dialogue.tlsStarted() : dialogue.onLine(input);
    expect({ step: index, input, output }).toEqual({ step: index, input, output: expected });
  });
}

const DOVECOT_GREETING = '+OK Dovecot (Debian) ready.';
/** dovecot's CAPA before the login, plaintext allowed, STLS offered. */
const DOVECOT_CAPA = ['+OK', 'CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'STLS', 'USER', 'SASL PLAIN LOGIN', '.'];
const lines = (replies: string[]): Step[] => replies.map((line) => [line, []]);
/** A CAPA reply whose last line `.` brings `then`. */
const capa = (capabilities: string[], then: ServerAction[]): Step[] => [
  ...lines(['+OK Capability list follows', ...capabilities]),
  ['.', then],
];

const USER_PASS: Step[] = [
  ['+OK', [send('PASS secret')]],
  ['+OK Logged in.', [READY]],
];

describe('createPop3ServerDialogue', () => {
  describe('USER/PASS without TLS (as nginx: no CAPA)', () => {
    test.each<[string, ServerDialogueOptions, Step[]]>([
      ['greeting, USER, PASS, ready', PLAIN, [[DOVECOT_GREETING, [send('USER alice')]], ...USER_PASS]],
      ['a bare +OK greeting', PLAIN, [['+OK', [send('USER alice')]], ...USER_PASS]],
      [
        'an APOP greeting is still answered with USER',
        PLAIN,
        [['+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>', [send('USER alice')]], ...USER_PASS],
      ],
      [
        'UTF-8 and spaces in credentials are sent as they are',
        { credentials: { username: 'jürgen', password: 'two words ' }, startTls: false },
        [
          ['+OK', [send('USER jürgen')]],
          ['+OK', [send('PASS two words ')]],
          ['+OK', [READY]],
        ],
      ],
      ['after ready, nothing more', PLAIN, [['+OK', [send('USER alice')]], ...USER_PASS, ['+OK', []], ['-ERR', []], [TLS, []]]],
    ])('%s', (_name, options, steps) => play(options, steps));
  });

  describe('refusals', () => {
    const afterUser = (reply: string, expected: ServerAction): Step[] => [
      ['+OK', [send('USER alice')]],
      ['+OK', [send('PASS secret')]],
      [reply, [expected]],
      ['+OK', []],
    ];
    test.each<[string, Step[]]>([
      [
        'dovecot refusing the password: authentication, its text and code kept',
        afterUser('-ERR [AUTH] Authentication failed.', failed(true, '[AUTH] Authentication failed.')),
      ],
      ['-ERR with no code is about the credentials', afterUser('-ERR invalid password', failed(true, 'invalid password'))],
      ['a bare -ERR', afterUser('-ERR', failed(true, 'Authentication failed'))],
      ['an unknown code is treated as no code (RFC 2449)', afterUser('-ERR [X-WHATEVER] no', failed(true, '[X-WHATEVER] no'))],
      [
        '[SYS/TEMP] is not about the credentials',
        afterUser('-ERR [SYS/TEMP] Try again later', failed(false, '[SYS/TEMP] Try again later')),
      ],
      ['[SYS/PERM] neither', afterUser('-ERR [SYS/PERM] Account disabled', failed(false, '[SYS/PERM] Account disabled'))],
      [
        '[IN-USE] neither',
        afterUser(
          '-ERR [IN-USE] Mailbox is locked by another POP3 session',
          failed(false, '[IN-USE] Mailbox is locked by another POP3 session'),
        ),
      ],
      ['[LOGIN-DELAY] neither', afterUser('-ERR [LOGIN-DELAY] Wait 5 minutes', failed(false, '[LOGIN-DELAY] Wait 5 minutes'))],
      ['a code in lower case', afterUser('-ERR [sys/temp] later', failed(false, '[sys/temp] later'))],
      ['a bare [SYS/TEMP]', afterUser('-ERR [SYS/TEMP]', failed(false, '[SYS/TEMP]'))],
      ['a server text cannot inject a line', afterUser('-ERR [AUTH] no\u0000+OK', failed(true, '[AUTH] no +OK'))],
      [
        'USER refused (dovecot: no plaintext auth)',
        [
          ['+OK', [send('USER alice')]],
          [
            '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
            [failed(true, '[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.')],
          ],
        ],
      ],
      [
        'USER refused with [SYS/TEMP]',
        [
          ['+OK', [send('USER alice')]],
          ['-ERR [SYS/TEMP] busy', [failed(false, '[SYS/TEMP] busy')]],
        ],
      ],
      [
        'a -ERR greeting',
        [
          ['-ERR [SYS/TEMP] Too many connections', [failed(false, '[SYS/TEMP] Too many connections')]],
          ['+OK', []],
        ],
      ],
      ['a bare -ERR greeting', [['-ERR', [failed(false, 'The POP3 server is not ready')]]]],
      ['not a POP3 greeting', [['220 mx.example ESMTP', [failed(false, 'The POP3 server sent no valid greeting')]]]],
      ['+OKAY is not +OK', [['+OKAY', [failed(false, 'The POP3 server sent no valid greeting')]]]],
      [
        'garbage after USER',
        [
          ['+OK', [send('USER alice')]],
          ['* OK IMAP4rev1', [failed(false, 'Unexpected reply from the POP3 server')]],
        ],
      ],
      [
        'garbage after PASS',
        [
          ['+OK', [send('USER alice')]],
          ['+OK', [send('PASS secret')]],
          ['', [failed(false, 'Unexpected reply from the POP3 server')]],
        ],
      ],
      [
        'tlsStarted out of turn is ignored',
        [
          [TLS, []],
          ['+OK', [send('USER alice')]],
          [TLS, []],
          ['+OK', [send('PASS secret')]],
        ],
      ],
    ])('%s', (_name, steps) => play(PLAIN, steps));

    test.each([
      ['CR LF in the password (command injection)', { username: 'alice', password: 'pw\r\nDELE 1' }],
      ['a NUL in the name', { username: 'al\u0000ice', password: 'pw' }],
      ['an empty name', { username: '', password: 'pw' }],
      ['an empty password', { username: 'alice', password: '' }],
    ])('credentials no POP3 line can carry (%s) are a broken configuration, refused before anything is sent', (_name, credentials) => {
      for (const startTls of [false, true])
        play({ credentials, startTls }, [
          ['+OK', [failed(false, 'The user name or password for the POP3 server cannot be sent in POP3')]],
          ['+OK', []],
        ]);
    });
  });

  describe('with STLS', () => {
    test.each<[string, Step[]]>([
      [
        'dovecot: CAPA, STLS, handshake, CAPA again, USER/PASS',
        [
          [DOVECOT_GREETING, [send('CAPA')]],
          ...lines(DOVECOT_CAPA.slice(0, -1)),
          ['.', [send('STLS')]],
          ['+OK Begin TLS negotiation now.', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ...capa(['USER', 'SASL PLAIN LOGIN'], [send('USER alice')]),
          ...USER_PASS,
        ],
      ],
      [
        'capabilities in any case, dot-stuffed lines skipped',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['..X-DOT', 'stls'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ...capa(['user'], [send('USER alice')]),
        ],
      ],
      [
        'no USER over TLS but SASL PLAIN: AUTH PLAIN with an initial response',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ...capa(['SASL LOGIN PLAIN'], [send(`AUTH PLAIN ${encodePlain('alice', 'secret')}`)]),
          ['+OK Logged in.', [READY]],
        ],
      ],
      [
        'AUTH PLAIN refused',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ...capa(['SASL PLAIN'], [send(`AUTH PLAIN ${encodePlain('alice', 'secret')}`)]),
          ['-ERR [AUTH] Authentication failed.', [failed(true, '[AUTH] Authentication failed.')]],
        ],
      ],
      [
        'neither USER nor SASL PLAIN listed: USER anyway',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ...capa(['SASL CRAM-MD5'], [send('USER alice')]),
        ],
      ],
      [
        'CAPA refused over TLS: USER anyway',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ['-ERR unknown command', [send('USER alice')]],
          ...USER_PASS,
        ],
      ],
      [
        'USER listed before TLS does not count after it',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS', 'USER'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          [TLS, [send('CAPA')]],
          ...capa(['SASL PLAIN'], [send(`AUTH PLAIN ${encodePlain('alice', 'secret')}`)]),
        ],
      ],
      [
        'no STLS in CAPA',
        [['+OK', [send('CAPA')]], ...capa(['USER', 'SASL PLAIN'], [failed(false, 'The POP3 server does not offer STLS')])],
      ],
      [
        'an empty capability list',
        [['+OK', [send('CAPA')]], ...lines(['+OK']), ['.', [failed(false, 'The POP3 server does not offer STLS')]]],
      ],
      [
        'CAPA refused',
        [
          ['+OK', [send('CAPA')]],
          ['-ERR unknown command', [failed(false, 'The POP3 server does not offer STLS')]],
        ],
      ],
      [
        'STLS refused',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS'], [send('STLS')]),
          ['-ERR [SYS/TEMP] TLS not ready', [failed(false, 'The POP3 server refused STLS: [SYS/TEMP] TLS not ready')]],
        ],
      ],
      [
        'STLS refused without a text',
        [['+OK', [send('CAPA')]], ...capa(['STLS'], [send('STLS')]), ['-ERR', [failed(false, 'The POP3 server refused STLS')]]],
      ],
      [
        'a line between +OK to STLS and the handshake (injection)',
        [
          ['+OK', [send('CAPA')]],
          ...capa(['STLS'], [send('STLS')]),
          ['+OK', [STARTTLS]],
          ['+OK Logged in.', [failed(false, 'The POP3 server sent data before the TLS handshake')]],
          [TLS, []],
        ],
      ],
      [
        'garbage instead of the CAPA status',
        [
          ['+OK', [send('CAPA')]],
          ['STLS', [failed(false, 'Unexpected reply from the POP3 server')]],
        ],
      ],
      [
        'garbage instead of the STLS status',
        [['+OK', [send('CAPA')]], ...capa(['STLS'], [send('STLS')]), ['+ go', [failed(false, 'Unexpected reply from the POP3 server')]]],
      ],
    ])('%s', (_name, steps) => play(STLS, steps));

    test('a long AUTH PLAIN goes without an initial response (RFC 5034: at most 255 octets)', () => {
      const credentials = { username: 'a'.repeat(100), password: 'p'.repeat(100) };
      const response = encodePlain(credentials.username, credentials.password);
      play({ credentials, startTls: true }, [
        ['+OK', [send('CAPA')]],
        ...capa(['STLS'], [send('STLS')]),
        ['+OK', [STARTTLS]],
        [TLS, [send('CAPA')]],
        ...capa(['SASL PLAIN'], [send('AUTH PLAIN')]),
        ['+ ', [send(response)]],
        ['+OK', [READY]],
      ]);
    });

    test.each<[string, string, ServerAction]>([
      ['a bare "+" continuation is accepted', '+', send(encodePlain('b'.repeat(100), 'q'.repeat(100)))],
      ['-ERR instead of the continuation', '-ERR [AUTH] no', failed(true, '[AUTH] no')],
      ['+OK instead of the continuation', '+OK', failed(false, 'Unexpected reply from the POP3 server')],
      ['garbage instead of the continuation', '+x', failed(false, 'Unexpected reply from the POP3 server')],
    ])('AUTH PLAIN without an initial response: %s', (_name, reply, expected) => {
      const credentials = { username: 'b'.repeat(100), password: 'q'.repeat(100) };
      play({ credentials, startTls: true }, [
        ['+OK', [send('CAPA')]],
        ...capa(['STLS'], [send('STLS')]),
        ['+OK', [STARTTLS]],
        [TLS, [send('CAPA')]],
        ...capa(['SASL PLAIN'], [send('AUTH PLAIN')]),
        [reply, [expected]],
      ]);
    });

    test('a second challenge after the PLAIN response is unexpected', () => {
      const credentials = { username: 'b'.repeat(100), password: 'q'.repeat(100) };
      play({ credentials, startTls: true }, [
        ['+OK', [send('CAPA')]],
        ...capa(['STLS'], [send('STLS')]),
        ['+OK', [STARTTLS]],
        [TLS, [send('CAPA')]],
        ...capa(['SASL PLAIN'], [send('AUTH PLAIN')]),
        ['+ ', [send(encodePlain(credentials.username, credentials.password))]],
        ['+ ', [failed(false, 'Unexpected reply from the POP3 server')]],
      ]);
    });

    test(`a capability list longer than ${MAX_POP3_CAPABILITY_LINES} lines is a broken server`, () => {
      const dialogue = createPop3ServerDialogue(STLS);
      expect(dialogue.onLine('+OK')).toEqual([send('CAPA')]);
      expect(dialogue.onLine('+OK')).toEqual([]);
      for (let i = 0; i < MAX_POP3_CAPABILITY_LINES; i++) expect(dialogue.onLine(i % 2 ? 'STLS' : `X-CAP-${i}`)).toEqual([]);
      expect(dialogue.onLine('X-ONE-TOO-MANY')).toEqual([failed(false, 'The POP3 server sent too many capabilities')]);
      expect(dialogue.onLine('.')).toEqual([]);
    });
  });

  describe('the status parser it uses', () => {
    test.each([
      ['+OK', { ok: true, text: '' }],
      ['+OK Logged in.', { ok: true, text: 'Logged in.' }],
      ['-ERR [AUTH] Authentication failed.', { ok: false, text: '[AUTH] Authentication failed.', responseCode: 'AUTH' }],
      ['-ERR [sys/temp] later', { ok: false, text: '[sys/temp] later', responseCode: 'SYS/TEMP' }],
      ['-ERR\t[IN-USE]', { ok: false, text: '[IN-USE]', responseCode: 'IN-USE' }],
      ['-ERR [not a code] x', { ok: false, text: '[not a code] x' }],
      ['-ERR [SYS//TEMP] x', { ok: false, text: '[SYS//TEMP] x' }],
      ['-ERR [SYS/TEMP]glued', { ok: false, text: '[SYS/TEMP]glued', responseCode: 'SYS/TEMP' }],
    ])('%j', (line, expected) => {
      expect(parsePop3Status(line)).toEqual(expected);
    });

    test.each(['+OKAY', '-ERROR', '+ ', '+', '', 'ok', '+ok', ' +OK'])('%j is not a status line', (line) => {
      expect(parsePop3Status(line)).toBeNull();
    });
  });
});

/** Server lines: real replies, codes, capability names, continuations, and junk. */
const serverLine: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '+OK',
      '+OK Dovecot ready.',
      '+OK Logged in.',
      '-ERR',
      '-ERR [AUTH] Authentication failed.',
      '-ERR [SYS/TEMP] later',
      '-ERR [IN-USE] locked',
      '-ERR [LOGIN-DELAY] wait',
      '-ERR no',
    ),
  },
  { weight: 3, arbitrary: fc.constantFrom('STLS', 'USER', 'SASL PLAIN', 'SASL LOGIN', 'TOP', '.', '..', '..STLS', '+ ', '+', '') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('+OK', '-ERR', '+'), anyText(40)).map(([status, text]) => `${status} ${text}`) },
  { weight: 1, arbitrary: anyText(60) },
);

type Input = { kind: 'line'; line: string } | { kind: 'tls' };
const serverInput: fc.Arbitrary<Input> = fc.oneof(
  { weight: 10, arbitrary: serverLine.map((line): Input => ({ kind: 'line', line })) },
  { weight: 1, arbitrary: fc.constant<Input>({ kind: 'tls' }) },
);

const credentials = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      username: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\r\n\0]/.test(s)),
      password: fc.string({ minLength: 1, maxLength: 150 }).filter((s) => !/[\r\n\0]/.test(s)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ username: anyText(20), password: anyText(20) }) },
);

/** The commands this dialogue may ever send. */
function expectCommand(data: string, options: ServerDialogueOptions): string {
  const [line, ...more] = wireLines(data);
  expect(more).toEqual([]);
  const { username, password } = options.credentials;
  expect([
    'CAPA',
    'STLS',
    `USER ${username}`,
    `PASS ${password}`,
    'AUTH PLAIN',
    `AUTH PLAIN ${encodePlain(username, password)}`,
    encodePlain(username, password),
  ]).toContain(line);
  return line;
}

describe('createPop3ServerDialogue properties', () => {
  test('for any server lines: one command per action, credentials never before TLS when asked for, one ending and nothing after it', () => {
    fc.assert(
      fc.property(credentials, fc.boolean(), fc.array(serverInput, { maxLength: 60 }), (login, startTls, inputs) => {
        const options = { credentials: login, startTls };
        const dialogue: ServerDialogue = createPop3ServerDialogue(options);
        let ended = false;
        let handshakeAsked = false;
        let tls = false;
        let sent: string | undefined;
        let lastLine: string | undefined;
        for (const input of inputs) {
          let actions: ServerAction[];
          if (input.kind === 'tls') {
            actions = dialogue.tlsStarted();
            if (handshakeAsked && !tls && !ended) tls = true;
            else expect(actions).toEqual([]);
          } else {
            actions = dialogue.onLine(input.line);
            lastLine = input.line;
          }
          if (ended) expect(actions).toEqual([]);
          expect(actions.length).toBeLessThanOrEqual(1);
          for (const action of actions) {
            switch (action.kind) {
              case 'send':
                sent = expectCommand(action.data, options);
                if (startTls && !tls) expect(['CAPA', 'STLS']).toContain(sent);
                break;
              case 'starttls':
                expect(startTls && !handshakeAsked && sent === 'STLS').toBe(true);
                handshakeAsked = true;
                break;
              case 'ready':
                expect(startTls ? tls : true).toBe(true);
                expect(lastLine).toMatch(/^\+OK(\s|$)/);
                expect(
                  sent === `PASS ${login.password}` ||
                    sent?.startsWith('AUTH PLAIN') ||
                    sent === encodePlain(login.username, login.password),
                ).toBe(true);
                ended = true;
                break;
              case 'failed':
                expect(action.reason).not.toMatch(/[\x00-\x1f\x7f]/);
                expect(action.reason.length).toBeGreaterThan(0);
                expect(action.reason.length).toBeLessThanOrEqual(MAX_REPLY_TEXT_LENGTH);
                // A refusal of the credentials never carries a code that says the system refused.
                if (action.authentication)
                  expect(['SYS', 'IN-USE', 'LOGIN-DELAY']).not.toContain(
                    parsePop3Status(`-ERR ${action.reason}`)?.responseCode?.split('/')[0],
                  );
                ended = true;
                break;
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  test('a well-behaved server with any +OK texts always ends ready, with or without STLS', () => {
    const text = anyText(30).map((t) => t.replace(/[\r\n]/g, ''));
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), text, text, text, (startTls, listUser, greeting, userOk, passOk) => {
        const dialogue = createPop3ServerDialogue({ credentials: ALICE, startTls });
        const replies: Record<string, string[]> = {
          CAPA: ['+OK', 'STLS', ...(listUser ? ['USER'] : []), 'SASL PLAIN', '.'],
          STLS: ['+OK'],
          'USER alice': [`+OK ${userOk}`],
          'PASS secret': [`+OK ${passOk}`],
          [`AUTH PLAIN ${encodePlain('alice', 'secret')}`]: [`+OK ${passOk}`],
        };
        let pending = dialogue.onLine(`+OK ${greeting}`);
        for (let turn = 0; turn < 10; turn++) {
          const [action] = pending;
          if (action.kind === 'ready') return;
          if (action.kind === 'starttls') {
            pending = dialogue.tlsStarted();
            continue;
          }
          expect(action.kind).toBe('send');
          if (action.kind !== 'send') return;
          const reply = replies[action.data.slice(0, -2)];
          pending = reply.flatMap((line) => dialogue.onLine(line));
        }
        throw new Error('no ready after 10 turns');
      }),
      { numRuns: 200 },
    );
  });
});
