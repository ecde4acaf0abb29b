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

/** What the server was last asked, for reasons; the greeting is not asked for. */
const ASKED: Record<Exclude<Step, 'tls-handshake' | 'done'>, string> = {
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
  let step: Step = 'greeting';
  let modeReaderAfterLogin = false;

  const finish = (action: ServerAction): ServerAction[] => {
    step = 'done';
    return [action];
  };
  const fail = (authentication: boolean, reason: string): ServerAction[] => finish({ kind: 'failed', authentication, reason });

  /** The server's own words when it gave any, else `fallback`. */
  const said = (reply: NntpReply, fallback: string): string => sanitizeReplyText(decodeNntpText(reply.text)) || fallback;

  const unexpected = (line: string, asked: string): ServerAction[] => {
    const quoted = sanitizeReplyText(decodeNntpText(line)).slice(0, QUOTED_LINE_LENGTH);
    return fail(false, `unexpected answer from the news server to ${asked}: ${quoted || '(empty line)'}`);
  };

  const ask = (next: Step, command: string): ServerAction[] => {
    step = next;
    return [send(command)];
  };

  const afterTls = (): ServerAction[] => (options.modeReader ? ask('mode-reader', 'MODE READER') : logIn());

  const logIn = (): ServerAction[] => {
    if (username === '') {
      if (modeReaderAfterLogin) return fail(false, 'the news server wants a login before MODE READER, and none is configured');
      return finish({ kind: 'ready' });
    }
    if (UNSENDABLE.test(username) || UNSENDABLE.test(password)) return fail(true, 'the username or password contains characters NNTP cannot carry');
    return ask('authinfo-user', `AUTHINFO USER ${username}`);
  };

  const loggedIn = (): ServerAction[] => (modeReaderAfterLogin ? ask('mode-reader-after-login', 'MODE READER') : finish({ kind: 'ready' }));

  return {
    onLine(line) {
      // After 382 the server says nothing until the handshake; anything here came in cleartext
      // and may have been injected, so it is dropped (RFC 4642 2.2.2).
      if (step === 'done' || step === 'tls-handshake') return [];
      const reply = parseNntpReply(line);
      if (reply === null) return unexpected(line, ASKED[step]);
      const { code } = reply;
      switch (step) {
        case 'greeting':
          if (code === 200 || code === 201) return options.startTls ? ask('starttls', 'STARTTLS') : afterTls();
          if (code === 400 || code === 502) return fail(false, said(reply, `the news server refused the connection (${code})`));
          break;
        case 'starttls':
          if (code === 382) {
            step = 'tls-handshake';
            return [{ kind: 'starttls' }];
          }
          return fail(false, `the news server refused STARTTLS: ${said(reply, String(code))}`);
        case 'mode-reader':
          if (code === 200 || code === 201 || code === 500 || code === 501) return logIn();
          if (code === 480) {
            modeReaderAfterLogin = true;
            return logIn();
          }
          if (code === 400 || code === 502) return fail(false, said(reply, `the news server refused MODE READER (${code})`));
          break;
        case 'authinfo-user':
          if (code === 281) return loggedIn();
          if (code === 381) return password === '' ? fail(true, 'the news server wants a password') : ask('authinfo-pass', `AUTHINFO PASS ${password}`);
          if (code === 481) return fail(true, said(reply, 'Authentication failed'));
          if (code === 400 || code === 482 || code === 483 || code === 502) return fail(false, said(reply, `the news server refused AUTHINFO USER (${code})`));
          break;
        case 'authinfo-pass':
          if (code === 281) return loggedIn();
          if (code === 481) return fail(true, said(reply, 'Authentication failed'));
          if (code === 400 || code === 482 || code === 483 || code === 502) return fail(false, said(reply, `the news server refused AUTHINFO PASS (${code})`));
          break;
        case 'mode-reader-after-login':
          if (code === 200 || code === 201 || code === 500 || code === 501) return finish({ kind: 'ready' });
          if (code === 400 || code === 502) return fail(false, said(reply, `the news server refused MODE READER (${code})`));
          break;
      }
      return unexpected(line, ASKED[step]);
    },

    tlsStarted() {
      if (step !== 'tls-handshake') return [];
      // No new greeting after STARTTLS in NNTP (RFC 4642 2.2.2): go on at once.
      return afterTls();
    },
  };
}
