import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { ReadStream } from 'node:tty';
import { RoamgateError } from '../errors';
import { MAX_PASSWORD_LENGTH } from '../plugin/routes/login-routes';

/** Shortest password the CLI accepts (characters). */
export const MIN_PASSWORD_LENGTH = 8;
/** The environment variable a password may come from when no --password-file is given. */
export const PASSWORD_ENV = 'ROAMGATE_PASSWORD';

/** Where a password comes from, in this order: the file's first line, the environment, a prompt on the terminal. */
export interface PasswordSource {
  passwordFile?: string;
  env: NodeJS.ProcessEnv;
  /** Prompts to show, one per typed line; two makes the user type it again to catch typos. */
  prompts: readonly [string] | readonly [string, string];
}

/** The outcome of feeding typed input to {@link applyKeystrokes}. */
export type KeystrokeResult =
  | { status: 'typing'; typed: string }
  | { status: 'entered'; line: string; rest: string }
  | { status: 'interrupted' }
  | { status: 'cancelled' };

const ENTER = new Set(['\r', '\n']);
const ERASE = new Set(['\x7f', '\b']);
const KILL_LINE = '\x15';
const INTERRUPT = '\x03';
const END_OF_INPUT = '\x04';
const ESCAPE = '\x1b';

/** The byte that ends a CSI escape sequence. */
function isFinalByte(key: string): boolean {
  return key >= '\x40' && key <= '\x7e';
}

/**
 * The line editing a terminal does in cooked mode, for a terminal in raw mode
 * (so nothing is echoed): Enter ends the line, Backspace erases a character,
 * Ctrl-U the line, Ctrl-C interrupts, Ctrl-D cancels; other control
 * characters and escape sequences (arrow keys, bracketed-paste markers) are
 * dropped. Input after Enter is returned as `rest`, for the next line.
 * @example applyKeystrokes('', 'pa\x7fss\r') // { status: 'entered', line: 'pss', rest: '' }
 */
export function applyKeystrokes(typed: string, input: string): KeystrokeResult {
  const chars = [...typed];
  const keys = [...input];
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index];
    if (ENTER.has(key)) {
      // A CR LF pair (a pasted line) ends one line, not two.
      const next = key === '\r' && keys[index + 1] === '\n' ? index + 2 : index + 1;
      return { status: 'entered', line: chars.join(''), rest: keys.slice(next).join('') };
    }
    if (key === INTERRUPT) return { status: 'interrupted' };
    if (key === END_OF_INPUT) return { status: 'cancelled' };
    if (ERASE.has(key)) chars.pop();
    else if (key === KILL_LINE) chars.length = 0;
    else if (key === ESCAPE) {
      // CSI (ESC [ parameters final) and SS3 (ESC O x) sequences, and Alt+key (ESC x), are dropped whole.
      if (keys[index + 1] === '[') {
        index += 2;
        while (index < keys.length && !isFinalByte(keys[index])) index++;
      } else if (keys[index + 1] === 'O') index += 2;
      else if (keys[index + 1] >= ' ' && keys[index + 1] !== '\x7f') index++;
    } else if (key >= ' ') chars.push(key);
  }
  return { status: 'typing', typed: chars.join('') };
}

function invalid(message: string): never {
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', message);
}

/**
 * Checks the length rules; throws ROAMGATE_INVALID_OPTIONS saying which. Never includes the password.
 * `minLength` is for setting a password; to log in with an existing one, pass 1.
 */
export function checkPassword(password: string, minLength = MIN_PASSWORD_LENGTH): string {
  const length = [...password].length;
  if (length < minLength) invalid(minLength > 1 ? `the password must be at least ${minLength} characters` : 'the password is empty');
  if (length > MAX_PASSWORD_LENGTH) invalid(`the password must be at most ${MAX_PASSWORD_LENGTH} characters (the longest a login accepts)`);
  return password;
}

/**
 * Reads a password from `--password-file` (its first line, without the line
 * ending), else the environment, else the terminal without echo, and checks
 * its length. Throws ROAMGATE_INVALID_OPTIONS when there is no source, the
 * file cannot be read, the typed lines differ or the length is wrong.
 */
export async function readPassword(source: PasswordSource, minLength = MIN_PASSWORD_LENGTH): Promise<string> {
  if (source.passwordFile !== undefined) {
    let content: string;
    try {
      content = readFileSync(source.passwordFile, 'utf8');
    } catch (error) {
      invalid(`cannot read --password-file ${source.passwordFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return checkPassword(content.split('\n')[0].replace(/\r$/, ''), minLength);
  }
  const fromEnv = source.env[PASSWORD_ENV];
  if (fromEnv !== undefined) return checkPassword(fromEnv, minLength);
  if (!process.stdin.isTTY)
    invalid(`no password given and no terminal to ask on: use --password-file FILE (first line) or set ${PASSWORD_ENV}`);
  const [first, second] = await readHiddenLines(process.stdin as ReadStream, process.stderr, source.prompts);
  checkPassword(first, minLength);
  if (second !== undefined && second !== first) invalid('the two passwords typed do not match');
  return first;
}

/** Asks each prompt in turn on a terminal with echo off; resolves with the lines typed. */
function readHiddenLines(input: ReadStream, output: NodeJS.WritableStream, prompts: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const decoder = new StringDecoder('utf8');
    let typed = '';
    const restore = () => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      process.removeListener('exit', restoreTerminal);
      restoreTerminal();
      input.pause();
    };
    const restoreTerminal = () => {
      if (input.isRaw) input.setRawMode(false);
    };
    const feed = (text: string) => {
      const result = applyKeystrokes(typed, text);
      if (result.status === 'typing') {
        typed = result.typed;
        return;
      }
      output.write('\n');
      if (result.status === 'entered') {
        lines.push(result.line);
        typed = '';
        if (lines.length < prompts.length) {
          output.write(prompts[lines.length]);
          if (result.rest) feed(result.rest);
          return;
        }
        restore();
        resolve(lines);
        return;
      }
      restore();
      // Ctrl-C in raw mode sends no signal: raise it, so the shell sees an interrupted command.
      if (result.status === 'interrupted') process.kill(process.pid, 'SIGINT');
      reject(new RoamgateError('ROAMGATE_INVALID_OPTIONS', 'no password typed (cancelled)'));
    };
    const onData = (chunk: Buffer) => feed(decoder.write(chunk));
    const onEnd = () => {
      restore();
      reject(new RoamgateError('ROAMGATE_INVALID_OPTIONS', 'no password typed (end of input)'));
    };
    // Echo goes off before the prompt is shown, so nothing typed after it can appear.
    input.setRawMode(true);
    process.once('exit', restoreTerminal);
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
    output.write(prompts[0]);
  });
}
