import { carriable, credentialText } from '../credential-text';
import type { ClientAction, ClientDialogue, ClientDialogueOptions, Credentials } from '../dialogue';
import { parsePlain } from '../sasl';
import { formatPop3Continuation, formatPop3Failure, formatPop3MultiLine, formatPop3Reply } from './replies';

/**
 * What the adapter tells a client in the AUTHORIZATION state (RFC 1939), as
 * a pure state machine: CAPA (RFC 2449), STLS (RFC 2595), USER/PASS and
 * AUTH PLAIN (RFC 5034), response codes (RFC 3206). The login it collects is
 * handed to the adapter, which checks it, logs in at the user's own server and
 * relays; everything after the login is the server's.
 */
export function createPop3ClientDialogue(options: ClientDialogueOptions): ClientDialogue {
  return new Pop3ClientDialogue(options);
}

type Verb =
  | 'CAPA'
  | 'STLS'
  | 'USER'
  | 'PASS'
  | 'AUTH'
  | 'APOP'
  | 'QUIT'
  | 'NOOP'
  | 'STAT'
  | 'LIST'
  | 'RETR'
  | 'DELE'
  | 'RSET'
  | 'TOP'
  | 'UIDL';

type Handler = (argument: string | undefined) => ClientAction[];

type Phase =
  /** Reading commands (RFC 1939 AUTHORIZATION state). */
  | 'authorization'
  /** `AUTH PLAIN` without an initial response: the next line is the client's base64 response. */
  | 'sasl-plain'
  /** STLS was accepted; until `tlsStarted()` every line is plaintext injected ahead of the handshake. */
  | 'tls-pending'
  /** A `login` action is out; the adapter answers with `loginSucceeded()` or `loginFailed()`. */
  | 'login-pending'
  | 'logged-in'
  | 'closed';

/**
 * Capabilities that describe the user's server after the login, not the
 * adapter: the relay passes the session through untouched, so these are the
 * ones every server we relay to (dovecot, and any RFC 2449 server worth the
 * name) implements. Left out on purpose:
 * - APOP: it needs a timestamp in the greeting and never gives us the
 *   password we must log in at the user's server with.
 * - SASL mechanisms other than PLAIN: LOGIN adds nothing, challenge-response
 *   mechanisms (CRAM-MD5, SCRAM) hide the password from us as well.
 * - EXPIRE, LOGIN-DELAY: server policy we cannot know before picking the server.
 * - UTF8, LANG (RFC 6856): they change the session in the AUTHORIZATION state,
 *   which we would have to replay at the server; IMPLEMENTATION: says nothing useful.
 * USER and SASL PLAIN are only listed where the login would be accepted, so a
 * client (curl, Thunderbird) that finds neither goes for STLS first.
 */
const SESSION_CAPABILITIES = ['RESP-CODES', 'AUTH-RESP-CODE', 'UIDL', 'TOP'] as const;

const GOODBYE = formatPop3Reply(true, 'Bye');
const LOGGED_IN = formatPop3Reply(true, 'Logged in');
const LINE_TOO_LONG = formatPop3Reply(false, 'Line too long');
const UNKNOWN_COMMAND = formatPop3Reply(false, 'Unknown command');
const LOG_IN_FIRST = formatPop3Reply(false, 'Log in first', 'AUTH');
const USER_FIRST = formatPop3Reply(false, 'USER first');
const TOO_MANY_COMMANDS = formatPop3Reply(false, 'Too many commands without logging in');
const TOO_MANY_FAILURES = formatPop3Reply(false, 'Too many failed logins', 'AUTH');
const BAD_CREDENTIAL_TEXT = formatPop3Reply(false, 'User name and password must be UTF-8 without CR, LF or NUL');
/** The adapter fed a line while it was checking a login: its contract is to hold them back (see ClientDialogue). */
const LINE_DURING_LOGIN = formatPop3Reply(false, 'Command received while the login was being checked', 'SYS/TEMP');

class Pop3ClientDialogue implements ClientDialogue {
  private phase: Phase = 'authorization';
  private greeted = false;
  private secure: boolean;
  private startTlsAvailable: boolean;
  /** The name given with USER, until PASS, STLS or a failed login. Bounded by maxLineLength. */
  private user: string | null = null;
  private commands = 0;
  private failedLogins = 0;

  private readonly handlers: Record<Verb, Handler> = {
    CAPA: () => this.capa(),
    STLS: () => this.stls(),
    USER: (argument) => this.userCommand(argument),
    PASS: (argument) => this.pass(argument),
    AUTH: (argument) => this.auth(argument),
    APOP: () => this.reply(false, 'APOP is not available, use USER/PASS or AUTH PLAIN'),
    QUIT: () => this.close(GOODBYE),
    // NOOP belongs to the TRANSACTION state (RFC 1939), but clients that probe
    // a connection with it are better served by +OK than by an error; it
    // counts towards maxUnauthenticatedCommands like any other command.
    NOOP: () => this.reply(true, ''),
    STAT: () => this.send(LOG_IN_FIRST),
    LIST: () => this.send(LOG_IN_FIRST),
    RETR: () => this.send(LOG_IN_FIRST),
    DELE: () => this.send(LOG_IN_FIRST),
    RSET: () => this.send(LOG_IN_FIRST),
    TOP: () => this.send(LOG_IN_FIRST),
    UIDL: () => this.send(LOG_IN_FIRST),
  };

  constructor(private readonly options: ClientDialogueOptions) {
    this.secure = options.secure;
    this.startTlsAvailable = options.startTlsAvailable && !options.secure;
  }

  start(): ClientAction[] {
    if (this.greeted || this.phase === 'closed') return [];
    this.greeted = true;
    // No `<...>` in the greeting: curl and other clients take it for an APOP timestamp.
    const hostname = this.options.hostname.replace(/[<>]/g, '');
    return this.reply(true, `${hostname} POP3 roamgate ready`);
  }

  onLine(line: string): ClientAction[] {
    switch (this.phase) {
      case 'closed':
      case 'logged-in':
      case 'tls-pending': // dropped: commands injected ahead of the TLS handshake (CVE-2011-0411)
        return [];
      case 'login-pending':
        return this.close(LINE_DURING_LOGIN);
      case 'authorization':
      case 'sasl-plain':
        break;
    }
    this.commands += 1;
    if (this.commands > this.options.maxUnauthenticatedCommands) return this.close(TOO_MANY_COMMANDS);
    if (this.phase === 'sasl-plain') return this.plainResponse(line);
    const space = line.indexOf(' ');
    const word = space === -1 ? line : line.slice(0, space);
    const argument = space === -1 ? undefined : line.slice(space + 1);
    // Only ASCII letters: toUpperCase would make 'ſtls' into 'STLS'.
    if (!/^[A-Za-z]{1,8}$/.test(word)) return this.send(UNKNOWN_COMMAND);
    const verb = word.toUpperCase();
    if (!Object.hasOwn(this.handlers, verb)) return this.send(UNKNOWN_COMMAND);
    return this.handlers[verb as Verb](argument);
  }

  onLineTooLong(): ClientAction[] {
    switch (this.phase) {
      case 'closed':
      case 'logged-in':
        return [];
      case 'tls-pending':
        return this.close(''); // no plaintext into a connection that is becoming TLS
      default:
        return this.close(LINE_TOO_LONG);
    }
  }

  tlsStarted(): void {
    if (this.phase !== 'tls-pending') return;
    // RFC 2595 section 4: back to a fresh AUTHORIZATION state, nothing remembered.
    this.secure = true;
    this.startTlsAvailable = false;
    this.user = null;
    this.phase = 'authorization';
  }

  loginSucceeded(): string {
    if (this.phase !== 'login-pending') return '';
    this.phase = 'logged-in';
    return LOGGED_IN;
  }

  loginFailed(reason: string): ClientAction[] {
    if (this.phase !== 'login-pending') return [];
    this.failedLogins += 1;
    if (this.failedLogins >= this.options.maxLoginAttempts) return this.close(TOO_MANY_FAILURES);
    this.phase = 'authorization';
    // A reason from the server keeps its own code ([AUTH], [SYS/TEMP], [IN-USE]).
    return this.send(formatPop3Failure(reason, 'AUTH'));
  }

  private capa(): ClientAction[] {
    const lines = [
      ...(this.loginAllowed() ? ['USER', 'SASL PLAIN'] : []),
      ...(this.startTlsAvailable ? ['STLS'] : []),
      ...SESSION_CAPABILITIES,
      // Only when the operator says the servers pipeline: after login the client talks to them.
      ...(this.options.pipelining ? ['PIPELINING'] : []),
    ];
    return this.send(formatPop3MultiLine('Capability list follows', lines));
  }

  private stls(): ClientAction[] {
    if (this.secure) return this.reply(false, 'TLS is already active');
    if (!this.startTlsAvailable) return this.reply(false, 'STLS is not available');
    this.phase = 'tls-pending';
    return [{ kind: 'starttls', data: formatPop3Reply(true, 'Begin TLS negotiation') }];
  }

  private userCommand(argument: string | undefined): ClientAction[] {
    if (!this.loginAllowed()) return this.cleartextRefused();
    if (!argument) return this.reply(false, 'Syntax: USER name');
    const name = credentialText(argument);
    if (name === null) return this.send(BAD_CREDENTIAL_TEXT);
    this.user = name;
    return this.reply(true, '');
  }

  private pass(argument: string | undefined): ClientAction[] {
    if (!this.loginAllowed()) return this.cleartextRefused();
    if (this.user === null) return this.send(USER_FIRST);
    // RFC 1939: the password is the rest of the line, spaces included.
    if (!argument) return this.reply(false, 'Syntax: PASS password');
    const password = credentialText(argument);
    if (password === null) return this.send(BAD_CREDENTIAL_TEXT);
    const username = this.user;
    this.user = null;
    return this.login({ username, password, mechanism: 'USER' });
  }

  private auth(argument: string | undefined): ClientAction[] {
    if (!this.loginAllowed()) return this.cleartextRefused();
    // AUTH alone lists the mechanisms: not in RFC 5034, but Outlook and others ask.
    if (argument === undefined) return this.send(formatPop3MultiLine('', ['PLAIN']));
    const [mechanism, initial, ...extra] = argument.split(' ');
    if (mechanism.toUpperCase() !== 'PLAIN') return this.reply(false, 'Unsupported authentication mechanism');
    if (extra.length > 0) return this.reply(false, 'Syntax: AUTH PLAIN [initial-response]');
    if (initial === undefined) {
      this.phase = 'sasl-plain';
      return this.send(formatPop3Continuation());
    }
    return this.plainCredentials(initial);
  }

  private plainResponse(line: string): ClientAction[] {
    this.phase = 'authorization';
    if (line === '*') return this.reply(false, 'AUTH cancelled');
    return this.plainCredentials(line);
  }

  private plainCredentials(base64: string): ClientAction[] {
    const plain = parsePlain(base64);
    if (plain === null) return this.reply(false, 'Invalid AUTH PLAIN response');
    if (!carriable(plain.username) || !carriable(plain.password)) return this.send(BAD_CREDENTIAL_TEXT);
    return this.login({ username: plain.username, password: plain.password, mechanism: 'PLAIN' });
  }

  private login(credentials: Credentials): ClientAction[] {
    this.phase = 'login-pending';
    return [{ kind: 'login', credentials }];
  }

  private loginAllowed(): boolean {
    return this.secure || this.options.allowCleartextLogin;
  }

  private cleartextRefused(): ClientAction[] {
    const text = this.startTlsAvailable ? 'Cleartext login is disabled, use STLS first' : 'Cleartext login is disabled';
    return this.send(formatPop3Reply(false, text, 'SYS/PERM'));
  }

  private reply(ok: boolean, text: string): ClientAction[] {
    return this.send(formatPop3Reply(ok, text));
  }

  private send(data: string): ClientAction[] {
    return [{ kind: 'send', data }];
  }

  private close(data: string): ClientAction[] {
    this.phase = 'closed';
    this.user = null;
    return [{ kind: 'close', data }];
  }
}
