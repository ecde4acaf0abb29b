import type { ClientAction, ClientDialogue, ClientDialogueOptions } from '../dialogue';
import { decodeNntpText, formatNntpReply } from './replies';

/**
 * The NNTP side of a newsreader's pre-login dialogue (RFC 3977), with
 * AUTHINFO USER/PASS (RFC 4643) and STARTTLS (RFC 4642).
 *
 * The proxy behaves as a mode-switching server (RFC 3977 3.4.2): it
 * advertises MODE-READER until the client sends MODE READER, and remembers
 * that it did, so that the server dialogue can repeat it to the real server.
 * Every reader command is answered 480 until the client logs in; after the
 * login the adapter relays and the real server answers everything, including
 * whether posting is allowed (its answer to POST, not our greeting, decides).
 */
export interface NntpClientDialogue extends ClientDialogue {
  /** The client sent MODE READER before logging in: pass `modeReader: true` to `createNntpServerDialogue`. */
  readonly modeReader: boolean;
  /** Characters of client input held between commands (a pending AUTHINFO USER name); never more than one line. */
  readonly buffered: number;
}

/** Commands that need a logged-in reader or peer (RFC 3977, RFC 2980, RFC 4644): answered 480 (or 483) before login. */
const LOGIN_REQUIRED_VERBS = [
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
] as const;

type Verb = 'AUTHINFO' | 'CAPABILITIES' | 'HELP' | 'MODE' | 'QUIT' | 'STARTTLS' | (typeof LOGIN_REQUIRED_VERBS)[number];

type Phase =
  /** Reading commands. */
  | 'commands'
  /** 382 sent; waiting for the adapter's `tlsStarted()`. */
  | 'tls-handshake'
  /** A `login` action is out; waiting for `loginSucceeded()` or `loginFailed()`. */
  | 'login-pending'
  /** Logged in: the relay owns the connection now. */
  | 'logged-in'
  | 'closed';

interface Session {
  readonly options: ClientDialogueOptions;
  phase: Phase;
  secure: boolean;
  /** The client sent MODE READER. */
  modeReader: boolean;
  /** The raw (wire-decoded) AUTHINFO USER argument awaiting its PASS. */
  pendingUser: string | null;
  commands: number;
  failedLogins: number;
}

type Handler = (session: Session, argument: string) => ClientAction[];

const send = (code: number, text: string): ClientAction => ({ kind: 'send', data: formatNntpReply(code, text) });

/** A multi-line response (RFC 3977 3.1.1): status line, dot-stuffed body, terminating `.`. */
function multiLine(code: number, text: string, body: string[]): string {
  const lines = body.map((line) => (line.startsWith('.') ? `.${line}` : line) + '\r\n');
  return formatNntpReply(code, text) + lines.join('') + '.\r\n';
}

/** Upper-cases ASCII letters only, so no other character can turn into a verb (`quıt` is not QUIT). */
const asciiUpper = (text: string): string => text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());

/** Splits `KEYWORD rest` on the first run of spaces or tabs (RFC 3977 3.1); `rest` is kept verbatim. */
function splitKeyword(text: string): [keyword: string, rest: string] {
  const match = /^[ \t]*([^ \t]*)(?:[ \t]+(.*))?$/s.exec(text)!;
  return [asciiUpper(match[1]), match[2] ?? ''];
}

/** NUL and CR cannot be passed on to the server inside a command line. */
const UNSENDABLE = /[\0\r\n]/;

function close(session: Session, data: string): ClientAction[] {
  session.phase = 'closed';
  session.pendingUser = null;
  return [{ kind: 'close', data }];
}

const loginAllowed = (session: Session): boolean => session.secure || session.options.allowCleartextLogin;
const startTlsOffered = (session: Session): boolean => session.options.startTlsAvailable && !session.secure;

function capabilities(session: Session): ClientAction[] {
  // The CAPABILITIES keyword argument is for future use; servers ignore it (RFC 3977 5.2.2).
  const lines = ['VERSION 2', session.modeReader ? 'READER' : 'MODE-READER'];
  if (loginAllowed(session)) lines.push('AUTHINFO USER');
  if (startTlsOffered(session)) lines.push('STARTTLS');
  return [{ kind: 'send', data: multiLine(101, 'Capability list:', lines) }];
}

function help(session: Session): ClientAction[] {
  const lines = ['  AUTHINFO USER name', '  AUTHINFO PASS password', '  CAPABILITIES [keyword]', '  HELP', '  MODE READER', '  QUIT'];
  if (startTlsOffered(session)) lines.push('  STARTTLS');
  return [{ kind: 'send', data: multiLine(100, 'Help text follows', lines) }];
}

function mode(session: Session, argument: string): ClientAction[] {
  if (asciiUpper(argument.trim()) !== 'READER') return [send(501, 'Unknown MODE variant')];
  session.modeReader = true;
  return [send(200, 'Reader mode, posting permitted')];
}

function authinfo(session: Session, argument: string): ClientAction[] {
  const [keyword, value] = splitKeyword(argument);
  if (keyword === 'SASL') return [send(503, 'AUTHINFO SASL is not supported')];
  if (keyword !== 'USER' && keyword !== 'PASS') return [send(501, 'Syntax error in AUTHINFO command')];
  if (!loginAllowed(session)) return [send(483, 'Encryption or stronger authentication required')];
  // RFC 4643 3.1 (erratum 1787) lets a server take the rest of the line, spaces included, as
  // the name or password, as INN's nnrpd does; so does this.
  if (value === '' || UNSENDABLE.test(value)) return [send(501, 'Syntax error in AUTHINFO command')];
  if (keyword === 'USER') {
    session.pendingUser = value;
    return [send(381, 'Password required')];
  }
  if (session.pendingUser === null) return [send(482, 'Authentication commands issued out of sequence')];
  const username = decodeNntpText(session.pendingUser);
  session.pendingUser = null;
  session.phase = 'login-pending';
  return [{ kind: 'login', credentials: { username, password: decodeNntpText(value), mechanism: 'AUTHINFO' } }];
}

function startTls(session: Session, argument: string): ClientAction[] {
  if (argument.trim() !== '') return [send(501, 'STARTTLS takes no arguments')];
  if (session.secure) return [send(502, 'Already using TLS')];
  if (!session.options.startTlsAvailable) return [send(502, 'STARTTLS is not available')];
  session.phase = 'tls-handshake';
  return [{ kind: 'starttls', data: formatNntpReply(382, 'Continue with TLS negotiation') }];
}

// 483 rather than 480 where logging in is impossible until the connection is encrypted (RFC 4643 2.2).
const loginRequired: Handler = (session) =>
  loginAllowed(session) ? [send(480, 'Authentication required')] : [send(483, 'Encryption or stronger authentication required')];

function sameHandler<V extends string>(verbs: readonly V[], handler: Handler): Record<V, Handler> {
  return Object.fromEntries(verbs.map((verb) => [verb, handler])) as Record<V, Handler>;
}

const COMMANDS: Record<Verb, Handler> = {
  AUTHINFO: authinfo,
  CAPABILITIES: capabilities,
  HELP: help,
  MODE: mode,
  QUIT: (session) => close(session, formatNntpReply(205, 'Bye')),
  STARTTLS: startTls,
  ...sameHandler(LOGIN_REQUIRED_VERBS, loginRequired),
};

const isVerb = (verb: string): verb is Verb => Object.hasOwn(COMMANDS, verb);

function onCommand(session: Session, line: string): ClientAction[] {
  // Lines after 382 and before the handshake came in cleartext, possibly injected by a man
  // in the middle; RFC 4642 2.2.2 has them discarded. Lines in the other phases are not ours.
  if (session.phase !== 'commands') return [];
  session.commands += 1;
  if (session.commands > session.options.maxUnauthenticatedCommands) {
    return close(session, formatNntpReply(400, 'Too many commands without logging in'));
  }
  const [verb, argument] = splitKeyword(line);
  return isVerb(verb) ? COMMANDS[verb](session, argument) : [send(500, 'Unknown command')];
}

function onLoginFailed(session: Session, reason: string): ClientAction[] {
  if (session.phase !== 'login-pending') return [];
  session.phase = 'commands';
  session.failedLogins += 1;
  const refusal = formatNntpReply(481, reason.trim() === '' ? 'Authentication failed' : reason);
  if (session.failedLogins >= session.options.maxLoginAttempts) {
    return close(session, refusal + formatNntpReply(400, 'Too many failed logins'));
  }
  return [{ kind: 'send', data: refusal }];
}

/**
 * Creates the dialogue for one newsreader connection.
 *
 * @example
 * const dialogue = createNntpClientDialogue({ hostname: 'news.example.org', startTlsAvailable: false,
 *   secure: false, allowCleartextLogin: true, maxLineLength: 512, maxUnauthenticatedCommands: 20, maxLoginAttempts: 3 });
 * dialogue.start();                       // [{ kind: 'send', data: '200 news.example.org roamgate news proxy ready (posting ok)\r\n' }]
 * dialogue.onLine('AUTHINFO USER alice'); // [{ kind: 'send', data: '381 Password required\r\n' }]
 * dialogue.onLine('AUTHINFO PASS pw');    // [{ kind: 'login', credentials: { username: 'alice', password: 'pw', mechanism: 'AUTHINFO' } }]
 */
export function createNntpClientDialogue(options: ClientDialogueOptions): NntpClientDialogue {
  const session: Session = {
    options,
    phase: 'commands',
    secure: options.secure,
    modeReader: false,
    pendingUser: null,
    commands: 0,
    failedLogins: 0,
  };

  return {
    start: () => [send(200, `${options.hostname} roamgate news proxy ready (posting ok)`)],

    onLine: (line) => onCommand(session, line),

    onLineTooLong() {
      // While a login is checked the line cannot wait (the reader drops it): close, as POP3 and SMTP do.
      if (session.phase === 'closed' || session.phase === 'logged-in') return [];
      // Mid-handshake the client is owed nothing in cleartext.
      return close(session, session.phase === 'tls-handshake' ? '' : formatNntpReply(500, 'Line too long'));
    },

    tlsStarted() {
      if (session.phase !== 'tls-handshake') return;
      // RFC 4642 2.2.2: forget what the client said before TLS. MODE READER is kept: it chose
      // the service, and clients such as python's nntplib do not repeat it after STARTTLS.
      session.phase = 'commands';
      session.secure = true;
      session.pendingUser = null;
    },

    loginSucceeded() {
      if (session.phase !== 'closed') session.phase = 'logged-in';
      return formatNntpReply(281, 'Authentication accepted');
    },

    loginFailed: (reason) => onLoginFailed(session, reason),

    get modeReader() {
      return session.modeReader;
    },

    get buffered() {
      return session.pendingUser?.length ?? 0;
    },
  };
}
