/**
 * The web route's own answers (a request it could not serve; an upgrade refused or failed), written in one place.
 * Refusals of requests are the guard's (`WebGuard.refuse`); statuses of failures come from `httpStatusFor`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { formatHttpResponse } from '../../protocols/http/status';

/** Answers a request the route could not serve: JSON `{ error }`, or the message as text for a browser. */
export function sendWebFailure(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  const browser = (req.headers.accept ?? '').includes('text/html');
  const body = browser ? `${message}\n` : JSON.stringify({ error: message });
  res.writeHead(status, {
    'Content-Type': browser ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** Writes a whole HTTP/1.1 response on an upgrade's socket, then destroys the socket once it is written. */
export function endUpgrade(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(formatHttpResponse(status, message), () => socket.destroy());
}
