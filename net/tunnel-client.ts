import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { RoamgateError, type RoamgateErrorCode } from '../errors';
import { findHeadEnd, parseStatusLine } from '../protocols/http/response-head';
import { tunnelTarget } from '../protocols/http/tunnel-target';
import { DEFAULT_TCP_KEEPALIVE_MS } from './tcp-keepalive';

/** Largest response head the tunnel endpoint may send (bytes). */
export const MAX_TUNNEL_RESPONSE_HEAD_BYTES = 16 * 1024;

/** What each refusal of a tunnel endpoint means to whoever asked (a local proxy, or a gateway relaying to a visitor's home). */
const TUNNEL_REFUSALS: Record<number, RoamgateErrorCode> = {
  400: 'ROAMGATE_SOURCE_FAILED',
  403: 'ROAMGATE_ACCESS_DENIED',
  407: 'ROAMGATE_LOGIN_REQUIRED',
  // The gateway is reachable but the server behind it is not; ROAMGATE_UPSTREAM_REFUSED means the gateway itself could not be reached.
  502: 'ROAMGATE_NO_SERVER',
  503: 'ROAMGATE_TOO_MANY_CLIENTS',
  504: 'ROAMGATE_UPSTREAM_TIMEOUT',
};

/** Host and port of a management URL, where its HTTP server (and so the tunnel endpoint) listens. */
export function tunnelAddress(gatewayUrl: string): { host: string; port: number; tls: boolean } {
  const url = new URL(gatewayUrl);
  const tls = url.protocol === 'https:';
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : tls ? 443 : 80, tls };
}

/** The request that opens a tunnel to `service` with a lease token. */
export function tunnelRequest(service: string, token: string): string {
  const target = tunnelTarget(service);
  return `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`;
}

/** How a tunnel is opened, beyond where to. */
export interface TunnelOptions {
  /** Gives up at once when aborted, rejecting with the signal's reason when it is a RoamgateError. */
  signal?: AbortSignal;
  /** Idle time before TCP keepalive probes start on the tunnel (ms); default DEFAULT_TCP_KEEPALIVE_MS; 0: left off (a relay turns it on). */
  keepAliveMs?: number;
}

/**
 * Opens a tunnel through the gateway: `CONNECT <service>.roamgate:1` with the
 * lease token on the gateway's HTTP(S) server. Resolves with the socket once
 * the gateway answered 200 (bytes after the answer are put back for the
 * reader, and the socket is paused); rejects with a RoamgateError whose code
 * says why (407: ROAMGATE_LOGIN_REQUIRED, 403: ROAMGATE_ACCESS_DENIED with
 * the gateway's reason, ...). `timeoutMs` covers connecting and the answer.
 */
export function openTunnel(
  gatewayUrl: string,
  service: string,
  token: string,
  timeoutMs: number,
  options: TunnelOptions = {},
): Promise<Socket> {
  const { host, port, tls } = tunnelAddress(gatewayUrl);
  const { signal, keepAliveMs = DEFAULT_TCP_KEEPALIVE_MS } = options;
  return new Promise((resolve, reject) => {
    const socket: Socket = tls
      ? connectTls({ host, port, servername: isIP(host) ? undefined : host })
      : connectTcp({ host, port, noDelay: true });
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
    let head = Buffer.alloc(0);
    const timer = setTimeout(
      () => fail(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', `the gateway at ${gatewayUrl} did not open the ${service} tunnel in time`)),
      timeoutMs,
    );
    timer.unref();
    const onAbort = () =>
      fail(
        signal?.reason instanceof RoamgateError
          ? signal.reason
          : new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `the ${service} tunnel through ${gatewayUrl} was given up`),
      );
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const fail = (error: RoamgateError) => {
      cleanup();
      socket.on('error', () => undefined);
      socket.destroy();
      reject(error);
    };
    const onError = (error: NodeJS.ErrnoException) =>
      fail(
        new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `cannot reach the gateway at ${gatewayUrl} (${error.code ?? error.message})`, {
          cause: error,
        }),
      );
    const onClose = () =>
      fail(new RoamgateError('ROAMGATE_UPSTREAM_REFUSED', `the gateway at ${gatewayUrl} closed the ${service} tunnel before answering`));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = findHeadEnd(head);
      if (end === -1) {
        if (head.length > MAX_TUNNEL_RESPONSE_HEAD_BYTES)
          fail(new RoamgateError('ROAMGATE_SOURCE_FAILED', `the gateway at ${gatewayUrl} sent an oversized answer to the tunnel request`));
        return;
      }
      const refusal = tunnelRefusal(head.subarray(0, end), gatewayUrl, service);
      if (refusal) return fail(refusal);
      cleanup();
      socket.pause();
      if (end < head.length) socket.unshift(head.subarray(end));
      resolve(socket);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(tunnelRequest(service, token)));
  });
}

/** What the gateway's answer head says of the tunnel request: null for 200 (open), else the refusal as an error. */
function tunnelRefusal(head: Buffer, gatewayUrl: string, service: string): RoamgateError | null {
  const lines = head.toString('latin1').split(/\r?\n/);
  const status = parseStatusLine(lines[0]);
  if (!status)
    return new RoamgateError(
      'ROAMGATE_SOURCE_FAILED',
      `the gateway at ${gatewayUrl} did not answer the tunnel request in HTTP; is this a roamgate management URL?`,
    );
  if (status.status === 200) return null;
  const reasonHeader = lines.find((line) => /^x-roamgate-error:/i.test(line));
  const reason = reasonHeader
    ? reasonHeader.slice(reasonHeader.indexOf(':') + 1).trim()
    : `the gateway answered ${status.status} ${status.reason}`.trim();
  const code = TUNNEL_REFUSALS[status.status] ?? 'ROAMGATE_NO_SERVER';
  return new RoamgateError(
    code,
    code === 'ROAMGATE_SOURCE_FAILED' ? `the gateway at ${gatewayUrl} does not tunnel ${service}: ${reason}` : reason,
  );
}
