import { carriable } from '../credential-text';
import type { ServerAction, ServerDialogue, ServerDialogueOptions } from '../dialogue';
import { sanitizeReplyText } from '../reply-text';
import { encodePlain } from '../sasl';
import { literalAt } from './command';
import { type ImapResponse, type ImapResponseCode, parseCapabilities, parseImapResponse } from './replies';

export interface ImapServerDialogueOptions extends ServerDialogueOptions {
  /** Called once, with what the server's login reply says its capabilities now are (empty when it says nothing). */
  loggedIn?: (capabilities: readonly string[]) => void;
}

/**
 * The adapter as an IMAP client of the user's server: greeting, CAPABILITY
 * unless the greeting carries it, with `startTls` STARTTLS and CAPABILITY
 * again over TLS, then the login with the user's credentials: AUTHENTICATE
 * PLAIN (with SASL-IR where offered) when the server lists AUTH=PLAIN, else
 * LOGIN with quoted strings, or literals for what a quoted string cannot
 * hold. Never pipelines, never throws, never sends credentials before TLS
 * when `startTls` is set.
 */
export function createImapServerDialogue(options: ImapServerDialogueOptions): ServerDialogue {
  return new ImapServerDialogue(options);
}

type Awaiting =
  | 'greeting'
  /** The tagged reply to CAPABILITY, untagged `* CAPABILITY` before it. */
  | 'capability'
  | 'starttls'
  /** STARTTLS accepted: the adapter is running the handshake and calls `tlsStarted()`. */
  | 'handshake'
  /** A `+` before the next part of the login: after a synchronizing literal, or AUTHENTICATE PLAIN without SASL-IR. */
  | 'continue'
  /** The tagged reply to LOGIN or AUTHENTICATE. */
  | 'login'
  | 'done';

/** RFC 5530 codes saying a login failed for a reason other than the credentials: the next server may do. */
const SYSTEM_CODES = new Set(['UNAVAILABLE', 'SERVERBUG', 'INUSE', 'LIMIT', 'CONTACTADMIN']);

/** What a quoted string can hold as it is: printable ASCII (RFC 9051 `quoted`, `"` and `\` escaped). */
const QUOTABLE = /^[\x20-\x7e]*$/;

class ImapServerDialogue implements ServerDialogue {
  private awaiting: Awaiting = 'greeting';
  private tlsActive = false;
  /** What the server said it can do, before the login; null until it said. */
  private capabilities: Set<string> | null = null;
  /** Untagged `* CAPABILITY` sent with the login reply. */
  private loginCapabilities: string[] = [];
  private tags = 0;
  private tag = '';
  /** Parts of the login still to send, each after a `+` from the server. */
  private pending: string[] = [];

  constructor(private readonly options: ImapServerDialogueOptions) {}

  onLine(line: string): ServerAction[] {
    if (this.awaiting === 'done') return [];
    // A server says nothing between its OK to STARTTLS and the handshake: these are injected.
    if (this.awaiting === 'handshake') return this.fail(false, 'The IMAP server sent data before the TLS handshake');
    const response = parseImapResponse(line);
    if (response === null) return this.unexpected();
    if (this.awaiting === 'greeting') return this.greeting(response);
    switch (response.kind) {
      case 'continuation':
        return this.continuation();
      case 'status':
        if (response.status === 'BYE')
          return this.fail(false, reasonOf('The IMAP server closed the connection', response.code, response.text));
        return []; // an untagged OK, NO or BAD is news, not an answer
      case 'data':
        return this.data(response.name, response.rest);
      case 'tagged':
        return this.tagged(response);
    }
  }

  tlsStarted(): ServerAction[] {
    if (this.awaiting !== 'handshake') return [];
    this.tlsActive = true;
    // RFC 9051 section 6.2.1: capabilities learnt before TLS are void; ask again.
    this.capabilities = null;
    return this.command('CAPABILITY', 'capability');
  }

  private greeting(response: ImapResponse): ServerAction[] {
    if (response.kind !== 'status') return this.fail(false, 'The IMAP server sent no valid greeting');
    if (response.status === 'BYE' || response.status === 'NO' || response.status === 'BAD')
      return this.fail(false, reasonOf('The IMAP server is not ready', response.code, response.text));
    const announced = response.code?.name === 'CAPABILITY' ? parseCapabilities(response.code.data) : undefined;
    if (response.status === 'PREAUTH') {
      // Logged in before TLS could start: STARTTLS is no longer allowed, and a session in cleartext is not what was asked for.
      if (this.options.startTls)
        return this.fail(false, 'The IMAP server logged us in before TLS (PREAUTH): refusing a session without TLS');
      return this.ready(announced ?? []);
    }
    const { username, password } = this.options.credentials;
    if (username === '' && password === '') return this.fail(false, 'The IMAP server asks for a login, and none is configured for it');
    // The client dialogue never lets such credentials through: these come from the configuration.
    if (!carriable(username) || !carriable(password))
      return this.fail(false, 'The user name or password for the IMAP server cannot be sent in IMAP');
    if (announced === undefined) return this.command('CAPABILITY', 'capability');
    this.capabilities = new Set(announced.map((name) => name.toUpperCase()));
    return this.proceed();
  }

  private continuation(): ServerAction[] {
    if (this.awaiting !== 'continue') return this.unexpected();
    const next = this.pending.shift()!;
    if (this.pending.length === 0) this.awaiting = 'login';
    return [{ kind: 'send', data: next }];
  }

  private data(name: string, rest: string): ServerAction[] {
    // Nothing during a login holds a literal; its bytes would be read as responses.
    if (literalAt(rest) !== null) return this.fail(false, 'The IMAP server sent a literal during the login');
    if (name !== 'CAPABILITY') return [];
    if (this.awaiting === 'capability') this.capabilities = new Set(parseCapabilities(rest).map((capability) => capability.toUpperCase()));
    else if (this.awaiting === 'login' || this.awaiting === 'continue') this.loginCapabilities = parseCapabilities(rest);
    return [];
  }

  private tagged(response: Extract<ImapResponse, { kind: 'tagged' }>): ServerAction[] {
    if (response.tag !== this.tag) return this.unexpected();
    switch (this.awaiting) {
      case 'capability':
        if (response.status !== 'OK') return this.fail(false, reasonOf('The IMAP server refused CAPABILITY', response.code, response.text));
        this.capabilities ??= new Set();
        return this.proceed();
      case 'starttls':
        if (response.status !== 'OK') return this.fail(false, reasonOf('The IMAP server refused STARTTLS', response.code, response.text));
        this.awaiting = 'handshake';
        return [{ kind: 'starttls' }];
      default:
        return this.loginReply(response.status, response.code, response.text);
    }
  }

  /** Capabilities known: STARTTLS first if asked for, then the login. */
  private proceed(): ServerAction[] {
    const capabilities = this.capabilities!;
    if (this.options.startTls && !this.tlsActive) {
      if (!capabilities.has('STARTTLS')) return this.fail(false, 'The IMAP server does not offer STARTTLS');
      return this.command('STARTTLS', 'starttls');
    }
    const { username, password } = this.options.credentials;
    if (capabilities.has('AUTH=PLAIN')) {
      const response = encodePlain(username, password);
      if (capabilities.has('SASL-IR')) return this.command(`AUTHENTICATE PLAIN ${response}`, 'login');
      return this.command('AUTHENTICATE PLAIN', 'continue', [`${response}\r\n`]);
    }
    if (capabilities.has('LOGINDISABLED'))
      return this.fail(false, `The IMAP server takes no login here (LOGINDISABLED)${this.tlsActive ? '' : ': the server entry needs tls'}`);
    return this.logIn(username, password);
  }

  /**
   * LOGIN with two astrings: quoted where the text is printable ASCII, else
   * a synchronizing literal of its UTF-8 bytes, each sent after the server's
   * `+` (LITERAL+ would save the round trip, but keeps every write one line).
   */
  private logIn(username: string, password: string): ServerAction[] {
    const parts: string[] = [];
    let current = 'LOGIN';
    for (const value of [username, password]) {
      if (QUOTABLE.test(value)) current += ` "${value.replace(/["\\]/g, '\\$&')}"`;
      else {
        parts.push(`${current} {${Buffer.byteLength(value, 'utf8')}}`);
        current = value;
      }
    }
    parts.push(current);
    const [first, ...rest] = parts;
    return this.command(
      first,
      rest.length > 0 ? 'continue' : 'login',
      rest.map((part) => `${part}\r\n`),
    );
  }

  private loginReply(status: 'OK' | 'NO' | 'BAD', code: ImapResponseCode | undefined, text: string): ServerAction[] {
    if (status === 'OK') return this.ready(code?.name === 'CAPABILITY' ? parseCapabilities(code.data) : this.loginCapabilities);
    if (status === 'BAD') return this.fail(false, reasonOf('The IMAP server rejected the login command', code, text));
    const system = code !== undefined && SYSTEM_CODES.has(code.name);
    // The server's text goes to the client with its code: `[AUTHENTICATIONFAILED] Authentication failed.`
    const reason = code ? `[${code.name}] ${text}` : text;
    return this.fail(!system, sanitizeReplyText(reason) || (system ? 'The IMAP server refused the login' : 'Authentication failed'));
  }

  private ready(capabilities: readonly string[]): ServerAction[] {
    this.awaiting = 'done';
    this.options.loggedIn?.(capabilities);
    return [{ kind: 'ready' }];
  }

  private unexpected(): ServerAction[] {
    return this.fail(false, 'Unexpected reply from the IMAP server');
  }

  /** Sends a command under a new tag; `pending` are its later parts, each sent after a `+`. */
  private command(command: string, next: Awaiting, pending: string[] = []): ServerAction[] {
    this.tags += 1;
    this.tag = `rg${this.tags}`;
    this.awaiting = next;
    this.pending = pending;
    return [{ kind: 'send', data: `${this.tag} ${command}\r\n` }];
  }

  private fail(authentication: boolean, reason: string): ServerAction[] {
    this.awaiting = 'done';
    return [{ kind: 'failed', authentication, reason: sanitizeReplyText(reason) }];
  }
}

/** `what: [CODE] text` for a failure, or `what` alone when the server said nothing. */
function reasonOf(what: string, code: ImapResponseCode | undefined, text: string): string {
  const said = `${code ? `[${code.name}] ` : ''}${text}`.trim();
  return said ? `${what}: ${said}` : what;
}
