import fc from 'fast-check';
import type { ServerAction } from '../../protocols/dialogue';
import { createImapServerDialogue, type ImapServerDialogueOptions } from '../../protocols/imap/server-dialogue';
import { MAX_REPLY_TEXT_LENGTH } from '../../protocols/reply-text';
import { encodePlain } from '../../protocols/sasl';
import { anyText } from './arbitraries';

const ALICE = { username: 'alice', password: 'secret' };
const PLAIN: ImapServerDialogueOptions = { credentials: ALICE, startTls: false };
const STARTTLS: ImapServerDialogueOptions = { credentials: ALICE, startTls: true };

const send = (command: string): ServerAction => ({ kind: 'send', data: `${command}\r\n` });
const READY: ServerAction = { kind: 'ready' };
const BEGIN_TLS: ServerAction = { kind: 'starttls' };
const failed = (authentication: boolean, reason: string): ServerAction => ({ kind: 'failed', authentication, reason });

const TLS = Symbol('tlsStarted');
type Step = [input: string | typeof TLS, expected: ServerAction[]];

/** Plays the steps; returns the capabilities `loggedIn` was called with (null: never called). */
function play(options: ImapServerDialogueOptions, steps: Step[]): readonly string[] | null {
  let capabilities: readonly string[] | null = null;
  const dialogue = createImapServerDialogue({
    ...options,
    loggedIn: (announced) => {
      expect(capabilities).toBeNull();
      capabilities = announced;
    },
  });
  steps.forEach(([input, expected], index) => {
    const output = input === TLS ? dialogue.tlsStarted() : dialogue.onLine(input);
    expect({ step: index, input, output }).toEqual({ step: index, input, output: expected });
  });
  return capabilities;
}

/** dovecot 2.3's greeting and its reply to a login (Debian 12, plaintext allowed). */
const DOVECOT_GREETING =
  '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.';
const DOVECOT_LOGGED_IN = (tag: string) =>
  `${tag} OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE SORT LITERAL+ COMPRESS=DEFLATE] Logged in`;
const AFTER_LOGIN = ['IMAP4rev1', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'SORT', 'LITERAL+', 'COMPRESS=DEFLATE'];
const PLAIN_IR = `rg1 AUTHENTICATE PLAIN ${encodePlain('alice', 'secret')}`;

describe('createImapServerDialogue', () => {
  describe('without TLS', () => {
    test('dovecot: capabilities in the greeting, AUTHENTICATE PLAIN with SASL-IR, its capabilities after login passed on', () => {
      expect(
        play(PLAIN, [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          [DOVECOT_LOGGED_IN('rg1'), [READY]],
        ]),
      ).toEqual(AFTER_LOGIN);
    });

    test.each<[string, ImapServerDialogueOptions, Step[], readonly string[] | null]>([
      [
        'no capabilities in the greeting: CAPABILITY first',
        PLAIN,
        [
          ['* OK IMAP4rev1 server ready', [send('rg1 CAPABILITY')]],
          ['* CAPABILITY IMAP4rev1 AUTH=PLAIN', []],
          ['rg1 OK done', [send('rg2 AUTHENTICATE PLAIN')]],
          ['+ ', [send(encodePlain('alice', 'secret'))]],
          ['rg2 OK Logged in', [READY]],
        ],
        [],
      ],
      [
        'an untagged CAPABILITY with the login reply is what the client hears',
        PLAIN,
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['* CAPABILITY IMAP4rev1 IDLE', []],
          ['rg1 OK Logged in', [READY]],
        ],
        ['IMAP4rev1', 'IDLE'],
      ],
      [
        'no AUTH=PLAIN: LOGIN with quoted strings',
        { credentials: { username: 'alice', password: 'se"cr\\et x' }, startTls: false },
        [
          ['* OK [CAPABILITY IMAP4rev1] ready', [send('rg1 LOGIN "alice" "se\\"cr\\\\et x"')]],
          ['rg1 OK done', [READY]],
        ],
        [],
      ],
      [
        'LOGIN with UTF-8: a synchronizing literal of its bytes, each part after "+"',
        { credentials: { username: 'jürgen', password: 'pässwörd' }, startTls: false },
        [
          ['* OK [CAPABILITY IMAP4rev1] ready', [send('rg1 LOGIN {7}')]],
          ['+ go ahead', [send('jürgen {10}')]],
          ['+ OK', [send('pässwörd')]],
          ['rg1 OK [CAPABILITY IMAP4rev1 IDLE] done', [READY]],
        ],
        ['IMAP4rev1', 'IDLE'],
      ],
      [
        'LOGIN refused before its literal',
        { credentials: { username: 'jürgen', password: 'pw' }, startTls: false },
        [
          ['* OK [CAPABILITY IMAP4rev1] ready', [send('rg1 LOGIN {7}')]],
          ['rg1 NO [AUTHENTICATIONFAILED] no', [failed(true, '[AUTHENTICATIONFAILED] no')]],
        ],
        null,
      ],
      [
        'PREAUTH without TLS asked for: ready without a login',
        PLAIN,
        [['* PREAUTH [CAPABILITY IMAP4rev1 IDLE] logged in as alice', [READY]]],
        ['IMAP4rev1', 'IDLE'],
      ],
      [
        'a server with no login configured for it (credentials: none) must PREAUTH',
        { credentials: { username: '', password: '' }, startTls: false },
        [['* OK ready', [failed(false, 'The IMAP server asks for a login, and none is configured for it')]]],
        null,
      ],
      [
        'LOGINDISABLED without AUTH=PLAIN: no login possible',
        PLAIN,
        [
          [
            '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready',
            [failed(false, 'The IMAP server takes no login here (LOGINDISABLED): the server entry needs tls')],
          ],
        ],
        null,
      ],
      [
        'untagged OK and NO before the answer are news, not answers',
        PLAIN,
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['* OK [ALERT] hello', []],
          ['* NO something', []],
          ['* 3 EXISTS', []],
          ['rg1 OK Logged in', [READY]],
        ],
        [],
      ],
      [
        'lines after ready are the relay’s',
        PLAIN,
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg1 OK Logged in', [READY]],
          ['rg1 NO whatever', []],
        ],
        [],
      ],
    ])('%s', (_name, options, steps, capabilities) => expect(play(options, steps)).toEqual(capabilities));
  });

  describe('refusals', () => {
    test.each<[string, Step[]]>([
      [
        'wrong credentials: an authentication failure with the server’s code',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg1 NO [AUTHENTICATIONFAILED] Authentication failed.', [failed(true, '[AUTHENTICATIONFAILED] Authentication failed.')]],
        ],
      ],
      [
        'a NO without a code is still the credentials',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg1 NO go away', [failed(true, 'go away')]],
        ],
      ],
      [
        '[UNAVAILABLE]: the server’s trouble, not the user’s',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg1 NO [UNAVAILABLE] Temporary failure', [failed(false, '[UNAVAILABLE] Temporary failure')]],
        ],
      ],
      [
        '[INUSE]',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg1 NO [INUSE] busy', [failed(false, '[INUSE] busy')]],
        ],
      ],
      [
        'BAD to the login',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg1 BAD what?', [failed(false, 'The IMAP server rejected the login command: what?')]],
        ],
      ],
      ['BYE as the greeting', [['* BYE [UNAVAILABLE] too busy', [failed(false, 'The IMAP server is not ready: [UNAVAILABLE] too busy')]]]],
      [
        'BYE during the login',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['* BYE shutting down', [failed(false, 'The IMAP server closed the connection: shutting down')]],
        ],
      ],
      ['no greeting at all', [['+OK POP3 ready', [failed(false, 'Unexpected reply from the IMAP server')]]]],
      ['a data response as greeting', [['* CAPABILITY IMAP4rev1', [failed(false, 'The IMAP server sent no valid greeting')]]]],
      [
        'another tag',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['rg9 OK Logged in', [failed(false, 'Unexpected reply from the IMAP server')]],
        ],
      ],
      [
        'a "+" nobody asked for',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['+ ', [failed(false, 'Unexpected reply from the IMAP server')]],
        ],
      ],
      [
        'a literal during the login',
        [
          [DOVECOT_GREETING, [send(PLAIN_IR)]],
          ['* ID ("name" {7}', [failed(false, 'The IMAP server sent a literal during the login')]],
        ],
      ],
      [
        'CAPABILITY refused',
        [
          ['* OK ready', [send('rg1 CAPABILITY')]],
          ['rg1 BAD no', [failed(false, 'The IMAP server refused CAPABILITY: no')]],
        ],
      ],
    ])('%s', (_name, steps) => void play(PLAIN, steps));

    test.each<[string, { username: string; password: string }]>([
      ['CR LF in the password', { username: 'alice', password: 'pw\r\nrg2 LOGOUT' }],
      ['NUL in the user name', { username: 'a\0b', password: 'pw' }],
      ['an empty password', { username: 'alice', password: '' }],
    ])(
      'credentials no IMAP command can carry (%s) are never sent',
      (_name, credentials) =>
        void play({ credentials, startTls: false }, [
          [DOVECOT_GREETING, [failed(false, 'The user name or password for the IMAP server cannot be sent in IMAP')]],
        ]),
    );
  });

  describe('STARTTLS to the server', () => {
    test('CAPABILITY is asked anew after TLS, then the login', () => {
      expect(
        play(STARTTLS, [
          ['* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready', [send('rg1 STARTTLS')]],
          ['rg1 OK Begin TLS negotiation now', [BEGIN_TLS]],
          [TLS, [send('rg2 CAPABILITY')]],
          ['* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR', []],
          ['rg2 OK done', [send(`rg3 AUTHENTICATE PLAIN ${encodePlain('alice', 'secret')}`)]],
          [DOVECOT_LOGGED_IN('rg3'), [READY]],
        ]),
      ).toEqual(AFTER_LOGIN);
    });

    test.each<[string, Step[]]>([
      [
        'a server without STARTTLS is not logged in to',
        [['* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready', [failed(false, 'The IMAP server does not offer STARTTLS')]]],
      ],
      [
        'STARTTLS refused',
        [
          ['* OK [CAPABILITY IMAP4rev1 STARTTLS] ready', [send('rg1 STARTTLS')]],
          ['rg1 NO not now', [failed(false, 'The IMAP server refused STARTTLS: not now')]],
        ],
      ],
      [
        'bytes between OK and the handshake are injected',
        [
          ['* OK [CAPABILITY IMAP4rev1 STARTTLS] ready', [send('rg1 STARTTLS')]],
          ['rg1 OK go', [BEGIN_TLS]],
          ['* CAPABILITY IMAP4rev1 AUTH=PLAIN', [failed(false, 'The IMAP server sent data before the TLS handshake')]],
        ],
      ],
      [
        'PREAUTH before TLS is refused (no session in cleartext)',
        [['* PREAUTH ready', [failed(false, 'The IMAP server logged us in before TLS (PREAUTH): refusing a session without TLS')]]],
      ],
      [
        'tlsStarted out of turn does nothing',
        [
          [TLS, []],
          ['* OK [CAPABILITY IMAP4rev1 STARTTLS] ready', [send('rg1 STARTTLS')]],
          [TLS, []],
        ],
      ],
    ])('%s', (_name, steps) => void play(STARTTLS, steps));
  });
});

describe('createImapServerDialogue properties', () => {
  const serverLine = fc.oneof(
    fc.constantFrom(DOVECOT_GREETING, '* OK ready', '* PREAUTH x', '* BYE x', '+ ', '+', '* CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS'),
    fc.constantFrom('rg1 OK x', 'rg2 OK x', 'rg1 NO [AUTHENTICATIONFAILED] x', 'rg2 NO [UNAVAILABLE] x', 'rg3 BAD x', '* 1 EXISTS'),
    anyText(80),
  );
  const credentials = fc.record({
    username: fc.oneof(fc.constant('alice'), anyText(10)),
    password: fc.oneof(fc.constant('pw'), anyText(10)),
  });

  test('any lines: never throws, one-line commands, nothing after an end, no credentials before TLS when TLS is asked for', () => {
    fc.assert(
      fc.property(
        credentials,
        fc.boolean(),
        fc.array(fc.oneof(serverLine, fc.constant<typeof TLS>(TLS)), { maxLength: 30 }),
        (creds, startTls, inputs) => {
          const dialogue = createImapServerDialogue({ credentials: creds, startTls });
          let over = false;
          let tlsPending = false;
          let tls = false;
          for (const input of inputs) {
            const actions = input === TLS ? dialogue.tlsStarted() : dialogue.onLine(input);
            if (input === TLS && tlsPending) {
              tls = true;
              tlsPending = false;
            }
            if (over) expect(actions).toEqual([]);
            for (const action of actions) {
              if (action.kind === 'send') {
                expect(action.data).toMatch(/\r\n$/);
                expect(action.data.slice(0, -2)).not.toMatch(/[\r\n]/);
                if (startTls && !tls) expect(action.data).toMatch(/^rg\d+ (CAPABILITY|STARTTLS)\r\n$/);
              } else if (action.kind === 'starttls') tlsPending = true;
              else {
                over = true;
                if (action.kind === 'ready') expect(!startTls || tls).toBe(true);
                else expect(action.reason.length).toBeLessThanOrEqual(MAX_REPLY_TEXT_LENGTH);
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
