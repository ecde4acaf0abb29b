import type { RoamgateError } from '../../errors';
import { carriable, credentialText } from '../credential-text';
import type { ClientAction, ClientDialogue, ClientDialogueOptions, Credentials } from '../dialogue';
import { decodeBase64, parsePlain } from '../sasl';
import { ArgumentScanner, literalAt, parseCommandStart } from './command';
import { type Assembly, CommandAssembler } from './command-assembler';
import {
  formatImapCapabilities,
  formatImapContinuation,
  formatImapFailure,
  formatImapTagged,
  formatImapUntagged,
  imapRefusal,
  imapRefusalCode,
} from './replies';

/** The IMAP client dialogue, with what the adapter tells it of the server it logged in at. */
export interface ImapClientDialogue extends ClientDialogue {
  /** The capabilities the server announced with its login reply: passed on in the client's `OK [CAPABILITY ...]`. */
  useServerCapabilities(capabilities: readonly string[]): void;
  /** Bytes of a command held while its literals arrive (bounded by maxLineLength plus one line). */
  readonly heldBytes: number;
  lastWords(error: RoamgateError): string;
}

/**
 * What the adapter tells a client in the not-authenticated state (RFC 9051,
 * RFC 3501), as a pure state machine: CAPABILITY, NOOP, LOGOUT, ID (RFC
 * 2971), STARTTLS, LOGIN with quoted strings and literals (`{n}`, and
 * `{n+}` from RFC 7888), AUTHENTICATE PLAIN with and without an initial
 * response (RFC 4959), response codes (RFC 5530). The login it collects is
 * handed to the adapter, which checks it, logs in at the user's own server
 * and relays; everything after the login is the server's.
 */
export function createImapClientDialogue(options: ClientDialogueOptions): ImapClientDialogue {
  return new ImapDialogue(options);
}

type Verb = 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'ID' | 'STARTTLS' | 'LOGIN' | 'AUTHENTICATE';
type Handler = (tag: string, args: ArgumentScanner) => ClientAction[];

/** Commands of the authenticated and selected states (RFC 9051 6.3, 6.4, and common extensions): "log in first". */
const AFTER_LOGIN = new Set(
  'SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB NAMESPACE STATUS APPEND IDLE ENABLE CHECK CLOSE UNSELECT EXPUNGE SEARCH FETCH STORE COPY MOVE UID COMPRESS GETQUOTA GETQUOTAROOT SETQUOTA GETACL SETACL MYRIGHTS GETMETADATA SETMETADATA NOTIFY SORT THREAD'.split(
    ' ',
  ),
);

type Phase =
  /** Between commands. */
  | 'command'
  /** Inside a literal of the command `tag` / `name`. */
  | 'literal'
  /** `AUTHENTICATE PLAIN` without an initial response: the next line is the client's base64 response. */
  | 'sasl-plain'
  /** STARTTLS was accepted; until `tlsStarted()` every line is plaintext injected ahead of the handshake. */
  | 'tls-pending'
  /** A `login` action is out; the adapter answers with `loginSucceeded()` or `loginFailed()`. */
  | 'login-pending'
  | 'logged-in'
  | 'closed';

const LINE_TOO_LONG = formatImapUntagged('BYE', 'Line too long');
const TOO_MANY_COMMANDS = formatImapUntagged('BYE', 'Too many commands without logging in');
const TOO_MANY_FAILURES = formatImapUntagged('BYE', 'Too many failed logins');
const LITERAL_TOO_BIG = formatImapUntagged('BYE', 'Command with its literals too long', 'TOOBIG');
/** The adapter fed a line while it was checking a login: its contract is to hold them back (see ClientDialogue). */
const LINE_DURING_LOGIN = formatImapUntagged('BYE', 'Command received while the login was being checked', 'UNAVAILABLE');
const BAD_CREDENTIAL_TEXT = 'User name and password must be UTF-8 without CR, LF or NUL';

class ImapDialogue implements ImapClientDialogue {
  private phase: Phase = 'command';
  private greeted = false;
  private secure: boolean;
  private startTlsAvailable: boolean;
  private readonly assembler: CommandAssembler;
  /** The tag and name of the command being read, answered or checked. */
  private tag = '*';
  private name = '';
  private serverCapabilities: readonly string[] = [];
  /** The client asked for CAPABILITY itself (since TLS): it hears the server's in a CAPABILITY response, not a code. */
  private askedCapabilities = false;
  private commands = 0;
  private failedLogins = 0;

  private readonly handlers: Record<Verb, Handler> = {
    CAPABILITY: (tag, args) => this.noArguments(tag, args, () => this.capability(tag)),
    NOOP: (tag, args) => this.noArguments(tag, args, () => this.send(ok(tag, 'NOOP completed'))),
    LOGOUT: (tag, args) =>
      this.noArguments(tag, args, () => this.close(formatImapUntagged('BYE', 'Logging out') + ok(tag, 'Logout completed'))),
    ID: (tag, args) => this.id(tag, args),
    STARTTLS: (tag, args) => this.noArguments(tag, args, () => this.startTls(tag)),
    LOGIN: (tag, args) => this.loginCommand(tag, args),
    AUTHENTICATE: (tag, args) => this.authenticate(tag, args),
  };

  constructor(private readonly options: ClientDialogueOptions) {
    this.secure = options.secure;
    this.startTlsAvailable = options.startTlsAvailable && !options.secure;
    this.assembler = new CommandAssembler(options.maxLineLength);
  }

  get heldBytes(): number {
    return this.assembler.held;
  }

  start(): ClientAction[] {
    if (this.greeted || this.phase === 'closed') return [];
    this.greeted = true;
    const text = `${this.options.hostname} IMAP roamgate ready`;
    return this.send(formatImapUntagged('OK', text, `CAPABILITY ${this.capabilities().join(' ')}`));
  }

  onLine(line: string): ClientAction[] {
    switch (this.phase) {
      case 'closed':
      case 'logged-in':
      case 'tls-pending': // dropped: commands injected ahead of the TLS handshake (CVE-2011-0411)
        return [];
      case 'login-pending':
        return this.close(LINE_DURING_LOGIN);
      case 'literal':
        return this.assembled(this.assembler.feed(line));
      case 'sasl-plain':
      case 'command':
        break;
    }
    this.commands += 1;
    if (this.commands > this.options.maxUnauthenticatedCommands) return this.close(TOO_MANY_COMMANDS);
    if (this.phase === 'sasl-plain') return this.plainResponse(line);
    const start = parseCommandStart(line);
    if (!start.ok) {
      // Bytes of a literal that needs no `+` would follow; we cannot tell where the next command starts.
      if (literalAt(line)?.synchronizing === false) return this.close(formatImapUntagged('BYE', start.reason));
      return this.send(start.tag ? bad(start.tag, start.reason) : formatImapUntagged('BAD', start.reason));
    }
    this.tag = start.tag;
    this.name = start.name;
    return this.assembled(this.assembler.start(start.rest));
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
    // RFC 9051 section 6.2.1: nothing learnt before TLS is kept; the client asks for CAPABILITY again.
    this.secure = true;
    this.startTlsAvailable = false;
    this.askedCapabilities = false;
    this.phase = 'command';
  }

  useServerCapabilities(capabilities: readonly string[]): void {
    this.serverCapabilities = [...capabilities];
  }

  loginSucceeded(): string {
    if (this.phase !== 'login-pending') return '';
    this.phase = 'logged-in';
    // RFC 9051 section 6.2.3: a server may send its new capabilities with the OK; they are the server's, not ours.
    // As dovecot does: an untagged CAPABILITY to a client that asks for them itself, else a response code.
    if (this.serverCapabilities.length === 0) return ok(this.tag, 'Logged in');
    if (this.askedCapabilities) return formatImapCapabilities(this.serverCapabilities) + ok(this.tag, 'Logged in');
    return formatImapTagged(this.tag, 'OK', 'Logged in', `CAPABILITY ${this.serverCapabilities.join(' ')}`);
  }

  loginFailed(reason: string): ClientAction[] {
    if (this.phase !== 'login-pending') return [];
    this.failedLogins += 1;
    // A reason from the server keeps its own code ([AUTHENTICATIONFAILED], [UNAVAILABLE], [EXPIRED]).
    const failure = formatImapFailure(this.tag, 'NO', reason, 'AUTHENTICATIONFAILED');
    if (this.failedLogins >= this.options.maxLoginAttempts) return this.close(failure + TOO_MANY_FAILURES);
    this.phase = 'command';
    return this.send(failure);
  }

  /** A pending login that the adapter gives up on is answered by its tag before the BYE, so the client shows the reason. */
  lastWords(error: RoamgateError): string {
    if (this.phase === 'closed') return '';
    const pending = this.phase === 'login-pending';
    this.phase = 'closed';
    return (pending ? formatImapFailure(this.tag, 'NO', error.message, imapRefusalCode(error)) : '') + imapRefusal(error);
  }

  private assembled(assembly: Assembly): ClientAction[] {
    switch (assembly.kind) {
      case 'complete':
        this.phase = 'command';
        return this.execute(new ArgumentScanner(assembly.parts));
      case 'reading':
        this.phase = 'literal';
        return [];
      case 'too-big':
        this.phase = 'command';
        // A client waiting for `+` sends nothing more; one that does not wait cannot be read past safely.
        if (assembly.literal.synchronizing) return this.send(bad(this.tag, 'Command with its literals too long', 'TOOBIG'));
        return this.close(LITERAL_TOO_BIG);
      case 'literal': {
        const refusal = assembly.literal.synchronizing ? this.literalRefusal() : null;
        if (refusal !== null) {
          this.phase = 'command';
          return this.send(refusal);
        }
        this.assembler.accept(assembly.literal);
        this.phase = 'literal';
        return assembly.literal.synchronizing ? this.send(formatImapContinuation('Ready for literal data')) : [];
      }
    }
  }

  /** The answer, before its data, to a command that takes no literal here (RFC 9051 7.5: then the client sends none). */
  private literalRefusal(): string | null {
    if (this.name === 'ID') return null;
    if (this.name === 'LOGIN') return this.loginAllowed() ? null : this.cleartextRefusal(this.tag);
    if (AFTER_LOGIN.has(this.name)) return bad(this.tag, 'Log in first');
    return Object.hasOwn(this.handlers, this.name) ? bad(this.tag, 'Syntax error') : bad(this.tag, 'Unknown command');
  }

  private execute(args: ArgumentScanner): ClientAction[] {
    if (Object.hasOwn(this.handlers, this.name)) return this.handlers[this.name as Verb](this.tag, args);
    return this.send(bad(this.tag, AFTER_LOGIN.has(this.name) ? 'Log in first' : 'Unknown command'));
  }

  private noArguments(tag: string, args: ArgumentScanner, then: () => ClientAction[]): ClientAction[] {
    return args.atEnd() ? then() : this.send(bad(tag, 'Syntax error: no arguments expected'));
  }

  private capability(tag: string): ClientAction[] {
    this.askedCapabilities = true;
    return this.send(formatImapCapabilities(this.capabilities()) + ok(tag, 'Capability completed'));
  }

  private capabilities(): string[] {
    return [
      'IMAP4rev1',
      ...(this.startTlsAvailable ? ['STARTTLS'] : []),
      // RFC 9051 6.2.3: LOGINDISABLED where LOGIN would be refused; AUTH= only where it would be accepted.
      ...(this.loginAllowed() ? ['AUTH=PLAIN', 'SASL-IR'] : ['LOGINDISABLED']),
      'ID',
    ];
  }

  private id(tag: string, args: ArgumentScanner): ClientAction[] {
    if (!args.space() || !args.idParameters() || !args.atEnd()) return this.send(bad(tag, 'Syntax: ID NIL or ID ("name" "value" ...)'));
    return this.send(`* ID NIL\r\n${ok(tag, 'ID completed')}`);
  }

  private startTls(tag: string): ClientAction[] {
    if (this.secure) return this.send(bad(tag, 'TLS is already active'));
    if (!this.startTlsAvailable) return this.send(formatImapTagged(tag, 'NO', 'STARTTLS is not available'));
    this.phase = 'tls-pending';
    return [{ kind: 'starttls', data: ok(tag, 'Begin TLS negotiation now') }];
  }

  private loginCommand(tag: string, args: ArgumentScanner): ClientAction[] {
    if (!this.loginAllowed()) return this.send(this.cleartextRefusal(tag));
    const user = args.space() ? args.astring() : null;
    const pass = user !== null && args.space() ? args.astring() : null;
    if (pass === null || !args.atEnd()) return this.send(bad(tag, 'Syntax: LOGIN user-name password'));
    const username = credentialText(user!);
    const password = credentialText(pass);
    if (username === null || password === null) return this.send(bad(tag, BAD_CREDENTIAL_TEXT));
    return this.login({ username, password, mechanism: 'LOGIN' });
  }

  private authenticate(tag: string, args: ArgumentScanner): ClientAction[] {
    if (!this.loginAllowed()) return this.send(this.cleartextRefusal(tag));
    const mechanism = args.space() ? args.atom() : null;
    if (mechanism === null) return this.send(bad(tag, 'Syntax: AUTHENTICATE mechanism [initial-response]'));
    if (mechanism.toUpperCase() !== 'PLAIN') return this.send(formatImapTagged(tag, 'NO', 'Unsupported authentication mechanism'));
    if (args.atEnd()) {
      this.phase = 'sasl-plain';
      return this.send(formatImapContinuation());
    }
    const initial = args.space() ? args.atom() : null;
    if (initial === null || !args.atEnd()) return this.send(bad(tag, 'Syntax: AUTHENTICATE PLAIN [initial-response]'));
    // RFC 4959: `=` is an empty initial response.
    return this.plainCredentials(tag, initial === '=' ? '' : initial);
  }

  private plainResponse(line: string): ClientAction[] {
    this.phase = 'command';
    // RFC 9051 6.2.2: a client that cancels with `*` gets a tagged BAD.
    if (line === '*') return this.send(bad(this.tag, 'Authentication cancelled'));
    return this.plainCredentials(this.tag, line);
  }

  private plainCredentials(tag: string, base64: string): ClientAction[] {
    if (decodeBase64(base64) === null) return this.send(bad(tag, 'Invalid base64 in the SASL response'));
    const plain = parsePlain(base64);
    if (plain === null) return this.send(formatImapTagged(tag, 'NO', 'Invalid PLAIN response', 'AUTHENTICATIONFAILED'));
    if (!carriable(plain.username) || !carriable(plain.password)) return this.send(bad(tag, BAD_CREDENTIAL_TEXT));
    return this.login({ username: plain.username, password: plain.password, mechanism: 'PLAIN' });
  }

  private login(credentials: Credentials): ClientAction[] {
    this.phase = 'login-pending';
    return [{ kind: 'login', credentials }];
  }

  private loginAllowed(): boolean {
    return this.secure || this.options.allowCleartextLogin;
  }

  private cleartextRefusal(tag: string): string {
    const text = this.startTlsAvailable ? 'Cleartext login is disabled, use STARTTLS first' : 'Cleartext login is disabled';
    return formatImapTagged(tag, 'NO', text, 'PRIVACYREQUIRED');
  }

  private send(data: string): ClientAction[] {
    return [{ kind: 'send', data }];
  }

  private close(data: string): ClientAction[] {
    this.phase = 'closed';
    return [{ kind: 'close', data }];
  }
}

function ok(tag: string, text: string): string {
  return formatImapTagged(tag, 'OK', text);
}

function bad(tag: string, text: string, code?: string): string {
  return formatImapTagged(tag, 'BAD', text, code);
}
