import type { ServerAction, ServerDialogue, ServerDialogueOptions } from '../dialogue';
import { isReadyGreeting } from '../greeting';
import { sanitizeReplyText } from '../reply-text';
import { encodePlain } from '../sasl';
import { parsePop3Status, type Pop3Status } from './replies';

/** Most capability lines read from one CAPA reply; a server sending more is treated as broken. */
export const MAX_POP3_CAPABILITY_LINES = 100;

/** RFC 5034 section 4: an AUTH command with its initial response may not exceed 255 octets, CRLF included. */
const MAX_AUTH_COMMAND_LENGTH = 255;

/**
 * The adapter as a POP3 client of the user's server: greeting, then (with
 * `startTls`) CAPA, STLS and CAPA again over TLS, then the login with the
 * user's credentials, USER/PASS unless the server lists only SASL PLAIN.
 * Never pipelines, never throws, never sends credentials before TLS when
 * `startTls` is set.
 */
export function createPop3ServerDialogue(options: ServerDialogueOptions): ServerDialogue {
  return new Pop3ServerDialogue(options);
}

type Awaiting =
  | 'greeting'
  /** The status line of a CAPA reply. */
  | 'capa'
  /** The lines of a CAPA reply, up to `.`. */
  | 'capa-list'
  | 'stls'
  /** STLS accepted: the adapter is running the handshake and calls `tlsStarted()`. */
  | 'handshake'
  | 'user'
  | 'pass'
  /** `AUTH PLAIN` sent without an initial response: waiting for `+ `. */
  | 'auth-continue'
  | 'auth'
  | 'done';

interface Capabilities {
  stls: boolean;
  user: boolean;
  saslPlain: boolean;
  lines: number;
}

/** Codes (RFC 2449, RFC 3206) saying the login failed for a reason other than the credentials. */
function isSystemRefusal(code: string | undefined): boolean {
  const level = code?.split('/')[0];
  return level === 'SYS' || level === 'IN-USE' || level === 'LOGIN-DELAY';
}

class Pop3ServerDialogue implements ServerDialogue {
  private awaiting: Awaiting = 'greeting';
  private tlsActive = false;
  private capabilities: Capabilities = { stls: false, user: false, saslPlain: false, lines: 0 };
  private readonly username: string;
  private readonly password: string;
  /** Credentials no POP3 command line can carry are refused before anything is sent. */
  private readonly credentialsCarriable: boolean;

  constructor(private readonly options: ServerDialogueOptions) {
    this.username = options.credentials.username;
    this.password = options.credentials.password;
    this.credentialsCarriable = [this.username, this.password].every((text) => text.length > 0 && !/[\r\n\0]/.test(text));
  }

  onLine(line: string): ServerAction[] {
    switch (this.awaiting) {
      case 'done':
        return [];
      case 'greeting':
        return this.greeting(line);
      case 'capa':
        return this.capaStatus(line);
      case 'capa-list':
        return this.capaLine(line);
      case 'stls':
        return this.stlsReply(line);
      case 'handshake':
        // A server says nothing between `+OK` to STLS and the handshake: these are injected.
        return this.fail(false, 'The POP3 server sent data before the TLS handshake');
      case 'user':
        return this.userReply(line);
      case 'pass':
      case 'auth':
        return this.loginReply(line);
      case 'auth-continue':
        return this.authContinue(line);
    }
  }

  tlsStarted(): ServerAction[] {
    if (this.awaiting !== 'handshake') return [];
    this.tlsActive = true;
    // RFC 2595 section 4: capabilities learnt before TLS are void; ask again.
    return this.send('CAPA', 'capa');
  }

  private greeting(line: string): ServerAction[] {
    if (!isReadyGreeting('pop3', line)) {
      const status = parsePop3Status(line);
      if (status && !status.ok) return this.fail(false, sanitizeReplyText(status.text) || 'The POP3 server is not ready');
      return this.fail(false, 'The POP3 server sent no valid greeting');
    }
    // The client dialogue never lets such credentials through: these come from the configuration.
    if (!this.credentialsCarriable) return this.fail(false, 'The user name or password for the POP3 server cannot be sent in POP3');
    if (this.options.startTls) return this.send('CAPA', 'capa');
    // Without TLS to negotiate, nothing in CAPA would change the plan: go straight to USER, as nginx does.
    return this.send(`USER ${this.username}`, 'user');
  }

  private capaStatus(line: string): ServerAction[] {
    const status = parsePop3Status(line);
    if (status === null) return this.unexpected();
    if (status.ok) {
      this.capabilities = { stls: false, user: false, saslPlain: false, lines: 0 };
      this.awaiting = 'capa-list';
      return [];
    }
    if (!this.tlsActive) return this.fail(false, 'The POP3 server does not offer STLS');
    return this.beginLogin();
  }

  private capaLine(line: string): ServerAction[] {
    if (line === '.') {
      if (this.tlsActive) return this.beginLogin();
      if (!this.capabilities.stls) return this.fail(false, 'The POP3 server does not offer STLS');
      return this.send('STLS', 'stls');
    }
    this.capabilities.lines += 1;
    if (this.capabilities.lines > MAX_POP3_CAPABILITY_LINES) return this.fail(false, 'The POP3 server sent too many capabilities');
    const [name, ...parameters] = (line.startsWith('..') ? line.slice(1) : line).trim().toUpperCase().split(/\s+/);
    if (name === 'STLS') this.capabilities.stls = true;
    else if (name === 'USER') this.capabilities.user = true;
    else if (name === 'SASL' && parameters.includes('PLAIN')) this.capabilities.saslPlain = true;
    return [];
  }

  private stlsReply(line: string): ServerAction[] {
    const status = parsePop3Status(line);
    if (status === null) return this.unexpected();
    if (!status.ok) return this.fail(false, status.text ? `The POP3 server refused STLS: ${status.text}` : 'The POP3 server refused STLS');
    this.awaiting = 'handshake';
    return [{ kind: 'starttls' }];
  }

  /** USER/PASS where the server lists USER, or lists no SASL PLAIN either (or no CAPA was asked). */
  private beginLogin(): ServerAction[] {
    const { user, saslPlain } = this.capabilities;
    if (!this.tlsActive || user || !saslPlain) return this.send(`USER ${this.username}`, 'user');
    const response = encodePlain(this.username, this.password);
    const command = `AUTH PLAIN ${response}`;
    if (command.length + 2 <= MAX_AUTH_COMMAND_LENGTH) return this.send(command, 'auth');
    return this.send('AUTH PLAIN', 'auth-continue');
  }

  private userReply(line: string): ServerAction[] {
    const status = parsePop3Status(line);
    if (status === null) return this.unexpected();
    if (!status.ok) return this.loginRefused(status);
    return this.send(`PASS ${this.password}`, 'pass');
  }

  private authContinue(line: string): ServerAction[] {
    const status = parsePop3Status(line);
    if (status !== null) return status.ok ? this.unexpected() : this.loginRefused(status);
    if (!/^\+(?: |$)/.test(line)) return this.unexpected();
    return this.send(encodePlain(this.username, this.password), 'auth');
  }

  private loginReply(line: string): ServerAction[] {
    const status = parsePop3Status(line);
    if (status === null) return this.unexpected();
    if (!status.ok) return this.loginRefused(status);
    this.awaiting = 'done';
    return [{ kind: 'ready' }];
  }

  /**
   * `-ERR` to USER, PASS or AUTH: the credentials were refused, unless the
   * response code says the system refused (`[SYS/TEMP]`, `[SYS/PERM]`,
   * `[IN-USE]`, `[LOGIN-DELAY]`). The server's text goes to the client with its code.
   */
  private loginRefused(status: Pop3Status): ServerAction[] {
    const system = isSystemRefusal(status.responseCode);
    return this.fail(!system, sanitizeReplyText(status.text) || (system ? 'The POP3 server refused the login' : 'Authentication failed'));
  }

  private unexpected(): ServerAction[] {
    return this.fail(false, 'Unexpected reply from the POP3 server');
  }

  private send(command: string, next: Awaiting): ServerAction[] {
    this.awaiting = next;
    return [{ kind: 'send', data: `${command}\r\n` }];
  }

  private fail(authentication: boolean, reason: string): ServerAction[] {
    this.awaiting = 'done';
    return [{ kind: 'failed', authentication, reason: sanitizeReplyText(reason) }];
  }
}
