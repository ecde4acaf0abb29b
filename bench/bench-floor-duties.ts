/**
 * Node's floor with a gateway's duties: the 15-line relay of bench-floor,
 * plus what any Node gateway must do per connection whatever its design: read
 * the peer's address (getpeername) and count it per address, TCP_NODELAY on
 * both sides (once on the listener, as the gateway does), a connect timeout
 * and an idle timer, and a record of the connection written in batches as
 * JSON (to /dev/null). No policy, no server choice, no metrics. Between the
 * floor and the gateway in the relay bench, it splits the gateway's gap into what these
 * duties cost in Node and what the gateway adds on top. Forked by relay-bench
 * like the floor; tells the parent its port over IPC.
 */
import { openSync, writeSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { setListenerNoDelay } from '../net/listener-nodelay';
import { serveParent, type ReadyMessage } from './bench-messages';

const upstreamPort = Number(process.argv[2]);
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 600_000;
const RECORD_FLUSH_MS = 100;

const clientsPerAddress = new Map<string, number>();
let records: object[] = [];
/** Where each batch of records is written, as a store would be handed them: nowhere that keeps them. */
const recordSink = openSync('/dev/null', 'w');
setInterval(() => {
  if (records.length === 0) return;
  let batch = '';
  for (const record of records) batch += `${JSON.stringify(record)}\n`;
  records = [];
  writeSync(recordSink, batch);
}, RECORD_FLUSH_MS).unref();

const server = createServer((client) => {
  const started = performance.now();
  const address = client.remoteAddress ?? 'unknown';
  clientsPerAddress.set(address, (clientsPerAddress.get(address) ?? 0) + 1);
  const upstream = connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
  const connectTimer = setTimeout(() => upstream.destroy(), CONNECT_TIMEOUT_MS);
  upstream.once('connect', () => clearTimeout(connectTimer));
  const idleTimer = setTimeout(() => client.destroy(), IDLE_TIMEOUT_MS);
  idleTimer.unref();
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  let open = 2;
  const closed = () => {
    if (--open > 0) return;
    clearTimeout(connectTimer);
    clearTimeout(idleTimer);
    const left = (clientsPerAddress.get(address) ?? 1) - 1;
    if (left > 0) clientsPerAddress.set(address, left);
    else clientsPerAddress.delete(address);
    records.push({
      event: 'connection',
      address,
      service: 'smtp',
      outcome: 'relayed',
      bytesFromClient: client.bytesRead,
      bytesFromServer: upstream.bytesRead,
      durationMs: performance.now() - started,
      at: Date.now(),
    });
  };
  client.on('close', closed);
  upstream.on('close', closed);
});
server.listen(0, '127.0.0.1', () => {
  // Where the listener cannot pass it on, each accepted socket sets it itself, as the gateway does.
  if (!setListenerNoDelay(server)) server.on('connection', (socket) => socket.setNoDelay(true));
  serveParent();
  const ready: ReadyMessage = { type: 'ready', port: (server.address() as AddressInfo).port };
  process.send?.(ready);
});
