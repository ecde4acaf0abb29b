import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Adapter } from '../adapters/adapter';
import type { GatewayContext } from '../adapters/gateway-context';
import type { TcpListener } from '../adapters/tcp-listener';
import { RoamgateError } from '../errors';
import type { NormalizedOptions } from './options';
import { buildAdapters } from './protocol-adapters';
import { adapterSections } from './reload-diff';

/**
 * A reload's adapters, built and bound but not yet serving: `commit` makes
 * them serve, `abandon` undoes the binding. A port that stays the same is
 * handed over (never closed in between, so no client is refused); a new port
 * is bound before anything else changes, so a port that cannot be bound
 * leaves the running adapters as they are.
 */
export interface AdapterSwap {
  /** The new adapters by section (`pop3`, `tcp.telnet`). */
  built: ReadonlyMap<string, Adapter>;
  /** Ports bound anew, by listener key (`pop3`, `pop3-tls`). */
  bound: Array<{ key: string; service: string; address: AddressInfo }>;
  /** Running listeners whose port goes to a new listener of the same host and port. */
  handOvers: Array<{ from: TcpListener; to: TcpListener }>;
}

/**
 * Builds the adapters of `sections` from `adapters` (reading their certificates: a bad file throws
 * ROAMGATE_INVALID_OPTIONS) and, when the gateway listens, binds every port that is not one of `running`'s.
 */
export async function prepareAdapters(
  sections: readonly string[],
  adapters: NormalizedOptions['adapters'],
  context: GatewayContext,
  running: ReadonlyMap<string, Adapter>,
  listening: boolean,
): Promise<AdapterSwap> {
  const built = buildAdapters(adapters, context, new Set(sections));
  const swap: AdapterSwap = { built, bound: [], handOvers: [] };
  if (!listening) return swap;
  const fresh: Array<{ key: string; section: string; service: string; listener: TcpListener; host: string; port: number }> = [];
  for (const [section, adapter] of built) {
    const old = running.get(section)?.ports();
    for (const [key, port] of adapter.ports()) {
      const previous = old?.get(key);
      if (previous && previous.host === port.host && previous.port === port.port && previous.listener.address())
        swap.handOvers.push({ from: previous.listener, to: port.listener });
      else fresh.push({ key, section, service: adapter.service, ...port });
    }
  }
  for (const { key, section, service, listener, host, port } of fresh) {
    try {
      swap.bound.push({ key, service, address: await listener.listen() });
    } catch (error) {
      await abandonAdapters(swap);
      const code = (error as NodeJS.ErrnoException).code;
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `adapters.${section}: cannot listen on ${host}:${port} (${code ?? (error as Error).message})`,
        {
          cause: error,
        },
      );
    }
  }
  return swap;
}

/** Undoes what prepareAdapters bound (a later step of the reload failed). */
export async function abandonAdapters(swap: AdapterSwap): Promise<void> {
  await Promise.all([...swap.built.values()].map((adapter) => adapter.close(0)));
}

/** Hands the kept ports over; returns the running map with the built adapters in and `removed` sections out, and what they replace. */
export function commitAdapters(swap: AdapterSwap, running: Map<string, Adapter>, removed: readonly string[]): { retired: Adapter[] } {
  for (const { from, to } of swap.handOvers) from.handOver(to);
  const retired: Adapter[] = [];
  for (const section of [...swap.built.keys(), ...removed]) {
    const old = running.get(section);
    if (old) retired.push(old);
    running.delete(section);
  }
  for (const [section, adapter] of swap.built) running.set(section, adapter);
  return { retired };
}

/**
 * A fingerprint of each adapter's certificate and key files (sections with `tls`): a certificate renewed in place
 * (same file names) is a change a reload must serve. A file that cannot be read counts as changed.
 */
export function certificateFingerprints(adapters: NormalizedOptions['adapters']): Map<string, string> {
  const fingerprints = new Map<string, string>();
  for (const [section, options] of adapterSections(adapters)) {
    const tls = (options as { tls?: { cert: string; key: string } }).tls;
    if (!tls) continue;
    const hash = createHash('sha256');
    try {
      hash.update(readFileSync(tls.cert)).update('\u0000').update(readFileSync(tls.key));
      fingerprints.set(section, hash.digest('hex'));
    } catch {
      fingerprints.set(section, `unreadable ${Math.random()}`);
    }
  }
  return fingerprints;
}
