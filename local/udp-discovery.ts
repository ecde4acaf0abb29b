import { createSocket } from 'node:dgram';
import { newQuery, parseAnswer } from '../protocols/discovery-message';
import { sendSchedule, type DiscoveryTransport, type TransportHandlers } from './discovery-transport';

/** Where and how long to ask by UDP. */
export interface UdpQueryRequest {
  port: number;
  /** Where the query goes: broadcast and/or unicast IPv4 addresses. */
  addresses: readonly string[];
  windowMs: number;
}

/**
 * Asks by UDP: a query with a fresh nonce, sent to each address a few
 * times within the window (`sendSchedule`; from one ephemeral
 * port, broadcast allowed); every datagram that reads as an answer is handed
 * on with the nonce it must carry.
 */
export function queryByUdp(request: UdpQueryRequest, handlers: TransportHandlers): DiscoveryTransport {
  const query = newQuery();
  const payload = Buffer.from(JSON.stringify(query));
  const socket = createSocket({ type: 'udp4' });
  let stopped = false;
  const schedule = sendSchedule(request.windowMs, () => {
    for (const address of request.addresses) {
      socket.send(payload, request.port, address, (error) => {
        if (error) handlers.onSendError(`${address}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
      });
    }
  });
  const stop = () => {
    if (stopped) return;
    stopped = true;
    schedule.stop();
    socket.close();
  };

  socket.on('error', (error: NodeJS.ErrnoException) => {
    handlers.onSendError(`socket: ${error.code ?? error.message}`);
    stop();
  });
  socket.on('message', (data, from) => {
    const answer = parseAnswer(data);
    if (answer) handlers.onAnswer({ answer, from: `${from.address}:${from.port}`, nonce: query.nonce, via: 'udp' });
  });
  socket.bind(0, () => {
    if (stopped) return;
    try {
      socket.setBroadcast(true);
    } catch (error) {
      handlers.onSendError(`broadcast: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    schedule.start();
  });
  return { close: stop };
}
