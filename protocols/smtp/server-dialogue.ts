import type { ServerAction, ServerDialogue, ServerDialogueOptions } from '../dialogue';
import { sanitizeReplyText } from '../reply-text';
import { encodeBase64, encodePlain } from '../sasl';
import { isValidEhloName } from './client-dialogue';

/** The EHLO name used when the client gave none (or one that is not a valid EHLO argument). */
export const DEFAULT_EHLO_NAME = 'localhost';

/** Most lines one server reply may have; a longer multi-line reply fails the dialogue (it bounds what is held). */
export const MAX_SERVER_REPLY_LINES = 64;

/** The SMTP server-side dialogue, with what the adapter may want to check besides {@link ServerDialogue}. */
export interface SmtpServerDialogue extends ServerDialogue {
  /** The extensions of the server's last EHLO reply, one per line as sent (`PIPELINING`, `AUTH PLAIN LOGIN`, `SIZE 10240000`). */
  readonly capabilities: readonly string[];
}

type Step =
  | 'greeting'
  | 'ehlo'
  | 'starttls'
  /** The server agreed to STARTTLS; its lines before `tlsStarted()` are cleartext and dropped. */
  | 'tls-pending'
  /** AUTH sent (with its PLAIN response, or the LOGIN password): waiting for 235. */
  | 'auth'
  | 'auth-login-username'
  | 'auth-login-password'
  | 'done';

interface Reply {
  code: number;
  /** The text of each line, without code and separator. */
  lines: string[];
}

interface Session {
  readonly options: ServerDialogueOptions;
  step: Step;
  tlsDone: boolean;
  /** The lines of a multi-line reply read so far. */
  partial: Reply | undefined;
  capabilities: string[];
}

/** `250-text`, `250 text` or a bare `250`; SMTP codes start with 2 to 5 (RFC 5321 4.2). */
const REPLY_LINE = /^([2-5][0-9]{2})(?:([ -])([\s\S]*))?$/;
/** An RFC 3463 enhanced status code at the start of a reply text. */
const ENHANCED_CODE = /^[245]\.[0-9]{1,3}\.[0-9]{1,3}(?:[ \t]+|$)/;

const send = (line: string): ServerAction[] => [{ kind: 'send', data: `${line}\r\n` }];

function fail(session: Session, authentication: boolean, reason: string): ServerAction[] {
  session.step = 'done';
  return [{ kind: 'failed', authentication, reason: sanitizeReplyText(reason) }];
}

const describe = (reply: Reply) => sanitizeReplyText(`${reply.code} ${reply.lines.join(' ')}`);

/** What the server said, without its code and enhanced code, for the client to be shown. */
const serverText = (reply: Reply) => sanitizeReplyText(reply.lines.map((line) => line.replace(ENHANCED_CODE, '')).join(' '));

function ehlo(session: Session): ServerAction[] {
  const name = session.options.clientName;
  session.step = 'ehlo';
  return send(`EHLO ${name !== undefined && isValidEhloName(name) ? name : DEFAULT_EHLO_NAME}`);
}

function authMechanisms(capabilities: readonly string[]): Set<string> | undefined {
  let mechanisms: Set<string> | undefined;
  for (const capability of capabilities) {
    // `AUTH=PLAIN LOGIN` is the pre-RFC 4954 form some servers still send alongside.
    const match = /^AUTH(?:[ =]([\s\S]*))?$/i.exec(capability.trim());
    if (!match) continue;
    mechanisms ??= new Set();
    for (const mechanism of (match[1] ?? '').split(/[ \t]+/)) if (mechanism) mechanisms.add(mechanism.toUpperCase());
  }
  return mechanisms;
}

function afterEhlo(session: Session): ServerAction[] {
  const { credentials, startTls } = session.options;
  if (startTls && !session.tlsDone) {
    if (!session.capabilities.some((capability) => capability.trim().toUpperCase() === 'STARTTLS')) {
      return fail(session, false, 'server does not offer STARTTLS');
    }
    session.step = 'starttls';
    return send('STARTTLS');
  }
  // An empty username means "do not log in": the server trusts the gateway (an internal relay).
  if (credentials.username === '') {
    session.step = 'done';
    return [{ kind: 'ready' }];
  }
  const mechanisms = authMechanisms(session.capabilities);
  if (!mechanisms) return fail(session, false, 'server does not offer AUTH');
  if (mechanisms.has('PLAIN')) {
    if (credentials.username.includes('\u0000') || credentials.password.includes('\u0000')) {
      return fail(session, false, 'credentials with a NUL character cannot be sent with AUTH PLAIN');
    }
    session.step = 'auth';
    return send(`AUTH PLAIN ${encodePlain(credentials.username, credentials.password)}`);
  }
  if (mechanisms.has('LOGIN')) {
    session.step = 'auth-login-username';
    return send('AUTH LOGIN');
  }
  return fail(session, false, `server offers AUTH but not PLAIN or LOGIN (offered: ${[...mechanisms].join(' ') || 'none'})`);
}

function authRefused(session: Session, reply: Reply): ServerAction[] {
  if (reply.code >= 500) return fail(session, true, serverText(reply) || 'authentication failed');
  if (reply.code >= 400) return fail(session, false, `server could not check the login: ${describe(reply)}`);
  return fail(session, false, `server sent an unexpected reply to AUTH: ${describe(reply)}`);
}

function onReply(session: Session, reply: Reply): ServerAction[] {
  const { credentials } = session.options;
  switch (session.step) {
    case 'greeting':
      return reply.code === 220 ? ehlo(session) : fail(session, false, `server refused the session: ${describe(reply)}`);
    case 'ehlo':
      if (reply.code !== 250) return fail(session, false, `server refused EHLO: ${describe(reply)}`);
      session.capabilities = reply.lines.slice(1);
      return afterEhlo(session);
    case 'starttls':
      if (reply.code !== 220) return fail(session, false, `server refused STARTTLS: ${describe(reply)}`);
      session.step = 'tls-pending';
      return [{ kind: 'starttls' }];
    case 'auth':
      if (reply.code !== 235) return authRefused(session, reply);
      session.step = 'done';
      return [{ kind: 'ready' }];
    case 'auth-login-username':
      if (reply.code !== 334) return authRefused(session, reply);
      session.step = 'auth-login-password';
      return send(encodeBase64(credentials.username));
    case 'auth-login-password':
      if (reply.code !== 334) return authRefused(session, reply);
      session.step = 'auth';
      return send(encodeBase64(credentials.password));
    case 'tls-pending':
    case 'done':
      return [];
  }
}

/**
 * The gateway as an SMTP client of the real server: waits for the 220
 * greeting, sends `EHLO <clientName>`, optionally STARTTLS (required to be
 * offered when `startTls` is set; EHLO again after TLS), then logs in with
 * AUTH PLAIN (or AUTH LOGIN when the server offers only that). `ready` after
 * 235; `failed` with `authentication: true` and the server's own text when it
 * refuses the credentials with a 5xx, `authentication: false` for anything
 * else (4xx, a refused greeting, malformed or unexpected replies).
 *
 * With `credentials.username === ''` no AUTH is sent at all: `ready` follows
 * EHLO (and STARTTLS), for servers that trust the gateway. Otherwise a server
 * that advertises no AUTH is a failure. Lines the server sends after agreeing
 * to STARTTLS and before `tlsStarted()` are dropped.
 *
 * @example
 * const dialogue = createSmtpServerDialogue({ credentials: { username: 'ann', password: 'pw' }, startTls: true, clientName: 'pc' });
 * dialogue.onLine('220 mx.example.org ESMTP');  // [{ kind: 'send', data: 'EHLO pc\r\n' }]
 */
export function createSmtpServerDialogue(options: ServerDialogueOptions): SmtpServerDialogue {
  const session: Session = { options, step: 'greeting', tlsDone: false, partial: undefined, capabilities: [] };

  return {
    get capabilities() {
      return session.capabilities;
    },

    onLine(line) {
      if (session.step === 'done' || session.step === 'tls-pending') return [];
      const match = REPLY_LINE.exec(line);
      if (!match) return fail(session, false, `server sent a malformed reply line: ${line}`);
      const code = Number(match[1]);
      const partial = session.partial;
      if (partial && partial.code !== code)
        return fail(session, false, `server changed the code inside a multi-line reply: ${partial.code} then ${code}`);
      const reply = partial ?? { code, lines: [] };
      reply.lines.push(match[3] ?? '');
      if (match[2] === '-') {
        if (reply.lines.length >= MAX_SERVER_REPLY_LINES)
          return fail(session, false, `server reply has more than ${MAX_SERVER_REPLY_LINES} lines`);
        session.partial = reply;
        return [];
      }
      session.partial = undefined;
      return onReply(session, reply);
    },

    tlsStarted() {
      if (session.step !== 'tls-pending') return [];
      session.tlsDone = true;
      return ehlo(session);
    },
  };
}
