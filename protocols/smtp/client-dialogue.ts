import type { ClientAction, ClientDialogue, ClientDialogueOptions, Credentials } from '../dialogue';
import { sanitizeReplyText } from '../reply-text';
import { decodeBase64, parsePlain } from '../sasl';
import { formatSmtpReply } from './replies';

/** Longest EHLO/HELO name accepted (a domain has at most 255 octets, RFC 5321 4.5.3.1.2). */
export const MAX_EHLO_NAME_LENGTH = 255;

const EHLO_NAME = /^[\x21-\x7e]+$/;

/**
 * Whether `name` may be used as an EHLO/HELO argument: printable ASCII, no
 * spaces, at most {@link MAX_EHLO_NAME_LENGTH}. The name travels on to the real
 * server, so nothing that could end or split a command line gets through.
 */
export function isValidEhloName(name: string): boolean {
  return name.length <= MAX_EHLO_NAME_LENGTH && EHLO_NAME.test(name);
}

/** The SMTP pre-login dialogue, with what the adapter may want to check besides {@link ClientDialogue}. */
export interface SmtpClientDialogue extends ClientDialogue {
  /** Bytes of client-supplied data the dialogue holds (EHLO name, a LOGIN username awaiting its password). Bounded whatever the client sends. */
  readonly heldBytes: number;
}

type SmtpVerb =
  | 'EHLO'
  | 'HELO'
  | 'AUTH'
  | 'STARTTLS'
  | 'NOOP'
  | 'RSET'
  | 'QUIT'
  | 'HELP'
  | 'VRFY'
  | 'MAIL'
  | 'RCPT'
  | 'DATA'
  | 'BDAT'
  | 'ETRN'
  | 'EXPN';

type Phase =
  /** Reading commands (before login). */
  | { name: 'command' }
  /** `334 ` sent after `AUTH PLAIN`; the next line is the PLAIN response. */
  | { name: 'auth-plain' }
  | { name: 'auth-login-username' }
  | { name: 'auth-login-password'; username: string }
  /** `220 Ready to start TLS` sent; lines before `tlsStarted()` were sent in cleartext and are dropped. */
  | { name: 'tls-pending' }
  /** A `login` action is out; the adapter holds the client's further lines until it decides. */
  | { name: 'login-pending' }
  /** Logged in; from here the adapter relays to the server. */
  | { name: 'authenticated' }
  | { name: 'closed' };

interface Session {
  readonly options: ClientDialogueOptions;
  phase: Phase;
  secure: boolean;
  /** EHLO (not HELO) was given since the start or the last TLS reset: AUTH is allowed. */
  extended: boolean;
  clientName: string | undefined;
  /** Commands counted against maxUnauthenticatedCommands (SASL response lines are not commands). */
  commands: number;
  failedLogins: number;
}

type CommandHandler = (session: Session, args: string) => ClientAction[];

const send = (code: number, text: string | string[], enhanced?: string): ClientAction[] => [
  { kind: 'send', data: formatSmtpReply(code, text, enhanced) },
];

function close(session: Session, data: string): ClientAction[] {
  session.phase = { name: 'closed' };
  return [{ kind: 'close', data }];
}

const startTlsOffered = (session: Session) => session.options.startTlsAvailable && !session.secure;
const loginAllowed = (session: Session) => session.secure || session.options.allowCleartextLogin;

function greet(session: Session, args: string, extended: boolean): ClientAction[] {
  if (!isValidEhloName(args)) return send(501, `Syntax: ${extended ? 'EHLO' : 'HELO'} hostname`, '5.5.4');
  session.clientName = args;
  session.extended = extended;
  const { hostname } = session.options;
  if (!extended) return send(250, hostname);
  const lines = [`${hostname} greets ${args}`, ...(session.options.pipelining ? ['PIPELINING'] : []), '8BITMIME', 'ENHANCEDSTATUSCODES'];
  if (loginAllowed(session)) lines.push('AUTH PLAIN LOGIN');
  if (startTlsOffered(session)) lines.push('STARTTLS');
  return send(250, lines);
}

function askForLogin(session: Session, credentials: Credentials): ClientAction[] {
  session.phase = { name: 'login-pending' };
  return [{ kind: 'login', credentials }];
}

/** A LOGIN username or password: strict base64 of non-empty text without NUL (which would corrupt the PLAIN message sent on to the server). */
function decodeLoginField(base64: string): string | null {
  const text = decodeBase64(base64);
  return text && !text.includes('\u0000') ? text : null;
}

const INVALID_BASE64 = () => send(501, 'Invalid base64 or empty credentials', '5.5.2');
const INVALID_PLAIN = () => send(501, 'Malformed PLAIN response, or an authorization identity other than the user', '5.5.2');

/** A SASL initial response of `=` means an empty one (RFC 4954 4). */
const initialResponse = (text: string) => (text === '=' ? '' : text);

function auth(session: Session, args: string): ClientAction[] {
  if (session.phase.name === 'authenticated') return send(503, 'Already authenticated', '5.5.1');
  if (!session.extended) return send(503, 'EHLO first', '5.5.1');
  const [mechanism, initial, ...extra] = args === '' ? [] : args.split(/[ \t]+/);
  if (!mechanism || extra.length > 0) return send(501, 'Syntax: AUTH mechanism [initial-response]', '5.5.4');
  const upper = mechanism.toUpperCase();
  if (upper !== 'PLAIN' && upper !== 'LOGIN') return send(504, 'Unrecognized authentication type', '5.5.4');
  if (!loginAllowed(session)) return send(538, 'Encryption required for requested authentication mechanism', '5.7.11');
  if (upper === 'PLAIN') {
    if (initial === undefined) {
      session.phase = { name: 'auth-plain' };
      return send(334, '');
    }
    return plainResponse(session, initialResponse(initial));
  }
  if (initial === undefined) {
    session.phase = { name: 'auth-login-username' };
    return send(334, 'VXNlcm5hbWU6');
  }
  return loginUsername(session, initialResponse(initial));
}

function plainResponse(session: Session, base64: string): ClientAction[] {
  const parsed = parsePlain(base64);
  if (!parsed) {
    session.phase = { name: 'command' };
    return INVALID_PLAIN();
  }
  return askForLogin(session, { ...parsed, mechanism: 'PLAIN' });
}

function loginUsername(session: Session, base64: string): ClientAction[] {
  const username = decodeLoginField(base64);
  if (username === null) {
    session.phase = { name: 'command' };
    return INVALID_BASE64();
  }
  session.phase = { name: 'auth-login-password', username };
  return send(334, 'UGFzc3dvcmQ6');
}

function loginPassword(session: Session, username: string, base64: string): ClientAction[] {
  const password = decodeLoginField(base64);
  if (password === null) {
    session.phase = { name: 'command' };
    return INVALID_BASE64();
  }
  return askForLogin(session, { username, password, mechanism: 'LOGIN' });
}

function startTls(session: Session, args: string): ClientAction[] {
  if (session.phase.name === 'authenticated') return send(503, 'Already authenticated', '5.5.1');
  if (session.secure) return send(503, 'Already running TLS', '5.5.1');
  if (!session.options.startTlsAvailable) return send(502, 'STARTTLS not available', '5.5.1');
  if (args !== '') return send(501, 'Syntax: STARTTLS', '5.5.4');
  session.phase = { name: 'tls-pending' };
  return [{ kind: 'starttls', data: formatSmtpReply(220, 'Ready to start TLS', '2.0.0') }];
}

/** Mail transaction commands: only the real server, after login, handles them. */
function mailCommand(session: Session): ClientAction[] {
  // Only reachable if the adapter feeds lines after loginSucceeded() instead of relaying them.
  if (session.phase.name === 'authenticated') return send(451, 'Server connection not ready', '4.3.0');
  return send(530, 'Authentication required', '5.7.0');
}

const COMMANDS: Record<SmtpVerb, CommandHandler> = {
  EHLO: (session, args) => greet(session, args, true),
  HELO: (session, args) => greet(session, args, false),
  AUTH: auth,
  STARTTLS: startTls,
  NOOP: () => send(250, 'OK', '2.0.0'),
  RSET: () => send(250, 'OK', '2.0.0'),
  QUIT: (session) => close(session, formatSmtpReply(221, 'Bye', '2.0.0')),
  HELP: () => send(214, 'Commands: EHLO HELO AUTH STARTTLS NOOP RSET QUIT HELP', '2.0.0'),
  VRFY: (_session, args) => (args === '' ? send(501, 'Syntax: VRFY address', '5.5.4') : send(252, 'Cannot verify users here', '2.5.2')),
  MAIL: mailCommand,
  RCPT: mailCommand,
  DATA: mailCommand,
  BDAT: mailCommand,
  ETRN: mailCommand,
  EXPN: mailCommand,
};

const isVerb = (verb: string): verb is SmtpVerb => Object.hasOwn(COMMANDS, verb);

/** `VERB [args]`: an ASCII verb, then spaces or tabs, then the arguments without surrounding blanks. */
const COMMAND_LINE = /^([A-Za-z]+)(?:[ \t]+([\s\S]*?))?[ \t]*$/;

function onCommand(session: Session, line: string): ClientAction[] {
  if (session.phase.name !== 'authenticated' && ++session.commands > session.options.maxUnauthenticatedCommands) {
    return close(session, formatSmtpReply(421, 'Too many commands without login', '4.7.0'));
  }
  const match = COMMAND_LINE.exec(line);
  const verb = match?.[1].toUpperCase() ?? '';
  if (!match || !isVerb(verb)) return send(500, 'Command unrecognized', '5.5.2');
  return COMMANDS[verb](session, match[2] ?? '');
}

function onSaslResponse(session: Session, phase: Phase, line: string): ClientAction[] {
  if (line === '*') {
    session.phase = { name: 'command' };
    return send(501, 'Authentication cancelled', '5.0.0');
  }
  switch (phase.name) {
    case 'auth-plain':
      return plainResponse(session, line);
    case 'auth-login-username':
      return loginUsername(session, line);
    case 'auth-login-password':
      return loginPassword(session, phase.username, line);
    default:
      return [];
  }
}

/**
 * The SMTP server side of a client's pre-login dialogue (RFC 5321, AUTH RFC
 * 4954, STARTTLS RFC 3207, PIPELINING RFC 2920): greeting, EHLO/HELO,
 * STARTTLS, AUTH PLAIN and LOGIN. Mail commands are refused until login; after
 * `loginSucceeded()` the adapter relays to the server, which the adapter has
 * already greeted with the client's EHLO name (`clientName`).
 *
 * Lines the client sends after `STARTTLS` and before `tlsStarted()` were sent
 * in cleartext and may be an injection (CVE-2011-0411): they are dropped.
 * Lines sent after an AUTH that produced a `login` action must be held by the
 * adapter until it calls `loginSucceeded()` (then they go to the server) or
 * `loginFailed()` (then they are fed here); feeding them earlier closes the
 * connection with 421, since their replies would overtake the AUTH reply.
 *
 * @example
 * const dialogue = createSmtpClientDialogue({ hostname: 'mx.example.org', startTlsAvailable: true, secure: false,
 *   allowCleartextLogin: false, maxLineLength: 2048, maxUnauthenticatedCommands: 20, maxLoginAttempts: 3 });
 * dialogue.start();          // [{ kind: 'send', data: '220 mx.example.org ESMTP roamgate ready\r\n' }]
 * dialogue.onLine('EHLO pc'); // [{ kind: 'send', data: '250-mx.example.org greets pc\r\n250-PIPELINING\r\n...' }]
 */
export function createSmtpClientDialogue(options: ClientDialogueOptions): SmtpClientDialogue {
  const session: Session = {
    options,
    phase: { name: 'command' },
    secure: options.secure,
    extended: false,
    clientName: undefined,
    commands: 0,
    failedLogins: 0,
  };

  return {
    get clientName() {
      return session.clientName;
    },

    get heldBytes() {
      const phase = session.phase;
      const username = phase.name === 'auth-login-password' ? phase.username : '';
      return Buffer.byteLength(session.clientName ?? '') + Buffer.byteLength(username);
    },

    start() {
      return send(220, `${options.hostname} ESMTP roamgate ready`);
    },

    onLine(line) {
      const phase = session.phase;
      switch (phase.name) {
        case 'closed':
        case 'tls-pending':
          return [];
        case 'login-pending':
          return close(session, formatSmtpReply(421, 'Command received before the authentication result', '4.3.0'));
        case 'auth-plain':
        case 'auth-login-username':
        case 'auth-login-password':
          return onSaslResponse(session, phase, line);
        case 'command':
        case 'authenticated':
          return onCommand(session, line);
      }
    },

    onLineTooLong() {
      if (session.phase.name === 'closed' || session.phase.name === 'tls-pending') return [];
      return close(session, formatSmtpReply(500, 'Line too long', '5.5.6'));
    },

    tlsStarted() {
      if (session.phase.name !== 'tls-pending') return;
      // RFC 3207 4.2: forget everything learnt from the client before TLS, EHLO included.
      session.phase = { name: 'command' };
      session.secure = true;
      session.extended = false;
      session.clientName = undefined;
    },

    loginSucceeded() {
      if (session.phase.name !== 'login-pending') return formatSmtpReply(503, 'No authentication in progress', '5.5.1');
      session.phase = { name: 'authenticated' };
      return formatSmtpReply(235, 'Authentication successful', '2.7.0');
    },

    loginFailed(reason) {
      if (session.phase.name !== 'login-pending') return [];
      const refusal = formatSmtpReply(535, sanitizeReplyText(reason) || 'Authentication credentials invalid', '5.7.8');
      if (++session.failedLogins >= options.maxLoginAttempts) {
        return close(session, refusal + formatSmtpReply(421, 'Too many failed logins', '4.7.0'));
      }
      session.phase = { name: 'command' };
      return [{ kind: 'send', data: refusal }];
    },
  };
}
