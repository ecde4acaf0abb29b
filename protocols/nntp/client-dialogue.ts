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
  'ARTICLE', 'BODY', 'CHECK', 'DATE', 'GROUP', 'HDR', 'HEAD', 'IHAVE', 'LAST', 'LIST', 'LISTGROUP', 'NEWGROUPS',
  'NEWNEWS', 'NEXT', 'OVER', 'POST', 'STAT', 'TAKETHIS', 'XGTITLE', 'XHDR', 'XOVER', 'XPAT', 'XPATH',
] as const;

type Verb = 'AUTHINFO' | 'CAPABILITIES' | 'HELP' | 'MODE' | 'QUIT' | 'STARTTLS' | (typeof LOGIN_REQUIRED_VERBS)[number];
type Handler = (argument: string) => ClientAction[];

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
  let phase: Phase = 'commands';
  let secure = options.secure;
  let modeReader = false;
  /** The raw (wire-decoded) AUTHINFO USER argument awaiting its PASS. */
  let pendingUser: string | null = null;
  let commands = 0;
  let failedLogins = 0;

  const close = (data: string): ClientAction[] => {
    phase = 'closed';
    pendingUser = null;
    return [{ kind: 'close', data }];
  };

  const loginAllowed = (): boolean => secure || options.allowCleartextLogin;
  const startTlsOffered = (): boolean => options.startTlsAvailable && !secure;

  const capabilities: Handler = () => {
    // The CAPABILITIES keyword argument is for future use; servers ignore it (RFC 3977 5.2.2).
    const lines = ['VERSION 2', modeReader ? 'READER' : 'MODE-READER'];
    if (loginAllowed()) lines.push('AUTHINFO USER');
    if (startTlsOffered()) lines.push('STARTTLS');
    return [{ kind: 'send', data: multiLine(101, 'Capability list:', lines) }];
  };

  const help: Handler = () => {
    const lines = ['  AUTHINFO USER name', '  AUTHINFO PASS password', '  CAPABILITIES [keyword]', '  HELP', '  MODE READER', '  QUIT'];
    if (startTlsOffered()) lines.push('  STARTTLS');
    return [{ kind: 'send', data: multiLine(100, 'Help text follows', lines) }];
  };

  const mode: Handler = (argument) => {
    if (asciiUpper(argument.trim()) !== 'READER') return [send(501, 'Unknown MODE variant')];
    modeReader = true;
    return [send(200, 'Reader mode, posting permitted')];
  };

  const authinfo: Handler = (argument) => {
    const [keyword, value] = splitKeyword(argument);
    if (keyword === 'SASL') return [send(503, 'AUTHINFO SASL is not supported')];
    if (keyword !== 'USER' && keyword !== 'PASS') return [send(501, 'Syntax error in AUTHINFO command')];
    if (!loginAllowed()) return [send(483, 'Encryption or stronger authentication required')];
    // RFC 4643 3.1 (erratum 1787) lets a server take the rest of the line, spaces included, as
    // the name or password, as INN's nnrpd does; so does this.
    if (value === '' || UNSENDABLE.test(value)) return [send(501, 'Syntax error in AUTHINFO command')];
    if (keyword === 'USER') {
      pendingUser = value;
      return [send(381, 'Password required')];
    }
    if (pendingUser === null) return [send(482, 'Authentication commands issued out of sequence')];
    const username = decodeNntpText(pendingUser);
    pendingUser = null;
    phase = 'login-pending';
    return [{ kind: 'login', credentials: { username, password: decodeNntpText(value), mechanism: 'AUTHINFO' } }];
  };

  const startTls: Handler = (argument) => {
    if (argument.trim() !== '') return [send(501, 'STARTTLS takes no arguments')];
    if (secure) return [send(502, 'Already using TLS')];
    if (!options.startTlsAvailable) return [send(502, 'STARTTLS is not available')];
    phase = 'tls-handshake';
    return [{ kind: 'starttls', data: formatNntpReply(382, 'Continue with TLS negotiation') }];
  };

  const quit: Handler = () => close(formatNntpReply(205, 'Bye'));

  // 483 rather than 480 where logging in is impossible until the connection is encrypted (RFC 4643 2.2).
  const loginRequired: Handler = () =>
    loginAllowed() ? [send(480, 'Authentication required')] : [send(483, 'Encryption or stronger authentication required')];

  const handlers: Record<Verb, Handler> = {
    AUTHINFO: authinfo,
    CAPABILITIES: capabilities,
    HELP: help,
    MODE: mode,
    QUIT: quit,
    STARTTLS: startTls,
    ...sameHandler(LOGIN_REQUIRED_VERBS, loginRequired),
  };

  return {
    start: () => [send(200, `${options.hostname} roamgate news proxy ready (posting ok)`)],

    onLine(line) {
      // Lines after 382 and before the handshake came in cleartext, possibly injected by a man
      // in the middle; RFC 4642 2.2.2 has them discarded. Lines in the other phases are not ours.
      if (phase !== 'commands') return [];
      commands += 1;
      if (commands > options.maxUnauthenticatedCommands) return close(formatNntpReply(400, 'Too many commands without logging in'));
      const [verb, argument] = splitKeyword(line);
      const handler = Object.hasOwn(handlers, verb) ? handlers[verb as Verb] : null;
      return handler ? handler(argument) : [send(500, 'Unknown command')];
    },

    onLineTooLong() {
      // While a login is checked the line cannot wait (the reader drops it): close, as POP3 and SMTP do.
      if (phase === 'closed' || phase === 'logged-in') return [];
      // Mid-handshake the client is owed nothing in cleartext.
      return close(phase === 'tls-handshake' ? '' : formatNntpReply(500, 'Line too long'));
    },

    tlsStarted() {
      if (phase !== 'tls-handshake') return;
      // RFC 4642 2.2.2: forget what the client said before TLS. MODE READER is kept: it chose
      // the service, and clients such as python's nntplib do not repeat it after STARTTLS.
      phase = 'commands';
      secure = true;
      pendingUser = null;
    },

    loginSucceeded() {
      if (phase !== 'closed') phase = 'logged-in';
      return formatNntpReply(281, 'Authentication accepted');
    },

    loginFailed(reason) {
      if (phase !== 'login-pending') return [];
      phase = 'commands';
      failedLogins += 1;
      const refusal = formatNntpReply(481, reason.trim() === '' ? 'Authentication failed' : reason);
      if (failedLogins >= options.maxLoginAttempts) return close(refusal + formatNntpReply(400, 'Too many failed logins'));
      return [{ kind: 'send', data: refusal }];
    },

    get modeReader() {
      return modeReader;
    },

    get buffered() {
      return pendingUser?.length ?? 0;
    },
  };
}

function sameHandler<V extends string>(verbs: readonly V[], handler: Handler): Record<V, Handler> {
  return Object.fromEntries(verbs.map((verb) => [verb, handler])) as Record<V, Handler>;
}
