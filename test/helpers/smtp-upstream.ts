import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
  /** The user the server's AUTH accepted, when it asked for one. */
  user?: string;
  /** Whether the message came over TLS (STARTTLS). */
  secure: boolean;
  /** The address the client connected from. */
  remoteAddress: string;
}

export interface UpstreamOptions {
  banner?: string;
  /** When given, AUTH is required and these user -> password pairs are accepted. */
  users?: Record<string, string>;
  /** Certificate and key: STARTTLS is offered (or, with `implicitTls`, TLS from the first byte). */
  tls?: { key: string; cert: string };
  implicitTls?: boolean;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
}

/** A real SMTP server (nodemailer's smtp-server) on 127.0.0.1:0 (or `host`) that keeps each message's raw bytes. */
export async function startSmtpUpstream(
  bannerOrOptions: string | UpstreamOptions = 'test upstream',
): Promise<{ port: number; messages: ReceivedMail[]; logins: string[]; close: () => Promise<void> }> {
  const options: UpstreamOptions = typeof bannerOrOptions === 'string' ? { banner: bannerOrOptions } : bannerOrOptions;
  const messages: ReceivedMail[] = [];
  const logins: string[] = [];
  const users = options.users;
  const server = new SMTPServer({
    authOptional: users === undefined,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    disabledCommands: options.tls ? [] : ['STARTTLS'],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert, secure: options.implicitTls ?? false } : {}),
    banner: options.banner ?? 'test upstream',
    onAuth(auth, _session, callback) {
      if (users && users[auth.username ?? ''] === auth.password) {
        logins.push(auth.username!);
        return callback(null, { user: auth.username });
      }
      callback(new Error('Invalid username or password'));
    },
    size: 20 * 1024 * 1024,
    // smtp-server looks up each client's name in the DNS, which for an address outside loopback would ask the machine's resolver.
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          ...(session.user ? { user: String(session.user) } : {}),
          secure: session.secure,
          remoteAddress: session.remoteAddress,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, messages, logins, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
