import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { MDNS_GROUP } from '../../protocols/mdns-announcement';
import { until } from './until';

/**
 * A UDP port free on every IPv4 address now: mDNS tests use one of their
 * own instead of 5353, on loopback, so nothing reaches a real network and
 * test files running side by side do not hear each other.
 */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '0.0.0.0', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A decoded DNS packet and where it came from. */
export interface HeardPacket {
  packet: dnsPacket.Packet;
  from: RemoteInfo;
}

/**
 * A raw mDNS peer on one interface (default loopback): sends DNS packets to
 * the group and keeps every packet it hears. `onPort` binds the mDNS port
 * itself and joins the group (as a full mDNS querier or a cache would);
 * otherwise it asks from an ephemeral port (a one-shot querier).
 */
export class RawMdnsPeer {
  readonly heard: HeardPacket[] = [];
  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (data, from) => {
      try {
        this.heard.push({ packet: dnsPacket.decode(data), from });
      } catch {
        // not DNS
      }
    });
  }

  static async open(port: number, options: { onPort?: boolean; address?: string; sourcePort?: number } = {}): Promise<RawMdnsPeer> {
    const address = options.address ?? '127.0.0.1';
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.onPort ? port : (options.sourcePort ?? 0), options.onPort ? '0.0.0.0' : address, () => resolve());
    });
    if (options.onPort) socket.addMembership(MDNS_GROUP, address);
    socket.setMulticastInterface(address);
    socket.setMulticastLoopback(true);
    return new RawMdnsPeer(socket, port);
  }

  /** Sends a packet to the group (or to `to`). */
  send(packet: dnsPacket.Packet, to: { address: string; port: number } = { address: MDNS_GROUP, port: this.port }): Promise<void> {
    const data = dnsPacket.encode(packet);
    return new Promise((resolve, reject) => this.socket.send(data, to.port, to.address, (error) => (error ? reject(error) : resolve())));
  }

  /** Asks for `name` (default PTR) with this id. */
  query(name: string, type: dnsPacket.RecordType = 'PTR', id = 0): Promise<void> {
    return this.send({ type: 'query', id, flags: 0, questions: [{ name, type, class: 'IN' }] });
  }

  responses(): HeardPacket[] {
    return this.heard.filter((heard) => heard.packet.type === 'response');
  }

  async waitForResponses(count: number, timeoutMs = 3_000): Promise<HeardPacket[]> {
    await until(
      () => this.responses().length >= count,
      () => `${count} mDNS responses (heard ${this.responses().length})`,
      timeoutMs,
    );
    return this.responses();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Every record of a packet, answers then additionals. */
export function recordsOf(packet: dnsPacket.Packet): dnsPacket.Answer[] {
  return [...(packet.answers ?? []), ...(packet.additionals ?? [])];
}
