import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { untilValue } from '../helpers/until';

const SERVERS = join(__dirname, 'servers');
const CLIENTS = join(__dirname, 'clients', 'clients.py');

/** Where the Debian servers keep their state during the interop run. Short: unix socket paths are limited. */
export const STATE_DIR = '/tmp/roamgate-interop';

/** Starts dovecot (two instances), opensmtpd, inn2 and squid on 127.0.0.1; returns servers.env as an object. */
export function startServers(): Record<string, string> {
  execFileSync('bash', [join(SERVERS, 'start.sh'), STATE_DIR], { stdio: ['ignore', 'ignore', 'inherit'] });
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(STATE_DIR, 'servers.env'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match) env[match[1]] = match[2].replace(/^"(.*)"$/, '$1');
  }
  return env;
}

export function stopServers(): void {
  execFileSync('bash', [join(SERVERS, 'stop.sh'), STATE_DIR], { stdio: 'ignore' });
}

/** Runs python's poplib/smtplib/nntplib (clients.py) and parses its JSON answer. */
export function python<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return pythonFrom(undefined, ...args);
}

/** As `python`, with every connection made from `source` (a 127.x address). */
export function pythonFrom<T = Record<string, unknown>>(source: string | undefined, ...args: string[]): Promise<T> {
  const env = source ? { ...process.env, ROAMGATE_SOURCE_ADDRESS: source } : process.env;
  return new Promise((resolve, reject) => {
    execFile('python3', [CLIENTS, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`clients.py ${args[0]} failed: ${stderr || error.message}`));
      resolve(JSON.parse(stdout) as T);
    });
  });
}

/** Runs curl; never throws, resolves with its exit code and output. */
export function curl(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '30', '--noproxy', '', ...args],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() }),
    );
  });
}

/** Waits for opensmtpd to deliver a message with this Message-ID to a local part's maildir; returns the file's bytes. */
export async function deliveredMail(maildir: string, localPart: string, messageId: string, timeoutMs = 15_000): Promise<Buffer> {
  const dir = join(maildir, localPart.toLowerCase(), 'new');
  const delivered = (): Buffer | undefined => {
    if (!existsSync(dir)) return undefined;
    for (const name of readdirSync(dir)) {
      const content = readFileSync(join(dir, name));
      if (content.includes(`Message-ID: ${messageId}`)) return content;
    }
    return undefined;
  };
  const what = `delivered mail with Message-ID ${messageId} in ${dir}`;
  const mail = await untilValue(delivered, (found) => found !== undefined, what, timeoutMs, 100);
  return mail!;
}

/** The body of a stored message: everything after the first empty line. */
export function bodyOf(message: Buffer): Buffer {
  const crlf = message.indexOf('\r\n\r\n');
  const lf = message.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return message.subarray(crlf + 4);
  return message.subarray(lf + 2);
}

/** How clients.py should speak TLS: STLS/STARTTLS after the greeting, or TLS from the first byte; the certificate is verified against `caFile` for `servername`. */
export interface ClientTls {
  mode: 'starttls' | 'implicit';
  caFile: string;
  /** Name the certificate must be valid for; default: the host connected to. */
  servername?: string;
}

/** As `python`, over TLS (ROAMGATE_TLS, ROAMGATE_CAFILE, ROAMGATE_TLS_SERVERNAME for clients.py). */
export function pythonTls<T = Record<string, unknown>>(tls: ClientTls, ...args: string[]): Promise<T> {
  const env = {
    ...process.env,
    ROAMGATE_TLS: tls.mode,
    ROAMGATE_CAFILE: tls.caFile,
    ...(tls.servername ? { ROAMGATE_TLS_SERVERNAME: tls.servername } : {}),
  };
  return new Promise((resolve, reject) => {
    execFile('python3', [CLIENTS, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`clients.py ${args[0]} (${tls.mode}) failed: ${stderr || error.message}`));
      resolve(JSON.parse(stdout) as T);
    });
  });
}

/** Runs swaks; never throws, resolves with its exit code and its transcript (swaks writes the dialogue to stdout). */
export function swaks(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('swaks', ['--timeout', '30', ...args], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: stdout.toString(), stderr: stderr.toString() }),
    );
  });
}
