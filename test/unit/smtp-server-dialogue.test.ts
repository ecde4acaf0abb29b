import fc from 'fast-check';
import type { ServerAction, ServerDialogueOptions } from '../../protocols/dialogue';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import {
  createSmtpServerDialogue,
  DEFAULT_EHLO_NAME,
  MAX_SERVER_REPLY_LINES,
  type SmtpServerDialogue,
} from '../../protocols/smtp/server-dialogue';
import { anyText } from './arbitraries';

const ANN = { username: 'ann', password: 'secret' };
const OPTIONS: ServerDialogueOptions = { credentials: ANN, startTls: false, clientName: 'pc.example' };

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const PLAIN_ANN = `AUTH PLAIN ${b64('\u0000ann\u0000secret')}\r\n`;

/** One step: a line the server sends, or `@tls` (the adapter finished the TLS upgrade). */
type Step = [input: string, expected: string[]];

/** Actions as short strings: a `send` is its data, `failed` is `failed auth|other: reason`. */
function render(actions: ServerAction[]): string[] {
  return actions.map((action) => {
    switch (action.kind) {
      case 'send':
        return action.data;
      case 'failed':
        return `failed ${action.authentication ? 'auth' : 'other'}: ${action.reason}`;
      default:
        return action.kind;
    }
  });
}

const feed = (dialogue: SmtpServerDialogue, input: string) => render(input === '@tls' ? dialogue.tlsStarted() : dialogue.onLine(input));

function run(options: Partial<ServerDialogueOptions>, steps: Step[]): SmtpServerDialogue {
  const dialogue = createSmtpServerDialogue({ ...OPTIONS, ...options });
  const got = steps.map(([input]): Step => [input, feed(dialogue, input)]);
  expect(got).toEqual(steps);
  return dialogue;
}

const GREETING: Step = ['220 mx.example.org ESMTP', ['EHLO pc.example\r\n']];
/** The lines of an EHLO reply with these extensions, each but the last expecting nothing back. */
const ehlo = (extensions: string[], expected: string[]): Step[] => {
  const lines = ['mx.example.org hello', ...extensions];
  return lines.map((line, i): Step => (i < lines.length - 1 ? [`250-${line}`, []] : [`250 ${line}`, expected]));
};

describe('createSmtpServerDialogue', () => {
  describe('greeting and EHLO', () => {
    test.each<[string, Partial<ServerDialogueOptions>, Step[]]>([
      [
        'PLAIN login',
        {},
        [GREETING, ...ehlo(['PIPELINING', 'AUTH PLAIN LOGIN'], [PLAIN_ANN]), ['235 2.7.0 Authentication successful', ['ready']]],
      ],
      [
        'a multi-line greeting',
        {},
        [
          ['220-mx.example.org ESMTP', []],
          ['220-no UCE', []],
          ['220 ready', ['EHLO pc.example\r\n']],
        ],
      ],
      ['a bare 220 greeting', {}, [['220', ['EHLO pc.example\r\n']]]],
      ['no client name: the default', { clientName: undefined }, [['220 mx', [`EHLO ${DEFAULT_EHLO_NAME}\r\n`]]]],
      [
        'a client name that is not a valid EHLO argument: the default',
        { clientName: 'pc\r\nRCPT TO:<x@y>' },
        [['220 mx', [`EHLO ${DEFAULT_EHLO_NAME}\r\n`]]],
      ],
      [
        'a 554 greeting',
        {},
        [['554 5.3.2 no service for you', ['failed other: server refused the session: 554 5.3.2 no service for you']]],
      ],
      ['a 421 greeting', {}, [['421 4.3.2 try later', ['failed other: server refused the session: 421 4.3.2 try later']]]],
      [
        'a multi-line 554 greeting',
        {},
        [
          ['554-go', []],
          ['554 away', ['failed other: server refused the session: 554 go away']],
        ],
      ],
      ['a greeting that is not SMTP', {}, [['+OK POP3 ready', ['failed other: server sent a malformed reply line: +OK POP3 ready']]]],
      ['a code out of range', {}, [['620 hello', ['failed other: server sent a malformed reply line: 620 hello']]]],
      ['a four-digit code', {}, [['2200 hello', ['failed other: server sent a malformed reply line: 2200 hello']]]],
      [
        'a code changing inside a multi-line reply',
        {},
        [
          ['220-mx', []],
          ['250 ok', ['failed other: server changed the code inside a multi-line reply: 220 then 250']],
        ],
      ],
      [
        'EHLO refused',
        {},
        [GREETING, ['502 5.5.1 command not implemented', ['failed other: server refused EHLO: 502 5.5.1 command not implemented']]],
      ],
      [
        'an EHLO reply changing its code',
        {},
        [GREETING, ['250-mx', []], ['251 PIPELINING', ['failed other: server changed the code inside a multi-line reply: 250 then 251']]],
      ],
      ['a bare 250 and empty continuation lines', {}, [GREETING, ['250-', []], ['250-AUTH PLAIN', []], ['250', [PLAIN_ANN]]]],
      [
        'nothing more after failing',
        {},
        [
          ['554 no', ['failed other: server refused the session: 554 no']],
          ['220 hi', []],
          ['@tls', []],
        ],
      ],
      ['nothing more after ready', {}, [GREETING, ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]), ['235 ok', ['ready']], ['250 more', []]]],
      ['a stray tlsStarted() changes nothing', {}, [['@tls', []], GREETING]],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });

    test(`a reply of more than MAX_SERVER_REPLY_LINES (${MAX_SERVER_REPLY_LINES}) lines fails`, () => {
      const dialogue = createSmtpServerDialogue(OPTIONS);
      dialogue.onLine('220 mx');
      for (let i = 1; i < MAX_SERVER_REPLY_LINES; i++) expect(dialogue.onLine(`250-X-EXTENSION-${i}`)).toEqual([]);
      expect(render(dialogue.onLine('250-ONE-TOO-MANY'))).toEqual([
        `failed other: server reply has more than ${MAX_SERVER_REPLY_LINES} lines`,
      ]);
    });

    test(`a reply of exactly MAX_SERVER_REPLY_LINES lines is read`, () => {
      const dialogue = createSmtpServerDialogue(OPTIONS);
      dialogue.onLine('220 mx');
      for (let i = 1; i < MAX_SERVER_REPLY_LINES; i++) dialogue.onLine(`250-X-EXTENSION-${i}`);
      expect(render(dialogue.onLine('250 AUTH PLAIN'))).toEqual([PLAIN_ANN]);
      expect(dialogue.capabilities).toHaveLength(MAX_SERVER_REPLY_LINES - 1);
    });

    test('capabilities holds the extensions of the last EHLO reply', () => {
      const dialogue = run({ startTls: true }, [GREETING, ...ehlo(['SIZE 1000', 'STARTTLS'], ['STARTTLS\r\n']), ['220 go', ['starttls']]]);
      expect(dialogue.capabilities).toEqual(['SIZE 1000', 'STARTTLS']);
      dialogue.tlsStarted();
      dialogue.onLine('250-mx');
      dialogue.onLine('250 AUTH PLAIN');
      expect(dialogue.capabilities).toEqual(['AUTH PLAIN']);
    });
  });

  describe('STARTTLS', () => {
    test.each<[string, Partial<ServerDialogueOptions>, Step[]]>([
      [
        'upgrades, EHLOs again, then logs in',
        { startTls: true },
        [
          GREETING,
          ...ehlo(['AUTH PLAIN', 'STARTTLS'], ['STARTTLS\r\n']),
          ['220 2.0.0 Ready to start TLS', ['starttls']],
          ['@tls', ['EHLO pc.example\r\n']],
          ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]),
          ['235 ok', ['ready']],
        ],
      ],
      [
        'lines the server sends in cleartext after agreeing are dropped (response injection)',
        { startTls: true },
        [
          GREETING,
          ...ehlo(['STARTTLS'], ['STARTTLS\r\n']),
          ['220 go ahead', ['starttls']],
          ['250-mx', []],
          ['250 AUTH PLAIN', []],
          ['235 ok', []],
          ['@tls', ['EHLO pc.example\r\n']],
          ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]),
        ],
      ],
      [
        'STARTTLS not offered: no login in cleartext',
        { startTls: true },
        [GREETING, ...ehlo(['AUTH PLAIN LOGIN'], ['failed other: server does not offer STARTTLS'])],
      ],
      ['STARTTLS offered in lower case', { startTls: true }, [GREETING, ...ehlo(['starttls'], ['STARTTLS\r\n'])]],
      [
        'STARTTLS refused',
        { startTls: true },
        [
          GREETING,
          ...ehlo(['STARTTLS'], ['STARTTLS\r\n']),
          ['454 4.7.0 TLS not available', ['failed other: server refused STARTTLS: 454 4.7.0 TLS not available']],
        ],
      ],
      [
        'EHLO refused after TLS',
        { startTls: true },
        [
          GREETING,
          ...ehlo(['STARTTLS'], ['STARTTLS\r\n']),
          ['220 go', ['starttls']],
          ['@tls', ['EHLO pc.example\r\n']],
          ['554 no', ['failed other: server refused EHLO: 554 no']],
        ],
      ],
      [
        'STARTTLS still offered after TLS is not asked again',
        { startTls: true },
        [
          GREETING,
          ...ehlo(['STARTTLS'], ['STARTTLS\r\n']),
          ['220 go', ['starttls']],
          ['@tls', ['EHLO pc.example\r\n']],
          ...ehlo(['STARTTLS', 'AUTH PLAIN'], [PLAIN_ANN]),
        ],
      ],
      ['not asked for when startTls is off', {}, [GREETING, ...ehlo(['STARTTLS', 'AUTH PLAIN'], [PLAIN_ANN])]],
      [
        'no credentials: ready after TLS',
        { startTls: true, credentials: { username: '', password: '' } },
        [
          GREETING,
          ...ehlo(['STARTTLS'], ['STARTTLS\r\n']),
          ['220 go', ['starttls']],
          ['@tls', ['EHLO pc.example\r\n']],
          ...ehlo([], ['ready']),
        ],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });
  });

  describe('AUTH', () => {
    const LOGIN: Step[] = [
      ['334 VXNlcm5hbWU6', [`${b64('ann')}\r\n`]],
      ['334 UGFzc3dvcmQ6', [`${b64('secret')}\r\n`]],
    ];
    test.each<[string, Partial<ServerDialogueOptions>, Step[]]>([
      ['PLAIN preferred whatever the order', {}, [GREETING, ...ehlo(['AUTH LOGIN PLAIN'], [PLAIN_ANN])]],
      ['the AUTH= form', {}, [GREETING, ...ehlo(['AUTH=PLAIN'], [PLAIN_ANN])]],
      ['mechanisms in lower case', {}, [GREETING, ...ehlo(['auth login plain'], [PLAIN_ANN])]],
      ['mechanisms spread over AUTH and AUTH= lines', {}, [GREETING, ...ehlo(['AUTH LOGIN', 'AUTH=PLAIN'], [PLAIN_ANN])]],
      [
        'LOGIN when only LOGIN is offered',
        {},
        [GREETING, ...ehlo(['AUTH LOGIN CRAM-MD5'], ['AUTH LOGIN\r\n']), ...LOGIN, ['235 2.7.0 ok', ['ready']]],
      ],
      [
        'LOGIN with UTF-8 credentials',
        { credentials: { username: 'j\u00f6rg', password: 'p\u00e4ss' } },
        [
          GREETING,
          ...ehlo(['AUTH=LOGIN'], ['AUTH LOGIN\r\n']),
          ['334 VXNlcm5hbWU6', [`${b64('j\u00f6rg')}\r\n`]],
          ['334 UGFzc3dvcmQ6', [`${b64('p\u00e4ss')}\r\n`]],
        ],
      ],
      ['LOGIN refused at the username', {}, [GREETING, ...ehlo(['AUTH LOGIN'], ['AUTH LOGIN\r\n']), ['535 5.7.8 no', ['failed auth: no']]]],
      [
        'LOGIN refused at the password',
        {},
        [GREETING, ...ehlo(['AUTH LOGIN'], ['AUTH LOGIN\r\n']), LOGIN[0], ['504 5.5.4 nope', ['failed auth: nope']]],
      ],
      [
        'LOGIN refused after the password',
        {},
        [
          GREETING,
          ...ehlo(['AUTH LOGIN'], ['AUTH LOGIN\r\n']),
          ...LOGIN,
          ['535 5.7.8 Authentication credentials invalid', ['failed auth: Authentication credentials invalid']],
        ],
      ],
      [
        'refused credentials: the server text without its codes',
        {},
        [
          GREETING,
          ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]),
          ['535 5.7.8 Authentication credentials invalid', ['failed auth: Authentication credentials invalid']],
        ],
      ],
      [
        'a multi-line refusal',
        {},
        [
          GREETING,
          ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]),
          ['535-5.7.8 bad', []],
          ['535 5.7.8 credentials', ['failed auth: bad credentials']],
        ],
      ],
      ['a refusal without text', {}, [GREETING, ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]), ['535', ['failed auth: authentication failed']]]],
      [
        'a temporary failure',
        {},
        [
          GREETING,
          ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]),
          [
            '454 4.7.0 Temporary authentication failure',
            ['failed other: server could not check the login: 454 4.7.0 Temporary authentication failure'],
          ],
        ],
      ],
      [
        'a 334 challenge to PLAIN with an initial response',
        {},
        [GREETING, ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]), ['334 ', ['failed other: server sent an unexpected reply to AUTH: 334']]],
      ],
      [
        'a 250 to AUTH',
        {},
        [GREETING, ...ehlo(['AUTH PLAIN'], [PLAIN_ANN]), ['250 ok', ['failed other: server sent an unexpected reply to AUTH: 250 ok']]],
      ],
      [
        'a 235 to AUTH LOGIN before the password',
        {},
        [
          GREETING,
          ...ehlo(['AUTH LOGIN'], ['AUTH LOGIN\r\n']),
          ['235 ok', ['failed other: server sent an unexpected reply to AUTH: 235 ok']],
        ],
      ],
      ['no AUTH offered', {}, [GREETING, ...ehlo(['PIPELINING'], ['failed other: server does not offer AUTH'])]],
      [
        'no AUTH offered, no credentials: ready (a server that trusts the gateway)',
        { credentials: { username: '', password: '' } },
        [GREETING, ...ehlo(['PIPELINING'], ['ready'])],
      ],
      [
        'AUTH offered, no credentials: ready without AUTH',
        { credentials: { username: '', password: '' } },
        [GREETING, ...ehlo(['AUTH PLAIN'], ['ready'])],
      ],
      [
        'only unsupported mechanisms',
        {},
        [
          GREETING,
          ...ehlo(['AUTH CRAM-MD5 XOAUTH2'], ['failed other: server offers AUTH but not PLAIN or LOGIN (offered: CRAM-MD5 XOAUTH2)']),
        ],
      ],
      [
        'an empty AUTH line',
        {},
        [GREETING, ...ehlo(['AUTH'], ['failed other: server offers AUTH but not PLAIN or LOGIN (offered: none)'])],
      ],
      ['AUTHX is not AUTH', {}, [GREETING, ...ehlo(['AUTHX PLAIN'], ['failed other: server does not offer AUTH'])]],
      [
        'a NUL in the credentials is not sent with PLAIN',
        { credentials: { username: 'ann\u0000root', password: 'x' } },
        [GREETING, ...ehlo(['AUTH PLAIN'], ['failed other: credentials with a NUL character cannot be sent with AUTH PLAIN'])],
      ],
    ])('%s', (_name, options, steps) => {
      run(options, steps);
    });
  });

  describe('properties', () => {
    const optionsArbitrary = fc.record({
      credentials: fc.constantFrom(ANN, { username: '', password: '' }, { username: 'j\u00f6rg', password: 'p w' }),
      startTls: fc.boolean(),
      clientName: fc.option(fc.oneof(fc.constant('pc.example'), anyText(20)), { nil: undefined }),
    });

    /** Replies as a server might send them, weighted towards the codes the dialogue waits for so that runs get deep. */
    const code = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('220', '250', '235', '334') },
      { weight: 1, arbitrary: fc.constantFrom('221', '421', '454', '500', '535', '554', '99', '600', '2500') },
    );
    const text = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          '',
          'mx',
          'STARTTLS',
          'AUTH PLAIN',
          'AUTH LOGIN',
          'AUTH=LOGIN',
          'AUTH CRAM-MD5',
          'PIPELINING',
          '2.7.0 ok',
          'VXNlcm5hbWU6',
        ),
      },
      { weight: 1, arbitrary: anyText(40) },
    );
    /** A whole reply (its lines share one code), or now and then a line of anything. */
    const serverLines = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .tuple(code, fc.array(text, { minLength: 1, maxLength: 4 }))
          .map(([c, texts]) => texts.map((t, i) => `${c}${i === texts.length - 1 ? ' ' : '-'}${t}`)),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(code, fc.constantFrom(' ', '-', ''), text).map(([c, separator, t]) => [separator ? `${c}${separator}${t}` : c]),
      },
      { weight: 1, arbitrary: anyText(80).map((line) => [line]) },
    );
    /** A server's next move: the reply it would plausibly give to our last command, a random reply, or (when asked) the end of a TLS upgrade. */
    type Event =
      | { kind: 'plausible'; extensions: readonly string[]; accept: boolean }
      | { kind: 'random'; lines: string[] }
      | { kind: 'tls' };
    const EXTENSIONS = ['STARTTLS', 'AUTH PLAIN', 'AUTH LOGIN', 'AUTH=LOGIN', 'AUTH CRAM-MD5', 'PIPELINING', 'SIZE 1000'];
    const events: fc.Arbitrary<Event[]> = fc.array(
      fc.oneof(
        {
          weight: 10,
          arbitrary: fc.record({
            kind: fc.constant('plausible' as const),
            extensions: fc.oneof(fc.constant(['PIPELINING', 'AUTH PLAIN LOGIN', 'STARTTLS']), fc.subarray(EXTENSIONS)),
            accept: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
          }),
        },
        { weight: 1, arbitrary: serverLines.map((lines): Event => ({ kind: 'random', lines })) },
        { weight: 2, arbitrary: fc.constant<Event>({ kind: 'tls' }) },
      ),
      { maxLength: 20 },
    );

    /** What a server answers to `command` (the last one the dialogue sent; '' before the greeting) when it agrees, or a refusal. */
    function plausibleReply(
      command: string,
      { extensions, accept }: { extensions: readonly string[]; accept: boolean },
      username: string,
    ): string[] {
      if (command === '') return [accept ? '220 mx ESMTP' : '554 5.3.2 go away'];
      if (!accept) return [command.startsWith('EHLO') ? '502 5.5.1 no' : '535 5.7.8 no'];
      if (command.startsWith('EHLO'))
        return ['mx hello', ...extensions].map((line, i, lines) => `250${i === lines.length - 1 ? ' ' : '-'}${line}`);
      if (command === 'STARTTLS\r\n') return ['220 2.0.0 go ahead'];
      if (command === 'AUTH LOGIN\r\n') return ['334 VXNlcm5hbWU6'];
      if (command === `${b64(username)}\r\n`) return ['334 UGFzc3dvcmQ6'];
      return ['235 2.7.0 ok'];
    }

    /** Throws (plain, fast: these run hundreds of thousands of times) when `condition` is false. */
    function verify(condition: boolean, what: string, detail?: unknown): asserts condition {
      if (!condition) throw new Error(`${what}: ${JSON.stringify(detail)}`);
    }

    /** The most commands a dialogue sends: EHLO, STARTTLS, EHLO, AUTH, username, password. */
    const MAX_COMMANDS = 6;

    test('random and plausible server replies: never throws, one-line commands, bounded, no login before TLS, ends in ready or failed', () => {
      const outcomes = { ready: 0, failed: 0, authenticated: 0 };
      fc.assert(
        fc.property(optionsArbitrary, events, (options, events) => {
          const dialogue = createSmtpServerDialogue(options);
          let tls = false;
          let tlsPending = false;
          let sent = 0;
          let lastCommand = '';
          let lastLine = '';
          const check = (actions: ServerAction[]): boolean => {
            verify(JSON.stringify(dialogue).length < MAX_SERVER_REPLY_LINES * 300, 'bounded state');
            for (const [i, action] of actions.entries()) {
              if (action.kind === 'send') {
                sent++;
                lastCommand = action.data;
                verify(/^[^\r\n]*\r\n$/.test(action.data), 'one command line', action.data);
                verify(
                  !options.startTls || tls || /^(EHLO|STARTTLS)/.test(action.data),
                  'nothing but EHLO and STARTTLS before TLS',
                  action.data,
                );
              }
              if (action.kind === 'starttls') {
                verify(options.startTls && !tls, 'STARTTLS only when asked for, once');
                tlsPending = true;
              }
              if (action.kind === 'ready' || action.kind === 'failed') {
                verify(i === actions.length - 1, 'ready or failed comes last', actions);
                outcomes[action.kind]++;
                if (action.kind === 'ready') {
                  verify(!options.startTls || tls, 'ready only after TLS when asked for');
                  if (options.credentials.username !== '') {
                    verify(/^235( |$)/.test(lastLine), 'ready only after a 235', lastLine);
                    outcomes.authenticated++;
                  }
                } else {
                  verify(
                    action.reason.length <= MAX_REPLY_TEXT_LENGTH && !/[\r\n]/.test(action.reason),
                    'a bounded one-line reason',
                    action.reason,
                  );
                }
                verify(dialogue.onLine('235 ok').length === 0 && dialogue.tlsStarted().length === 0, 'nothing after the end');
                return true;
              }
            }
            verify(sent <= MAX_COMMANDS, 'a bounded number of commands', sent);
            return false;
          };
          for (const item of events) {
            if (item.kind === 'tls') {
              if (!tlsPending) continue;
              tlsPending = false;
              tls = true;
              if (check(dialogue.tlsStarted())) return;
              continue;
            }
            for (const line of item.kind === 'random' ? item.lines : plausibleReply(lastCommand, item, options.credentials.username)) {
              lastLine = line;
              if (check(dialogue.onLine(line))) return;
            }
          }
        }),
        { numRuns: 2000 },
      );
      // The runs must reach the interesting ends, or the checks above prove little.
      expect(outcomes.authenticated).toBeGreaterThan(80);
      expect(outcomes.failed).toBeGreaterThan(400);
    });

    test('a cooperative server always leads to ready, whatever else it advertises', () => {
      const extension = fc.constantFrom(
        'PIPELINING',
        'SIZE 10240000',
        '8BITMIME',
        'DSN',
        'SMTPUTF8',
        'CHUNKING',
        'ENHANCEDSTATUSCODES',
        'X-FOO bar',
      );
      fc.assert(
        fc.property(
          optionsArbitrary,
          fc.array(extension, { maxLength: 8 }),
          fc.constantFrom(['AUTH PLAIN LOGIN'], ['AUTH LOGIN'], ['AUTH=LOGIN PLAIN'], ['AUTH CRAM-MD5', 'AUTH=LOGIN']),
          fc.integer({ min: 1, max: 3 }),
          (options, extensions, auth, greetingLines) => {
            const dialogue = createSmtpServerDialogue(options);
            const reply = (replyCode: number, lines: string[]) =>
              lines.flatMap((line, i) => dialogue.onLine(`${replyCode}${i === lines.length - 1 ? ' ' : '-'}${line}`));
            const actions = reply(
              220,
              Array.from({ length: greetingLines }, (_, i) => `mx line ${i}`),
            );
            const answer = (action: ServerAction | undefined): ServerAction[] => {
              if (action?.kind === 'starttls') return dialogue.tlsStarted();
              if (action?.kind !== 'send') return [];
              const command = action.data;
              if (command.startsWith('EHLO')) return reply(250, ['mx.example.org', ...extensions, ...auth, 'STARTTLS']);
              if (command === 'STARTTLS\r\n') return reply(220, ['go ahead']);
              if (command === 'AUTH LOGIN\r\n') return reply(334, ['VXNlcm5hbWU6']);
              if (command === `${b64(options.credentials.username)}\r\n`) return reply(334, ['UGFzc3dvcmQ6']);
              return reply(235, ['2.7.0 ok']);
            };
            let last = actions;
            for (let step = 0; step < MAX_COMMANDS + 2 && last.at(-1)?.kind !== 'ready'; step++) last = answer(last.at(-1));
            expect(last).toEqual([{ kind: 'ready' }]);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
