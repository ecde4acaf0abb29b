/**
 * The pure state machines with which an adapter speaks a protocol up to the
 * login (nginx mail proxy style), and then completes the login with the real
 * server. No sockets here: the adapter feeds lines in and carries out the
 * actions that come back, in order.
 */

import type { RoamgateError } from '../errors';

/** Credentials a client gave in its own protocol (SMTP AUTH, POP3 USER/PASS or AUTH PLAIN, NNTP AUTHINFO). */
export interface Credentials {
  username: string;
  password: string;
  /** The mechanism used, for the record: `PLAIN`, `LOGIN`, `USER`, `AUTHINFO`. */
  mechanism: string;
}

/** What the adapter must do next, towards the client. */
export type ClientAction =
  /** Write these bytes to the client. */
  | { kind: 'send'; data: string }
  /** Write `data`, then upgrade the client connection to TLS, then call `tlsStarted()`. */
  | { kind: 'starttls'; data: string }
  /** The client has logged in: check these credentials, then call `loginSucceeded()` or `loginFailed()`. */
  | { kind: 'login'; credentials: Credentials }
  /** Write `data` (if any), then close the connection. */
  | { kind: 'close'; data: string };

/** Limits on a client before it has logged in. Every one is enforced with a protocol error and a close. */
export interface PreLoginLimits {
  /** Longest command line, in bytes without CRLF. */
  maxLineLength: number;
  /** Commands allowed before a successful login (greeting excluded). */
  maxUnauthenticatedCommands: number;
  /** Failed login attempts allowed on one connection. */
  maxLoginAttempts: number;
}

/** Protocol features the adapter offers this client. */
export interface ClientDialogueOptions extends PreLoginLimits {
  /** Host name the adapter names itself with in greetings and EHLO replies. */
  hostname: string;
  /** STARTTLS / STLS is offered (a certificate is configured and the connection is not TLS yet). */
  startTlsAvailable: boolean;
  /** The connection is already TLS (implicit TLS port, or after STARTTLS). */
  secure: boolean;
  /** Logins are accepted over cleartext. When false, login commands before TLS are refused. */
  allowCleartextLogin: boolean;
  /**
   * Advertise PIPELINING (SMTP EHLO, POP3 CAPA). After login the client talks
   * to the real server, so this is only true when the servers support it;
   * the adapter cannot know before it has picked the server.
   */
  pipelining?: boolean;
}

/**
 * The adapter's side of one client's pre-login dialogue.
 * Contract: `start()` first; then `onLine()` for each line the client sends
 * (without CRLF; the adapter's LineReader enforces maxLineLength and calls
 * `onLineTooLong()` instead). After a `login` action, exactly one of
 * `loginSucceeded()` / `loginFailed()`. Never throws.
 */
export interface ClientDialogue {
  start(): ClientAction[];
  onLine(line: string): ClientAction[];
  onLineTooLong(): ClientAction[];
  tlsStarted(): void;
  /** The login was accepted: the adapter will now complete the server side and relay; returns the reply to send the client once the server is ready. */
  loginSucceeded(): string;
  loginFailed(reason: string): ClientAction[];
  /**
   * The last words when the adapter gives up on the client with `error`
   * (a login it cannot complete, a timeout), in place of the protocol's
   * refusal: IMAP first answers a pending command by its tag. Absent: the
   * protocol's refusal alone.
   */
  lastWords?(error: RoamgateError): string;
  /** The state the client was in when logged in, e.g. the EHLO name for SMTP. */
  readonly clientName?: string;
}

/** What the adapter must do next, towards the server. */
export type ServerAction =
  /** Write these bytes to the server. */
  | { kind: 'send'; data: string }
  /** Upgrade the server connection to TLS (after the server agreed to STARTTLS/STLS), then call `tlsStarted()`. */
  | { kind: 'starttls' }
  /** Logged in at the server; relay from here. */
  | { kind: 'ready' }
  /** The server refused the login (`authentication` true) or misbehaved; `reply` is what the client should be told. */
  | { kind: 'failed'; authentication: boolean; reason: string };

export interface ServerDialogueOptions {
  credentials: { username: string; password: string };
  /** Ask the server for STARTTLS/STLS before logging in. */
  startTls: boolean;
  /** For SMTP: the name to give in EHLO (the client's own EHLO name). */
  clientName?: string;
}

/**
 * The adapter as a client of the real server: greeting, capabilities,
 * optional STARTTLS, login with the user's credentials. Feed it the server's
 * lines; never throws.
 */
export interface ServerDialogue {
  onLine(line: string): ServerAction[];
  tlsStarted(): ServerAction[];
}
