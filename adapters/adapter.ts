import type { AddressInfo } from 'node:net';
import { RoamgateError } from '../errors';
import type { TcpListener } from './tcp-listener';

/** One bound port of an adapter: `smtp`, or `smtp-tls` for its implicit-TLS port. */
export interface BoundPort {
  key: string;
  address: AddressInfo;
}

/** One port an adapter owns, with the host and port it was configured with: what a reload compares and hands over. */
export interface AdapterPort {
  listener: TcpListener;
  host: string;
  port: number;
}

/**
 * A protocol adapter: owns its port(s), accepts clients and relays them.
 * The options section `adapters.<service>` configures one.
 */
export interface Adapter {
  readonly service: string;
  /** Binds every port of the adapter; throws ROAMGATE_INVALID_OPTIONS naming the option when one cannot be bound. */
  listen(): Promise<BoundPort[]>;
  /** Stops accepting; lets open connections finish for `graceMs` (`Infinity`: however long they last), then cuts them. */
  close(graceMs: number): Promise<void>;
  /** Its listeners by key (`smtp`, `smtp-tls`), as configured. */
  ports(): ReadonlyMap<string, AdapterPort>;
}

/** Binds `listeners` (key -> listener) in order, naming the adapter's option when a port cannot be bound. */
export async function bindListeners(
  service: string,
  host: string,
  listeners: ReadonlyMap<string, { listener: TcpListener; port: number }>,
): Promise<BoundPort[]> {
  const bound: BoundPort[] = [];
  for (const [key, { listener, port }] of listeners) {
    try {
      bound.push({ key, address: await listener.listen() });
    } catch (error) {
      await Promise.all([...listeners.values()].map((entry) => entry.listener.close(0)));
      const code = (error as NodeJS.ErrnoException).code;
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `adapters.${service}: cannot listen on ${host}:${port} (${code ?? (error as Error).message})`,
        { cause: error },
      );
    }
  }
  return bound;
}
