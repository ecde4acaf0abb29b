import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import makeMulticastDns from 'multicast-dns';
import { announcementsIn, MDNS_GROUP, SERVICE_TYPE } from '../protocols/mdns-announcement';
import { sendSchedule, type DiscoveryTransport, type TransportHandlers } from './discovery-transport';

/** Where and how long to ask by mDNS. */
export interface MdnsQueryRequest {
  /** The mDNS port the query is sent to (5353). */
  port: number;
  /** IPv4 addresses of the interfaces to ask on; empty: every non-loopback IPv4 interface. */
  interfaces: readonly string[];
  windowMs: number;
}

/** The interfaces asked on when none are named: every non-loopback IPv4 address, one per interface. */
export function defaultMdnsInterfaces(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) =>
    (entries ?? [])
      .filter((entry) => entry.family === 'IPv4' && !entry.internal)
      .slice(0, 1)
      .map((entry) => entry.address),
  );
}

/**
 * Asks by mDNS: a one-shot DNS-SD query (PTR `_roamgate._tcp.local`) sent to
 * the mDNS group from an ephemeral port on each interface, so responders
 * answer by unicast (RFC 6762 §5.1) and nothing here needs port 5353.
 * Every announcement read out of a response is handed on, with nonce "".
 */
export function queryByMdns(request: MdnsQueryRequest, handlers: TransportHandlers): DiscoveryTransport {
  const interfaces = [...new Set(request.interfaces.length ? request.interfaces : defaultMdnsInterfaces())];
  if (interfaces.length === 0) handlers.onSendError('mDNS: no IPv4 network interface to ask on');
  const askers = interfaces.map((address) => askOn(address, request, handlers));
  return {
    close: () => {
      for (const asker of askers) asker.close();
    },
  };
}

function askOn(address: string, request: MdnsQueryRequest, handlers: TransportHandlers): DiscoveryTransport {
  const socket = createSocket({ type: 'udp4' });
  // The library encodes and decodes; the socket is ours, bound to an ephemeral port on this interface, not joined to the group.
  const mdns = makeMulticastDns({ socket, bind: false, multicast: false, port: request.port, ip: MDNS_GROUP });
  let stopped = false;
  const fail = (error: NodeJS.ErrnoException) => handlers.onSendError(`mDNS on ${address}: ${error.code ?? error.message}`);
  const schedule = sendSchedule(request.windowMs, () => {
    mdns.query({ questions: [{ name: SERVICE_TYPE, type: 'PTR' }] }, (error) => {
      if (error) fail(error);
    });
  });
  const stop = () => {
    if (stopped) return;
    stopped = true;
    schedule.stop();
    try {
      mdns.destroy();
    } catch {
      // A socket whose bind failed may refuse to be closed again.
    }
  };

  mdns.on('error', (error: NodeJS.ErrnoException) => {
    fail(error);
    stop();
  });
  mdns.on('warning', (error: NodeJS.ErrnoException) => {
    // Undecodable packets are anyone's to send; a failing socket is worth telling.
    if (!error.syscall) return;
    fail(error);
    if (error.syscall === 'bind') stop();
  });
  mdns.on('response', (response, from) => {
    for (const answer of announcementsIn([...(response.answers ?? []), ...(response.additionals ?? [])])) {
      handlers.onAnswer({ answer, from: `${from.address}:${from.port}`, nonce: '', via: 'mdns' });
    }
  });
  socket.bind(0, address, () => {
    if (stopped) return;
    try {
      socket.setMulticastInterface(address);
      socket.setMulticastTTL(255);
      // A gateway on this very machine answers only if the query is looped back to it.
      socket.setMulticastLoopback(true);
    } catch (error) {
      fail(error as NodeJS.ErrnoException);
      return stop();
    }
    schedule.start();
  });
  return { close: stop };
}
