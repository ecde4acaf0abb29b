/**
 * Drives the pure login dialogues as their adapters do: the client's (or server's) bytes in chunks through a
 * LineReader, each line or too-long line fed to the dialogue, the adapter's own calls (tlsStarted,
 * loginFailed, loginSucceeded) interleaved wherever the contract lets an adapter make them, and every action
 * that comes back checked: well-formed on the wire, nothing said after a close, nothing answered to lines
 * injected before a TLS handshake, no login taken over cleartext unless allowed, no credentials sent to a
 * server before TLS when TLS was asked for, and the dialogue's own buffers bounded.
 */
import fc from 'fast-check';
import type { ClientAction, ClientDialogue, ClientDialogueOptions, ServerAction, ServerDialogue } from '../../protocols/dialogue';
import { DEFAULT_MAX_LINE_LENGTH, LineReader } from '../../protocols/line-reader';
import { ensure, type Tally } from './fuzz-harness';
import { AWKWARD_BYTES, mutatedBytes } from './mutate';
import { checkCommand, checkReason, type WireRules } from './wire-checks';

/** How the adapter answers a `login` action: accepts it, refuses it with a reason, or decides later (a later step). */
export type Verdict = { kind: 'accept' } | { kind: 'refuse'; reason: string } | { kind: 'later' };

export type ClientStep =
  | { kind: 'bytes'; data: Buffer }
  /** A line handed over as it is, any code point in it (the contract says latin1 from a LineReader; the dialogue must not throw anyway). */
  | { kind: 'raw-line'; line: string }
  | { kind: 'tls-started' }
  | { kind: 'login-failed'; reason: string }
  /** Only made while a login is pending, as the contract allows. */
  | { kind: 'login-succeeded' };

export interface ClientScript {
  options: ClientDialogueOptions;
  steps: ClientStep[];
  /** The adapter's answers to the `login` actions, in turn (cycled). */
  verdicts: Verdict[];
  /** Whether the adapter completes each `starttls` action at once (cycled); if not, a later `tls-started` step does. */
  handshakes: boolean[];
}

export type ServerStep = { kind: 'bytes'; data: Buffer } | { kind: 'tls-started' };

export interface ServerScript<O> {
  options: O;
  steps: ServerStep[];
  handshakes: boolean[];
}

/** The adapter's view of one client session, and the checks on what the dialogue says. */
class ClientSession {
  secure: boolean;
  tlsPending = false;
  closed = false;
  loginPending = false;
  private verdicts = 0;
  private handshakes = 0;

  constructor(
    readonly dialogue: ClientDialogue,
    readonly script: ClientScript,
    readonly rules: WireRules,
    readonly bounded: () => boolean,
  ) {
    this.secure = script.options.secure;
  }

  take(actions: ClientAction[], answering: 'line' | 'call'): void {
    ensure(Array.isArray(actions), 'actions are not an array');
    if (this.closed) ensure(actions.length === 0, () => `the dialogue spoke after it closed: ${JSON.stringify(actions)}`);
    if (this.tlsPending && answering === 'line')
      ensure(actions.length === 0, () => `answered a line sent after STARTTLS and before the handshake: ${JSON.stringify(actions)}`);
    for (const action of actions) this.action(action);
    ensure(this.bounded(), 'the dialogue holds more than its limits allow');
  }

  private action(action: ClientAction): void {
    const { options } = this.script;
    switch (action.kind) {
      case 'send':
        return this.rules.reply(action.data, false);
      case 'close':
        this.rules.reply(action.data, true);
        this.closed = true;
        return;
      case 'starttls':
        this.rules.reply(action.data, false);
        ensure(options.startTlsAvailable && !this.secure, 'STARTTLS where it is not offered');
        this.tlsPending = true;
        if (this.script.handshakes[this.handshakes++ % this.script.handshakes.length]) this.tlsStarted();
        return;
      case 'login':
        ensure(this.secure || options.allowCleartextLogin, 'a login taken over cleartext');
        this.rules.credentials(action.credentials);
        this.loginPending = true;
        return this.decide(this.script.verdicts[this.verdicts++ % this.script.verdicts.length]);
      default:
        throw new Error(`not well-formed: an action of kind ${JSON.stringify((action as { kind: unknown }).kind)}`);
    }
  }

  decide(verdict: Verdict): void {
    if (verdict.kind === 'later') return;
    this.loginPending = false;
    if (verdict.kind === 'accept') this.rules.reply(this.dialogue.loginSucceeded(), false);
    else this.take(this.dialogue.loginFailed(verdict.reason), 'call');
  }

  tlsStarted(): void {
    this.dialogue.tlsStarted();
    if (!this.tlsPending) return;
    this.tlsPending = false;
    this.secure = true;
  }
}

/** Runs a client script against a fresh dialogue. */
export function driveClient(dialogue: ClientDialogue, script: ClientScript, rules: WireRules, tally: Tally, bounded = () => true): void {
  const session = new ClientSession(dialogue, script, rules, bounded);
  const reader = new LineReader(script.options.maxLineLength);
  session.take(dialogue.start(), 'call');
  for (const step of script.steps) {
    tally.calls++;
    if (step.kind === 'bytes') {
      for (const event of reader.push(step.data)) {
        tally.calls++;
        session.take(
          event.kind === 'line' ? dialogue.onLine(event.line) : dialogue.onLineTooLong(),
          event.kind === 'line' ? 'line' : 'call',
        );
      }
    } else if (step.kind === 'raw-line') session.take(dialogue.onLine(step.line), 'line');
    else if (step.kind === 'tls-started') session.tlsStarted();
    else if (step.kind === 'login-failed') {
      session.loginPending = false;
      session.take(dialogue.loginFailed(step.reason), 'call');
    } else if (session.loginPending && !session.closed) session.decide({ kind: 'accept' });
  }
  if (session.closed) tally.rejected++;
  else tally.accepted++;
}

/** Runs a server script against a fresh dialogue; `startTls` is what the dialogue was told. */
export function driveServer(dialogue: ServerDialogue, script: ServerScript<{ startTls: boolean }>, rules: WireRules, tally: Tally): void {
  const { startTls } = script.options;
  const state = { tlsPending: false, tlsDone: false, done: false, ready: false, handshakes: 0 };
  const take = (actions: ServerAction[]): void => {
    ensure(Array.isArray(actions), 'actions are not an array');
    if (state.done) ensure(actions.length === 0, () => `the dialogue went on after it ended: ${JSON.stringify(actions)}`);
    for (const action of actions) {
      if (action.kind === 'send') {
        const command = checkCommand(action.data);
        if (startTls && !state.tlsDone) ensure(rules.beforeTls.test(command), () => `sent before TLS: ${JSON.stringify(command)}`);
      } else if (action.kind === 'starttls') {
        ensure(startTls && !state.tlsDone && !state.tlsPending, 'STARTTLS where it was not asked for, or twice');
        state.tlsPending = true;
        if (script.handshakes[state.handshakes++ % script.handshakes.length]) handshake();
      } else if (action.kind === 'ready') {
        ensure(!startTls || state.tlsDone, 'ready to relay in cleartext although TLS was asked for');
        state.done = state.ready = true;
      } else if (action.kind === 'failed') {
        ensure(typeof action.authentication === 'boolean', 'a failure without `authentication`');
        checkReason(action.reason);
        state.done = true;
      } else throw new Error(`not well-formed: an action of kind ${JSON.stringify((action as { kind: unknown }).kind)}`);
    }
  };
  const handshake = () => {
    const pending = state.tlsPending;
    state.tlsPending = false;
    if (pending) state.tlsDone = true;
    take(dialogue.tlsStarted());
  };
  const reader = new LineReader(DEFAULT_MAX_LINE_LENGTH);
  for (const step of script.steps) {
    tally.calls++;
    if (step.kind === 'tls-started') handshake();
    else
      for (const event of reader.push(step.data)) {
        tally.calls++;
        // An adapter ends a server connection whose line is too long; a line goes to the dialogue.
        if (event.kind === 'too-long') return void tally.rejected++;
        take(dialogue.onLine(event.line));
      }
  }
  if (state.ready) tally.accepted++;
  else tally.rejected++;
}

/** Texts a refusal reason may be: a server's, a directory's, anything. */
export const reasonText = fc.oneof(
  fc.constantFrom('wrong user name or password', '[AUTH] Authentication failed.', '[SYS/TEMP] try later', '', ' '),
  fc.string({ unit: fc.constantFrom(...AWKWARD_BYTES, 'a', ' ', '\u00e9', '\u{1F389}'), maxLength: 500 }),
);

const verdict: fc.Arbitrary<Verdict> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'accept' as const }) },
  { weight: 3, arbitrary: reasonText.map((reason) => ({ kind: 'refuse' as const, reason })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'later' as const }) },
);

/** A byte stream: a mutated transcript, one as it is, or lines made up of the protocol's words and anything. */
export function transcriptStream(transcripts: readonly string[][], words: readonly string[]): fc.Arbitrary<Buffer> {
  const seeds = transcripts.map((lines) => Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'utf8'));
  const argument = fc.oneof(fc.constantFrom('', 'x', 'PLAIN', 'LOGIN', 'READER', '=', '*'), fc.string({ maxLength: 40 }));
  const madeUp = fc
    .array(fc.tuple(fc.constantFrom(...words), fc.constantFrom(' ', '\t', '  ', ''), argument, fc.constantFrom('\r\n', '\n', '\r', '')), {
      maxLength: 30,
    })
    .map((lines) => Buffer.from(lines.map(([word, space, arg, end]) => `${word}${space}${arg}${end}`).join(''), 'latin1'));
  return fc.oneof(
    { weight: 6, arbitrary: mutatedBytes(seeds) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 2, arbitrary: madeUp },
  );
}

/** Cuts a stream into chunks at the given points and puts the events between them. */
function interleave<E>(
  stream: Buffer,
  cuts: number[],
  events: Array<{ at: number; event: E }>,
): Array<{ kind: 'bytes'; data: Buffer } | E> {
  const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, stream.length]) {
    chunks.push(stream.subarray(from, point));
    from = point;
  }
  const steps: Array<{ kind: 'bytes'; data: Buffer } | E> = chunks.map((data) => ({ kind: 'bytes' as const, data }));
  for (const { at, event } of events) steps.splice(at % (steps.length + 1), 0, event);
  return steps;
}

const clientEvent: fc.Arbitrary<ClientStep> = fc.oneof(
  fc.constant({ kind: 'tls-started' as const }),
  reasonText.map((reason) => ({ kind: 'login-failed' as const, reason })),
  fc.constant({ kind: 'login-succeeded' as const }),
  fc.string({ maxLength: 80 }).map((line) => ({ kind: 'raw-line' as const, line })),
);

export const clientOptions: fc.Arbitrary<ClientDialogueOptions> = fc.record({
  hostname: fc.constantFrom('mx.example.org', 'gw', 'news.example.test'),
  startTlsAvailable: fc.boolean(),
  secure: fc.boolean(),
  allowCleartextLogin: fc.boolean(),
  pipelining: fc.boolean(),
  maxLineLength: fc.constantFrom(512, 1024, 2048),
  maxUnauthenticatedCommands: fc.integer({ min: 1, max: 30 }),
  maxLoginAttempts: fc.integer({ min: 1, max: 5 }),
});

/** Client sessions: a stream in chunks with the adapter's calls between them. */
export function clientScripts(transcripts: readonly string[][], words: readonly string[]): fc.Arbitrary<ClientScript> {
  return fc
    .record({
      options: clientOptions,
      stream: transcriptStream(transcripts, words),
      cuts: fc.array(fc.nat(), { maxLength: 12 }),
      events: fc.array(fc.record({ at: fc.nat(), event: clientEvent }), { maxLength: 6 }),
      verdicts: fc.array(verdict, { minLength: 1, maxLength: 4 }),
      handshakes: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
    })
    .map(({ options, stream, cuts, events, verdicts, handshakes }) => ({
      options,
      steps: interleave(stream, cuts, events),
      verdicts,
      handshakes,
    }));
}

/** Credentials the gateway may have to send a server: the user's own (anything a client could type) or the table's. */
export const serverCredentials = fc.record({
  username: fc.oneof(
    fc.constantFrom('alice', 'alice@example.org', '', 'a b', 'a\r\nQUIT', 'a\0b', '\u00e9l\u00e8ve'),
    fc.string({ maxLength: 20 }),
  ),
  password: fc.oneof(fc.constantFrom('pw', 'pass word', '', 'x\r\nDELE 1', '\0', '\u{1F389}'), fc.string({ maxLength: 20 })),
});

/** Server sessions: the server's stream in chunks, with `tls-started` calls between them. */
export function serverScripts<O extends { startTls: boolean }>(
  options: fc.Arbitrary<O>,
  transcripts: readonly string[][],
  words: readonly string[],
): fc.Arbitrary<ServerScript<O>> {
  return fc
    .record({
      options,
      stream: transcriptStream(transcripts, words),
      cuts: fc.array(fc.nat(), { maxLength: 12 }),
      events: fc.array(fc.record({ at: fc.nat(), event: fc.constant({ kind: 'tls-started' as const }) }), { maxLength: 3 }),
      handshakes: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
    })
    .map(({ options: chosen, stream, cuts, events, handshakes }) => ({
      options: chosen,
      steps: interleave(stream, cuts, events),
      handshakes,
    }));
}
