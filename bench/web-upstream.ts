/**
 * The web bench's upstream: a Node HTTP server answering every request with the same small body, keep-alive, so
 * that it is cheap and never what limits a measurement. Forked by web-bench; tells the parent its port over IPC.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveParent, type ReadyMessage } from './bench-messages';
import { WEB_BENCH_BODY } from './web-settings';

const server = createServer((req, res) => {
  // Drain whatever body came, then answer.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(WEB_BENCH_BODY) });
    res.end(WEB_BENCH_BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  serveParent();
  const ready: ReadyMessage = { type: 'ready', port: (server.address() as AddressInfo).port };
  process.send?.(ready);
});
