import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { RoamgateError } from '../errors';
import type { ServerTls } from '../server-info';

/** How long a TLS handshake may take, either side (ms). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Reads a certificate and key (PEM files) into a context for TLS towards clients. Throws naming the file. */
export function loadSecureContext(files: { cert: string; key: string }, optionPath: string): SecureContext {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `${optionPath}.${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        { cause: error },
      );
    }
  };
  try {
    return createSecureContext({ cert: read(files.cert, 'cert'), key: read(files.key, 'key'), minVersion: 'TLSv1.2' });
  } catch (error) {
    if (error instanceof RoamgateError) throw error;
    throw new RoamgateError(
      'ROAMGATE_INVALID_OPTIONS',
      `${optionPath}: certificate and key do not make a TLS context (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** Runs the server side of a TLS handshake on an accepted socket; resolves with the secure socket. */
export function acceptTls(socket: Socket, context: SecureContext): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
    const timer = setTimeout(() => fail(new Error('TLS handshake timed out')), TLS_HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    const fail = (error: Error) => {
      clearTimeout(timer);
      secure.destroy();
      socket.destroy();
      reject(error);
    };
    secure.once('error', fail);
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.removeListener('error', fail);
      resolve(secure);
    });
  });
}

/**
 * Starts TLS towards a server on a connected socket, verifying its
 * certificate (against `tls.ca` when given, else Node's CAs) and name.
 * Verification is never turned off: a bad certificate is a failed server.
 */
export function startServerTls(socket: Socket, host: string, tls: ServerTls): Promise<TLSSocket> {
  let ca: Buffer | undefined;
  if (tls.ca) {
    try {
      ca = readFileSync(tls.ca);
    } catch (error) {
      return Promise.reject(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `cannot read the server CA file ${tls.ca}`, { cause: error }));
    }
  }
  const name = tls.servername ?? host;
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      host: name,
      servername: isIP(name) ? undefined : name,
      ca,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    });
    const timer = setTimeout(
      () => fail(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', 'server TLS handshake timed out')),
      TLS_HANDSHAKE_TIMEOUT_MS,
    );
    timer.unref();
    const fail = (error: Error) => {
      clearTimeout(timer);
      secure.destroy();
      reject(
        error instanceof RoamgateError
          ? error
          : new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `server TLS failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`, {
              cause: error,
            }),
      );
    };
    secure.once('error', fail);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.removeListener('error', fail);
      resolve(secure);
    });
  });
}
