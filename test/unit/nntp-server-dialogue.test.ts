import fc from 'fast-check';
import type { ServerAction, ServerDialogue } from '../../protocols/dialogue';
import { parseNntpReply } from '../../protocols/nntp/replies';
import { createNntpServerDialogue, type NntpServerDialogueOptions } from '../../protocols/nntp/server-dialogue';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { anyText, wireLines } from './arbitraries';

const OPTIONS: NntpServerDialogueOptions = {
  credentials: { username: 'alice', password: 'pw with spaces' },
  startTls: false,
  modeReader: false,
};

/** What INN 2.7.1's nnrpd says (recorded from a real one, readers.conf with ckpasswd). */
const INN = {
  greeting: '200 news.example.test InterNetNews NNRP server INN 2.7.1 ready (posting ok)',
  greetingNoPosting: '200 news.example.test InterNetNews NNRP server INN 2.7.1 ready (no posting)',
  unavailable: '400 NNTP server unavailable.  Try later!',
  modeReader: '200 news.example.test InterNetNews NNRP server INN 2.7.1 ready (no posting)',
  startTls: '382 Begin TLS negotiation now',
  password: '381 Enter password',
  accepted: '281 Authentication succeeded',
  refused: '481 Authentication failed',
  outOfSequence: '482 Authentication commands issued out of sequence',
  alreadyAuthenticated: '502 Already authenticated without the use of a security layer',
};

const send = (command: string): ServerAction => ({ kind: 'send', data: `${command}\r\n` });
const READY: ServerAction = { kind: 'ready' };
const STARTTLS: ServerAction = { kind: 'starttls' };
const failed = (authentication: boolean, reason: string): ServerAction => ({ kind: 'failed', authentication, reason });

type Step = [from: string | 'tls-started', expected: ServerAction[]];
const TLS: Step[0] = 'tls-started';

function play(options: Partial<NntpServerDialogueOptions>, steps: Step[]): ServerDialogue {
  const dialogue = createNntpServerDialogue({ ...OPTIONS, ...options });
  for (const [from, expected] of steps) {
    const actions = from === TLS ? dialogue.tlsStarted() : dialogue.onLine(from);
    expect([from, actions]).toEqual([from, expected]);
  }
  return dialogue;
}

describe('parseNntpReply', () => {
  test.each<[string, ReturnType<typeof parseNntpReply>]>([
    ['281 Authentication accepted', { code: 281, text: 'Authentication accepted' }],
    ['205', { code: 205, text: '' }],
    ['200\tready', { code: 200, text: 'ready' }],
    ['381  two spaces', { code: 381, text: 'two spaces' }],
    ['200ready', null],
    ['20 short', null],
    ['2000 long', null],
    ['600 no such class', null],
    ['099 no such class', null],
    ['', null],
    ['+OK pop3', null],
    [' 200 leading space', null],
  ])('%j', (line, expected) => {
    expect(parseNntpReply(line)).toEqual(expected);
  });
});

describe('createNntpServerDialogue', () => {
  describe('against INN nnrpd', () => {
    test.each<[string, Partial<NntpServerDialogueOptions>, Step[]]>([
      [
        'log in',
        {},
        [
          [INN.greeting, [send('AUTHINFO USER alice')]],
          [INN.password, [send('AUTHINFO PASS pw with spaces')]],
          [INN.accepted, [READY]],
        ],
      ],
      [
        'MODE READER first when the client sent it',
        { modeReader: true },
        [
          [INN.greeting, [send('MODE READER')]],
          [INN.modeReader, [send('AUTHINFO USER alice')]],
          [INN.password, [send('AUTHINFO PASS pw with spaces')]],
          [INN.accepted, [READY]],
        ],
      ],
      [
        'STARTTLS, then MODE READER and the login inside TLS',
        { startTls: true, modeReader: true },
        [
          [INN.greeting, [send('STARTTLS')]],
          [INN.startTls, [STARTTLS]],
          [TLS, [send('MODE READER')]],
          [INN.modeReader, [send('AUTHINFO USER alice')]],
          [INN.password, [send('AUTHINFO PASS pw with spaces')]],
          [INN.accepted, [READY]],
        ],
      ],
      [
        "a wrong password is an authentication failure, in the server's words",
        {},
        [
          [INN.greeting, [send('AUTHINFO USER alice')]],
          [INN.password, [send('AUTHINFO PASS pw with spaces')]],
          [INN.refused, [failed(true, 'Authentication failed')]],
        ],
      ],
      ['a server that is not taking readers', {}, [[INN.unavailable, [failed(false, 'NNTP server unavailable.  Try later!')]]]],
      [
        'a server that allows no posting is still ready (the client finds out when it posts)',
        { modeReader: true },
        [
          [INN.greetingNoPosting, [send('MODE READER')]],
          [INN.modeReader, [send('AUTHINFO USER alice')]],
          ['381 x', [send('AUTHINFO PASS pw with spaces')]],
          ['281 y', [READY]],
        ],
      ],
      ['no login configured: ready after the greeting', { credentials: { username: '', password: '' } }, [[INN.greeting, [READY]]]],
      [
        'no login configured: ready after MODE READER',
        { credentials: { username: '', password: '' }, modeReader: true },
        [
          [INN.greeting, [send('MODE READER')]],
          [INN.modeReader, [READY]],
        ],
      ],
      [
        'no login configured: ready after STARTTLS',
        { credentials: { username: '', password: '' }, startTls: true },
        [
          [INN.greeting, [send('STARTTLS')]],
          [INN.startTls, [STARTTLS]],
          [TLS, [READY]],
        ],
      ],
      [
        '482 to PASS',
        {},
        [
          [INN.greeting, [send('AUTHINFO USER alice')]],
          [INN.password, [send('AUTHINFO PASS pw with spaces')]],
          [INN.outOfSequence, [failed(false, 'Authentication commands issued out of sequence')]],
        ],
      ],
      [
        '502 to USER',
        {},
        [
          [INN.greeting, [send('AUTHINFO USER alice')]],
          [INN.alreadyAuthenticated, [failed(false, 'Already authenticated without the use of a security layer')]],
        ],
      ],
    ])('%s', (_name, options, steps) => {
      play(options, steps);
    });
  });

  describe('other servers and answers', () => {
    test.each<[string, Partial<NntpServerDialogueOptions>, Step[]]>([
      ['201 greeting (no posting) is fine', {}, [['201 news ready, no posting', [send('AUTHINFO USER alice')]]]],
      ['bare 200 greeting', {}, [['200', [send('AUTHINFO USER alice')]]]],
      [
        '502 greeting',
        {},
        [['502 You have no permission to talk.  Goodbye.', [failed(false, 'You have no permission to talk.  Goodbye.')]]],
      ],
      ['400 greeting without text', {}, [['400', [failed(false, 'the news server refused the connection (400)')]]]],
      [
        '281 straight after USER: no password needed',
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['281 ok', [READY]],
        ],
      ],
      [
        '481 to USER',
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['481 no such user', [failed(true, 'no such user')]],
        ],
      ],
      [
        '481 without text',
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['381 pw', [send('AUTHINFO PASS pw with spaces')]],
          ['481', [failed(true, 'Authentication failed')]],
        ],
      ],
      [
        '483: the server wants TLS first',
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['483 Encryption required', [failed(false, 'Encryption required')]],
        ],
      ],
      [
        '400 while logging in',
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['381 pw', [send('AUTHINFO PASS pw with spaces')]],
          ['400 shutting down', [failed(false, 'shutting down')]],
        ],
      ],
      [
        'MODE READER refused with 480: log in first, then MODE READER again (as nntplib does)',
        { modeReader: true },
        [
          ['200 ok', [send('MODE READER')]],
          ['480 Authentication required', [send('AUTHINFO USER alice')]],
          ['381 pw', [send('AUTHINFO PASS pw with spaces')]],
          ['281 ok', [send('MODE READER')]],
          ['200 reader', [READY]],
        ],
      ],
      [
        'MODE READER after login answered 502',
        { modeReader: true },
        [
          ['200 ok', [send('MODE READER')]],
          ['480 auth', [send('AUTHINFO USER alice')]],
          ['281 ok', [send('MODE READER')]],
          ['502 no reading for you', [failed(false, 'no reading for you')]],
        ],
      ],
      [
        'MODE READER after login answered 501',
        { modeReader: true },
        [
          ['200 ok', [send('MODE READER')]],
          ['480 auth', [send('AUTHINFO USER alice')]],
          ['281 ok', [send('MODE READER')]],
          ['501 unknown', [READY]],
        ],
      ],
      [
        'MODE READER unknown to the server (500): go on',
        { modeReader: true },
        [
          ['200 ok', [send('MODE READER')]],
          ['500 What?', [send('AUTHINFO USER alice')]],
        ],
      ],
      [
        'MODE READER refused with 502',
        { modeReader: true },
        [
          ['200 ok', [send('MODE READER')]],
          ['502 Permission denied', [failed(false, 'Permission denied')]],
        ],
      ],
      [
        'MODE READER 480 with no login configured',
        { modeReader: true, credentials: { username: '', password: '' } },
        [
          ['200 ok', [send('MODE READER')]],
          ['480 Authentication required', [failed(false, 'the news server wants a login before MODE READER, and none is configured')]],
        ],
      ],
      [
        'STARTTLS refused with 580',
        { startTls: true },
        [
          ['200 ok', [send('STARTTLS')]],
          ['580 Can not initiate TLS negotiation', [failed(false, 'the news server refused STARTTLS: Can not initiate TLS negotiation')]],
        ],
      ],
      [
        'STARTTLS unknown (500), no text',
        { startTls: true },
        [
          ['200 ok', [send('STARTTLS')]],
          ['500', [failed(false, 'the news server refused STARTTLS: 500')]],
        ],
      ],
      [
        'lines after 382 and before the handshake are dropped',
        { startTls: true },
        [
          ['200 ok', [send('STARTTLS')]],
          [INN.startTls, [STARTTLS]],
          ['281 injected', []],
          ['garbage', []],
          [TLS, [send('AUTHINFO USER alice')]],
          ['381 pw', [send('AUTHINFO PASS pw with spaces')]],
        ],
      ],
      [
        'tlsStarted() out of turn does nothing',
        { startTls: true },
        [
          [TLS, []],
          ['200 ok', [send('STARTTLS')]],
          [TLS, []],
          [INN.startTls, [STARTTLS]],
          [TLS, [send('AUTHINFO USER alice')]],
          [TLS, []],
        ],
      ],
      [
        'a password is needed but none is configured',
        { credentials: { username: 'alice', password: '' } },
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['381 pw', [failed(true, 'the news server wants a password')]],
        ],
      ],
      [
        'credentials that would break the line are never sent',
        { credentials: { username: 'alice', password: 'pw\r\nQUIT' } },
        [['200 ok', [failed(true, 'the username or password contains characters NNTP cannot carry')]]],
      ],
      [
        "UTF-8 in the server's text is decoded",
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['481 Mot de passe refus\u00c3\u00a9', [failed(true, 'Mot de passe refus\u00e9')]],
        ],
      ],
      [
        "control characters in the server's text are cleaned",
        {},
        [
          ['200 ok', [send('AUTHINFO USER alice')]],
          ['481 bad\u0000\u001b[31m', [failed(true, 'bad [31m')]],
        ],
      ],
    ])('%s', (_name, options, steps) => {
      play(options, steps);
    });

    test.each<[string, string, string]>([
      ['not a reply', '+OK POP3 ready', 'unexpected answer from the news server to the connection: +OK POP3 ready'],
      ['an empty line', '', 'unexpected answer from the news server to the connection: (empty line)'],
      ['another 2xx', '281 hello', 'unexpected answer from the news server to the connection: 281 hello'],
      ['a 1xx', '100 help', 'unexpected answer from the news server to the connection: 100 help'],
    ])('a greeting that is %s fails', (_name, line, reason) => {
      play({}, [[line, [failed(false, reason)]]]);
    });

    test('an unexpected answer is quoted, cut short', () => {
      const long = `250 ${'x'.repeat(500)}`;
      play({}, [
        ['200 ok', [send('AUTHINFO USER alice')]],
        [long, [failed(false, `unexpected answer from the news server to AUTHINFO USER: ${long.slice(0, 80)}`)]],
      ]);
    });

    test('says nothing once ready or failed', () => {
      play({}, [
        ['200 ok', [send('AUTHINFO USER alice')]],
        ['281 ok', [READY]],
        ['200 more', []],
        [TLS, []],
      ]);
      play({}, [
        ['400 bye', [failed(false, 'bye')]],
        ['200 ok', []],
        [TLS, []],
      ]);
    });
  });

  describe('properties', () => {
    const ALLOWED_COMMANDS = new Set(['STARTTLS', 'MODE READER', 'AUTHINFO USER', 'AUTHINFO PASS']);
    const codes = [100, 101, 200, 201, 205, 281, 381, 382, 400, 480, 481, 482, 483, 500, 501, 502, 503, 580];
    const serverLine = fc.oneof(
      fc
        .tuple(fc.constantFrom(...codes), fc.constantFrom('', ' ', '\t'), anyText(30))
        .map(([code, separator, text]) => `${code}${separator}${text}`),
      fc.constantFrom(...Object.values(INN)),
      anyText(40),
    );
    const events = fc.array(
      fc.oneof(
        { weight: 6, arbitrary: serverLine.map((line) => ({ kind: 'line' as const, line })) },
        { weight: 1, arbitrary: fc.constant({ kind: 'tls' as const }) },
      ),
      { maxLength: 30 },
    );
    const credential = fc.oneof(fc.constantFrom('', 'alice', 'pw with spaces'), anyText(20));
    const options = fc.record({
      credentials: fc.record({ username: credential, password: credential }),
      startTls: fc.boolean(),
      modeReader: fc.boolean(),
    });

    test('any server lines: no throw, one line per command, credentials only after TLS and in order, one ending', () => {
      fc.assert(
        fc.property(options, events, (chosen, script) => {
          const dialogue = createNntpServerDialogue(chosen);
          const sent: string[] = [];
          let ended: ServerAction | null = null;
          let handshakeAsked = false;
          let tlsUp = false;
          let lastLine: string | null = null;

          for (const next of script) {
            if (next.kind === 'line') lastLine = next.line;
            else if (handshakeAsked) tlsUp = true;
            const actions = next.kind === 'tls' ? dialogue.tlsStarted() : dialogue.onLine(next.line);
            if (ended) expect(actions).toEqual([]);
            expect(actions.length).toBeLessThanOrEqual(1);
            for (const action of actions) {
              if (action.kind === 'send') {
                const [line, ...more] = wireLines(action.data);
                expect(more).toEqual([]);
                const command = /^(STARTTLS|MODE READER|AUTHINFO USER|AUTHINFO PASS)(?: (.+))?$/s.exec(line);
                expect(command && ALLOWED_COMMANDS.has(command[1])).toBeTruthy();
                if (command![1] === 'AUTHINFO USER') expect(command![2]).toBe(chosen.credentials.username);
                if (command![1] === 'AUTHINFO PASS') {
                  expect(command![2]).toBe(chosen.credentials.password);
                  expect(sent[sent.length - 1]).toMatch(/^AUTHINFO USER /);
                  expect(parseNntpReply(lastLine!)?.code).toBe(381);
                }
                if (command![1].startsWith('AUTHINFO') && chosen.startTls) expect(tlsUp).toBe(true);
                if (command![1] === 'STARTTLS') expect(chosen.startTls && sent.length === 0).toBe(true);
                sent.push(line);
              } else if (action.kind === 'starttls') {
                expect(chosen.startTls).toBe(true);
                expect(parseNntpReply(lastLine!)?.code).toBe(382);
                handshakeAsked = true;
              } else {
                ended = action;
                if (action.kind === 'ready') {
                  if (chosen.startTls) expect(tlsUp).toBe(true);
                  if (chosen.credentials.username !== '') expect(sent.some((line) => line.startsWith('AUTHINFO USER'))).toBe(true);
                } else {
                  expect(action.reason.length).toBeGreaterThan(0);
                  expect(action.reason.length).toBeLessThanOrEqual(MAX_REPLY_TEXT_LENGTH + 80);
                  expect(action.reason).not.toMatch(/[\x00-\x1f\x7f]/);
                }
              }
            }
          }
          expect(sent.length).toBeLessThanOrEqual(5);
        }),
        { numRuns: 1000 },
      );
    });

    test('ready only after the server accepted the login (281)', () => {
      fc.assert(
        fc.property(
          fc.record({ startTls: fc.constant(false), modeReader: fc.boolean(), credentials: fc.constant(OPTIONS.credentials) }),
          fc.array(serverLine, { maxLength: 10 }),
          (chosen, lines) => {
            const dialogue = createNntpServerDialogue(chosen);
            let lastSent = '';
            let accepted = false;
            for (const line of lines) {
              if (parseNntpReply(line)?.code === 281 && lastSent.startsWith('AUTHINFO')) accepted = true;
              const [action] = dialogue.onLine(line);
              if (action?.kind === 'ready') expect(accepted).toBe(true);
              if (action?.kind === 'ready' || action?.kind === 'failed') break;
              if (action?.kind === 'send') lastSent = action.data;
            }
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});
