import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { RoamgateError } from '../errors';
import type {
  ClientAction,
  ClientDialogue,
  ClientDialogueOptions,
  Credentials,
  PreLoginLimits,
  ServerDialogue,
} from '../protocols/dialogue';
import { LineReader } from '../protocols/line-reader';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import { connectServer } from '../net/connect-server';
import { asRoamgateError, ConnectionAttempt } from './connection-attempt';
import { type GatewayContext, isAnswer, type RelayLimits } from './gateway-context';
import type { LineProtocol } from './line-relay';
import { completeServerLogin } from './server-login';
import type { ConnectionHandler, ConnectionOver } from './tcp-listener';
import { acceptTls, startServerTls } from './tls';
import { formatAddress } from '../net/address';
import { endWithLastWord } from '../net/last-word';

/** Lines a client may send ahead while its login is being checked (pipelining); more closes the connection. */
export const MAX_QUEUED_LINES = 100;

/**
 * How long a client may take, from connecting, to log in (ms): twice the
 * default pre-login idle time, time for a person typing a password into a
 * prompting client. Past it the client gets the protocol's refusal and is
 * closed, however busily it keeps talking (each byte re-arms the idle timer).
 */
export const PRE_LOGIN_DEADLINE_MS = 120_000;

/** What the server dialogues take as "log in to nobody": the server needs no login. */
const NO_LOGIN = { username: '', password: '' };

/** A line protocol that can log a client in itself, then log in to the server for it. */
export interface LoginProtocol extends LineProtocol {
  clientDialogue(options: ClientDialogueOptions): ClientDialogue;
  /** The dialogue that completes the login at the server, given what the client's dialogue learned. */
  serverDialogue(client: ClientDialogue, credentials: { username: string; password: string }, startTls: boolean): ServerDialogue;
}

/** In-protocol login settings of one adapter (all limits named and documented in the options). */
export interface LoginSettings extends PreLoginLimits {
  hostname: string;
  /** Accept logins before TLS. */
  allowCleartext: boolean;
  /** Advertise PIPELINING: the servers behind this adapter support it. */
  pipelining: boolean;
  /** A client that says nothing for this long before logging in is closed (ms). */
  preLoginIdleMs: number;
  /** A client not logged in this long after connecting is closed (ms); default PRE_LOGIN_DEADLINE_MS. */
  preLoginDeadlineMs?: number;
  /** Certificate for STARTTLS (and for the implicit-TLS port); absent: no TLS offered. */
  tls?: SecureContext;
  /** Every client logs in in its protocol, even one a lease or an anonymous rule would let through (SMTP submission). */
  required?: boolean;
}

/** What a session holds in place of its dialogue once relaying: nothing to say, no state (see relayTo). */
const SPENT_DIALOGUE: ClientDialogue = Object.freeze({
  start: () => [],
  onLine: () => [],
  onLineTooLong: () => [],
  tlsStarted: () => undefined,
  loginSucceeded: () => '',
  loginFailed: () => [],
});

/** What a session holds in place of its line reader once relaying: the relay reads the client from then on. */
const SPENT_READER = new LineReader(0);

/**
 * The connection path with in-protocol login (as nginx's mail proxy):
 * a client identified by a lease, or anonymous where a rule allows it, is
 * relayed transparently (unless the login is `required`); any other client
 * is greeted by the adapter, logs in in its own protocol (checked against the
 * directory, throttled, audited), and then the adapter picks that user's
 * server, completes the login there
 * (with the user's credentials or the server's own), answers the client's
 * login and relays bytes untouched.
 */
export function loginRelayHandler(
  protocol: LoginProtocol,
  context: GatewayContext,
  limits: RelayLimits,
  settings: LoginSettings,
  transparent: ConnectionHandler,
  implicitTls: boolean,
): ConnectionHandler {
  const serve = (client: Socket, raw: Socket, over: ConnectionOver): void => {
    if (!settings.required) {
      const identity = context.identify(raw);
      if (identity.kind === 'user' || context.authorize(identity, protocol.service).allow) return transparent(client, over);
    }
    new LoginSession(protocol, context, limits, settings, client, implicitTls, over).run();
  };
  if (!implicitTls) return (raw, over) => serve(raw, raw, over);
  return (raw, over) =>
    void acceptTls(raw, settings.tls!).then(
      (client) => serve(client, raw, over),
      // A failed handshake has nobody to answer.
      () => over.done(),
    );
}

class LoginSession {
  private dialogue: ClientDialogue;
  private reader: LineReader;
  private readonly queue: string[] = [];
  private busy = false;
  private done = false;
  /** Once relaying, the relay decides when the session is over (and counts its bytes). */
  private relaying = false;
  /** The last word was written; the session ends when the client's socket closes. */
  private closing = false;

  /** Nothing more is done for the client: the session ended, or its last word was written. */
  private get over(): boolean {
    return this.done || this.closing;
  }
  private readonly attempt: ConnectionAttempt;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onIdle = () => this.refuse(new RoamgateError('ROAMGATE_IDLE_TIMEOUT', 'idle too long before login'));
  /** Runs from the start until the client's credentials are accepted (or the session ends). */
  private deadline: NodeJS.Timeout | undefined;
  /** A TLS handshake with the client is under way: a refusal in cleartext would only garble it. */
  private handshaking = false;
  private deadlinePassed = false;

  constructor(
    private readonly protocol: LoginProtocol,
    private readonly context: GatewayContext,
    private readonly limits: RelayLimits,
    private readonly settings: LoginSettings,
    private client: Socket,
    secure: boolean,
    /** Told once the session is over, after its record: the listener frees its place. */
    private readonly listener: ConnectionOver,
  ) {
    this.reader = new LineReader(settings.maxLineLength);
    this.dialogue = protocol.clientDialogue({
      hostname: settings.hostname,
      startTlsAvailable: settings.tls !== undefined && !secure,
      secure,
      allowCleartextLogin: settings.allowCleartext,
      pipelining: settings.pipelining,
      maxLineLength: settings.maxLineLength,
      maxUnauthenticatedCommands: settings.maxUnauthenticatedCommands,
      maxLoginAttempts: settings.maxLoginAttempts,
    });
    this.attempt = new ConnectionAttempt(context, protocol.service, client, { outcome: 'refused', reason: 'closed before login' });
  }

  run(): void {
    this.client.once('close', () => {
      if (!this.done && !this.relaying) this.end();
    });
    this.client.on('error', () => undefined);
    this.startDeadline();
    this.listen();
    this.perform(this.dialogue.start());
  }

  private startDeadline(): void {
    const limitMs = this.settings.preLoginDeadlineMs ?? PRE_LOGIN_DEADLINE_MS;
    const limit = limitMs % 1000 === 0 ? `${limitMs / 1000} s` : `${limitMs} ms`;
    this.deadline = setTimeout(() => {
      this.deadlinePassed = true;
      this.attempt.record.reason = `not logged in within ${limitMs} ms`;
      if (this.handshaking) return void this.client.destroy();
      this.refuse(new RoamgateError('ROAMGATE_IDLE_TIMEOUT', `login not completed within ${limit}`));
    }, limitMs);
    this.deadline.unref();
  }

  private listen(): void {
    this.client.setTimeout(this.settings.preLoginIdleMs, this.onIdle);
    this.client.on('data', this.onData);
  }

  private unlisten(): void {
    this.client.setTimeout(0);
    this.client.removeListener('timeout', this.onIdle);
    this.client.removeListener('data', this.onData);
  }

  private receive(chunk: Buffer): void {
    for (const event of this.reader.push(chunk)) {
      if (event.kind === 'too-long') return this.perform(this.dialogue.onLineTooLong());
      this.queue.push(event.line);
    }
    if (this.queue.length > MAX_QUEUED_LINES) return this.refuse(new RoamgateError('ROAMGATE_BAD_REQUEST', 'too many commands sent ahead'));
    this.pump();
  }

  private pump(): void {
    while (!this.busy && !this.over && this.queue.length > 0) this.perform(this.dialogue.onLine(this.queue.shift()!));
  }

  private perform(actions: ClientAction[]): void {
    for (const action of actions) {
      if (this.over) return;
      switch (action.kind) {
        case 'send':
          this.client.write(action.data);
          break;
        case 'close':
          return this.close(action.data);
        case 'starttls':
          this.client.write(action.data);
          return void this.upgrade();
        case 'login':
          this.busy = true;
          return void this.login(action.credentials)
            // Nothing below should throw; if it does, the client hears a refusal rather than the process an unhandled rejection.
            .catch((error: unknown) => this.refuse(asRoamgateError(error)))
            .finally(() => {
              this.busy = false;
              this.pump();
            });
      }
    }
  }

  /** STARTTLS towards the client: anything it sent behind the command is dropped (no injection into the TLS session). */
  private async upgrade(): Promise<void> {
    this.busy = true;
    this.unlisten();
    this.queue.length = 0;
    this.reader = new LineReader(this.settings.maxLineLength);
    this.handshaking = true;
    try {
      this.client = await acceptTls(this.client, this.settings.tls!);
    } catch {
      if (!this.deadlinePassed) this.attempt.record.reason = 'client TLS handshake failed';
      return this.end();
    } finally {
      this.handshaking = false;
    }
    this.attempt.useClient(this.client);
    this.client.on('error', () => undefined);
    this.client.once('close', () => {
      if (!this.done && !this.relaying) this.end();
    });
    this.dialogue.tlsStarted();
    this.busy = false;
    this.listen();
  }

  private async login(credentials: Credentials): Promise<void> {
    const address = this.client.remoteAddress ?? '';
    const result = await this.context.verifyLogin(credentials.username, credentials.password, address, this.protocol.service);
    if (this.over) return;
    if (!result.ok) {
      this.attempt.record.reason = result.reason;
      // Not the client's fault: a temporary refusal in its protocol ([SYS/TEMP], 421, 400), so it keeps its password and retries.
      if (result.temporary) return this.refuse(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', result.reason));
      return this.perform(this.dialogue.loginFailed(result.reason));
    }
    // The client has done its part; reaching its server is bounded by the connect timeouts.
    clearTimeout(this.deadline);
    const identity = result.identity;
    let upstream: Socket;
    try {
      this.attempt.admit(identity);
      upstream = await this.connectAndLogIn(identity, credentials);
    } catch (thrown) {
      if (this.over) return;
      const error = this.attempt.fail(thrown);
      // The server refused the user's credentials: a failed login, which the client may try again.
      if (error.code === 'ROAMGATE_ACCESS_DENIED' && this.attempt.record.server !== undefined)
        return this.perform(this.dialogue.loginFailed(error.message));
      return this.refuse(error);
    }
    if (this.over || !this.attempt.clientStayed()) return void upstream.destroy();
    await this.relayTo(upstream);
  }

  /**
   * The user's servers in the gateway's order, the first that opens and takes
   * the login becoming the server. A registered server that may not be sent
   * the user's own credentials (`registration.forwardCredentials` does not
   * list the service) is passed over as unusable before anything is sent to
   * it: a failover to the next, not a login failure, and no verdict on its
   * health. With nothing else to try, the service is unavailable.
   */
  private async connectAndLogIn(identity: Identity, credentials: Credentials): Promise<Socket> {
    const service = this.protocol.service;
    const answer = this.context.resolve(service, identity);
    const resolved = isAnswer(answer) ? answer : await answer;
    // The usual list has no such server: it is passed on as it is.
    const candidates = resolved.some(withholdsUserCredentials) ? resolved.filter((server) => !withholdsUserCredentials(server)) : resolved;
    if (candidates.length === 0 && resolved.length > 0)
      throw new RoamgateError(
        'ROAMGATE_UPSTREAM_REFUSED',
        `${service} service unavailable: its only servers registered themselves, and a user's password is never sent to those`,
      );
    return this.attempt.connectFirst(
      service,
      candidates,
      this.limits,
      (server, failure) => this.context.reportHealth(service, server, failure),
      (server) => this.openAndLogIn(server, identity, credentials),
    );
  }

  /**
   * One of the user's servers: connect (TLS if the server wants it), then the
   * protocol's login there, with the user's credentials or the server's own.
   * A server refusing the user's credentials fails with ROAMGATE_ACCESS_DENIED,
   * which ends the failover: it is a failed login.
   */
  private async openAndLogIn(server: ServerInfo, identity: Identity, credentials: Credentials): Promise<Socket> {
    // Keepalive is the relay's to turn on, once the session has lasted (see net/relay.ts).
    let socket = await connectServer(server, this.limits.connectTimeoutMs, 0);
    if (server.tls?.mode === 'implicit') socket = await startServerTls(socket, server.host, server.tls);
    // A visitor is known at home by their name there (`alice`, not `alice@home.example`); anywhere else by their full name.
    const username =
      server.home !== undefined && identity.kind === 'user' && identity.user.home ? identity.user.home.username : credentials.username;
    const login = server.credentials === 'none' ? NO_LOGIN : (server.credentials ?? { username, password: credentials.password });
    try {
      return await completeServerLogin(
        socket,
        this.protocol.serverDialogue(this.dialogue, login, server.tls?.mode === 'starttls'),
        server,
        this.limits.connectTimeoutMs,
      );
    } catch (error) {
      // Named in the record, so a refused login reads as the server's answer, not as a server out of reach.
      if (asRoamgateError(error).code === 'ROAMGATE_ACCESS_DENIED') this.attempt.record.server = formatAddress(server.host, server.port);
      throw error;
    }
  }

  private async relayTo(upstream: Socket): Promise<void> {
    this.relaying = true;
    this.unlisten();
    // What the client pipelined behind its login goes to the server, in order.
    let ahead = '';
    for (const line of this.queue.splice(0)) ahead += `${line}\r\n`;
    const partial = this.reader.takeRemainder();
    if (ahead) upstream.write(Buffer.from(ahead, 'latin1'));
    if (partial.length) upstream.write(partial);
    this.client.write(this.dialogue.loginSucceeded());
    // The dialogue and the reader have done their work: let their state go for the relay's lifetime (a mail client may idle for hours).
    this.dialogue = SPENT_DIALOGUE;
    this.reader = SPENT_READER;
    await this.attempt.relay(this.client, upstream, this.limits.idleTimeoutMs);
    this.end();
  }

  /** Ends the session with the protocol's refusal, in the words the dialogue's state calls for (IMAP: the pending command's tag first). */
  private refuse(error: RoamgateError): void {
    this.close(this.dialogue.lastWords?.(error) ?? this.protocol.refusal(error));
  }

  private close(data: string): void {
    if (this.over) return;
    this.closing = true;
    this.unlisten();
    // The session ends, and its place among maxClients is freed, when the socket is gone (the
    // close listener set in run() or after STARTTLS).
    void endWithLastWord(this.client, data);
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.deadline);
    try {
      this.attempt.finish();
    } finally {
      this.listener.done();
    }
  }
}

/**
 * Whether logging in at `server` would send the user's own credentials to a
 * server that registered itself without the operator trusting its service
 * with them (`registration.forwardCredentials`).
 */
function withholdsUserCredentials(server: ServerInfo): boolean {
  return server.registered?.forwardCredentials === false && server.credentials === undefined;
}
