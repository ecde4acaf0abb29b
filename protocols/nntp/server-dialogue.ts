import type { ServerAction, ServerDialogue, ServerDialogueOptions } from '../dialogue';
import { sanitizeReplyText } from '../reply-text';
import { decodeNntpText, parseNntpReply, type NntpReply } from './replies';

export interface NntpServerDialogueOptions extends ServerDialogueOptions {
  /** The client sent MODE READER to the proxy (`NntpClientDialogue.modeReader`): send it to the server too. */
  modeReader: boolean;
}

type Step =
  | 'greeting'
  | 'starttls'
  /** 382 received; waiting for the adapter's `tlsStarted()`. */
  | 'tls-handshake'
  | 'mode-reader'
  | 'authinfo-user'
  | 'authinfo-pass'
  /** The server wanted a login before MODE READER (480); sent again after it. */
  | 'mode-reader-after-login'
  | 'done';

/** The steps at which the dialogue waits for a status line from the server. */
type AwaitingStep = Exclude<Step, 'tls-handshake' | 'done'>;

/** What the server was last asked, for reasons; the greeting is not asked for. */
const ASKED: Record<AwaitingStep, string> = {
  greeting: 'the connection',
  starttls: 'STARTTLS',
  'mode-reader': 'MODE READER',
  'authinfo-user': 'AUTHINFO USER',
  'authinfo-pass': 'AUTHINFO PASS',
  'mode-reader-after-login': 'MODE READER',
};

/** Longest piece of an unexpected server line quoted in a reason. */
const QUOTED_LINE_LENGTH = 80;

const UNSENDABLE = /[\0\r\n]/;

const send = (command: string): ServerAction => ({ kind: 'send', data: `${command}\r\n` });

interface Exchange {
  readonly options: NntpServerDialogueOptions;
  /** The credentials as they were when the dialogue was created. */
  readonly username: string;
  readonly password: string;
  step: Step;
  /** The server answered MODE READER with 480: send it again after the login. */
  modeReaderAfterLogin: boolean;
}

/** Handles the server's reply at one step; undefined when the reply is not one expected there. */
type ReplyHandler = (exchange: Exchange, reply: NntpReply) => ServerAction[] | undefined;

function finish(exchange: Exchange, action: ServerAction): ServerAction[] {
  exchange.step = 'done';
  return [action];
}

const fail = (exchange: Exchange, authentication: boolean, reason: string): ServerAction[] =>
  finish(exchange, { kind: 'failed', authentication, reason });

/** The server's own words when it gave any, else `fallback`. */
const said = (reply: NntpReply, fallback: string): string => sanitizeReplyText(decodeNntpText(reply.text)) || fallback;

function unexpected(exchange: Exchange, line: string, asked: string): ServerAction[] {
  const quoted = sanitizeReplyText(decodeNntpText(line)).slice(0, QUOTED_LINE_LENGTH);
  return fail(exchange, false, `unexpected answer from the news server to ${asked}: ${quoted || '(empty line)'}`);
}

function ask(exchange: Exchange, next: Step, command: string): ServerAction[] {
  exchange.step = next;
  return [send(command)];
}

const afterTls = (exchange: Exchange): ServerAction[] =>
  exchange.options.modeReader ? ask(exchange, 'mode-reader', 'MODE READER') : logIn(exchange);

function logIn(exchange: Exchange): ServerAction[] {
  const { username, password } = exchange;
  if (username === '') {
    if (exchange.modeReaderAfterLogin)
      return fail(exchange, false, 'the news server wants a login before MODE READER, and none is configured');
    return finish(exchange, { kind: 'ready' });
  }
  if (UNSENDABLE.test(username) || UNSENDABLE.test(password))
    return fail(exchange, true, 'the username or password contains characters NNTP cannot carry');
  return ask(exchange, 'authinfo-user', `AUTHINFO USER ${username}`);
}

const loggedIn = (exchange: Exchange): ServerAction[] =>
  exchange.modeReaderAfterLogin ? ask(exchange, 'mode-reader-after-login', 'MODE READER') : finish(exchange, { kind: 'ready' });

function greeting(exchange: Exchange, reply: NntpReply): ServerAction[] | undefined {
  const { code } = reply;
  if (code === 200 || code === 201) return exchange.options.startTls ? ask(exchange, 'starttls', 'STARTTLS') : afterTls(exchange);
  if (code === 400 || code === 502) return fail(exchange, false, said(reply, `the news server refused the connection (${code})`));
  return undefined;
}

function startTls(exchange: Exchange, reply: NntpReply): ServerAction[] {
  if (reply.code === 382) {
    exchange.step = 'tls-handshake';
    return [{ kind: 'starttls' }];
  }
  return fail(exchange, false, `the news server refused STARTTLS: ${said(reply, String(reply.code))}`);
}

function modeReader(exchange: Exchange, reply: NntpReply): ServerAction[] | undefined {
  const { code } = reply;
  if (code === 200 || code === 201 || code === 500 || code === 501) return logIn(exchange);
  if (code === 480) {
    exchange.modeReaderAfterLogin = true;
    return logIn(exchange);
  }
  if (code === 400 || code === 502) return fail(exchange, false, said(reply, `the news server refused MODE READER (${code})`));
  return undefined;
}

function authinfoUser(exchange: Exchange, reply: NntpReply): ServerAction[] | undefined {
  const { code } = reply;
  const { password } = exchange;
  if (code === 281) return loggedIn(exchange);
  if (code === 381)
    return password === ''
      ? fail(exchange, true, 'the news server wants a password')
      : ask(exchange, 'authinfo-pass', `AUTHINFO PASS ${password}`);
  if (code === 481) return fail(exchange, true, said(reply, 'Authentication failed'));
  if (code === 400 || code === 482 || code === 483 || code === 502)
    return fail(exchange, false, said(reply, `the news server refused AUTHINFO USER (${code})`));
  return undefined;
}

function authinfoPass(exchange: Exchange, reply: NntpReply): ServerAction[] | undefined {
  const { code } = reply;
  if (code === 281) return loggedIn(exchange);
  if (code === 481) return fail(exchange, true, said(reply, 'Authentication failed'));
  if (code === 400 || code === 482 || code === 483 || code === 502)
    return fail(exchange, false, said(reply, `the news server refused AUTHINFO PASS (${code})`));
  return undefined;
}

function modeReaderAfterLogin(exchange: Exchange, reply: NntpReply): ServerAction[] | undefined {
  const { code } = reply;
  if (code === 200 || code === 201 || code === 500 || code === 501) return finish(exchange, { kind: 'ready' });
  if (code === 400 || code === 502) return fail(exchange, false, said(reply, `the news server refused MODE READER (${code})`));
  return undefined;
}

const REPLIES: Record<AwaitingStep, ReplyHandler> = {
  greeting,
  starttls: startTls,
  'mode-reader': modeReader,
  'authinfo-user': authinfoUser,
  'authinfo-pass': authinfoPass,
  'mode-reader-after-login': modeReaderAfterLogin,
};

function onReplyLine(exchange: Exchange, line: string): ServerAction[] {
  const step = exchange.step;
  // After 382 the server says nothing until the handshake; anything here came in cleartext
  // and may have been injected, so it is dropped (RFC 4642 2.2.2).
  if (step === 'done' || step === 'tls-handshake') return [];
  const reply = parseNntpReply(line);
  return (reply && REPLIES[step](exchange, reply)) ?? unexpected(exchange, line, ASKED[step]);
}

/**
 * The adapter as a newsreader of the real server (INN's nnrpd, for one):
 * greeting (200/201), optionally STARTTLS (RFC 4642), MODE READER when the
 * client asked the proxy for it, then AUTHINFO USER/PASS (RFC 4643) with the
 * user's credentials. An empty username means the server needs no login:
 * the dialogue is ready after the greeting (and MODE READER).
 *
 * Like python's nntplib, MODE READER refused with 480 is sent again after
 * the login, and a 500/501 answer to it (a server that knows no modes) is
 * not an error.
 *
 * @example
 * const server = createNntpServerDialogue({ credentials: { username: 'alice', password: 'pw' }, startTls: false, modeReader: true });
 * server.onLine('200 news.example.test InterNetNews NNRP server INN 2.7.1 ready (posting ok)'); // [send 'MODE READER\r\n']
 * server.onLine('200 Posting allowed');       // [send 'AUTHINFO USER alice\r\n']
 * server.onLine('381 Enter password');        // [send 'AUTHINFO PASS pw\r\n']
 * server.onLine('281 Authentication succeeded'); // [{ kind: 'ready' }]
 */
export function createNntpServerDialogue(options: NntpServerDialogueOptions): ServerDialogue {
  const { username, password } = options.credentials;
  const exchange: Exchange = { options, username, password, step: 'greeting', modeReaderAfterLogin: false };
  return {
    onLine: (line) => onReplyLine(exchange, line),

    tlsStarted() {
      if (exchange.step !== 'tls-handshake') return [];
      // No new greeting after STARTTLS in NNTP (RFC 4642 2.2.2): go on at once.
      return afterTls(exchange);
    },
  };
}
