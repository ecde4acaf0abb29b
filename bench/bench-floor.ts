/**
 * Node's floor: the least a relay in Node does, the "15-line Node relay" the
 * gateway is measured against (issue 18). Forked by relay-bench like the
 * gateway; tells the parent its port over IPC.
 */
import { connect, createServer, type AddressInfo } from 'node:net';
import { serveParent, type ReadyMessage } from './bench-messages';

const upstreamPort = Number(process.argv[2]);
const server = createServer((client) => {
  const upstream = connect(upstreamPort, '127.0.0.1');
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(0, '127.0.0.1', () => {
  serveParent();
  const ready: ReadyMessage = { type: 'ready', port: (server.address() as AddressInfo).port };
  process.send?.(ready);
});
