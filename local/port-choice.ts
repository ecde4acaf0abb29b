import type { AddressInfo, Server } from 'node:net';
import { RoamgateError } from '../errors';
import { DEFAULT_PORTS, STANDARD_PORTS, type ListenerName, type StandardListener } from './options';

/** Where a candidate port came from: it decides whether a failure to bind is final. */
export type PortOrigin = 'explicit' | 'remembered' | 'standard' | 'default';

export interface PortCandidate {
  port: number;
  origin: PortOrigin;
}

/** A listener's standard and default ports; none for another service (its port is always given). */
function knownPorts(name: ListenerName): { standard: number; fallback: number } | undefined {
  return Object.hasOwn(STANDARD_PORTS, name)
    ? { standard: STANDARD_PORTS[name as StandardListener], fallback: DEFAULT_PORTS[name as StandardListener] }
    : undefined;
}

/**
 * The ports to try for a listener, in order: the one given (`--listen`, the
 * config file) alone; else the one remembered from an earlier run alone (so
 * clients configured for it keep working); else the standard port, when
 * wanted, then the documented default.
 */
export function portCandidates(
  name: ListenerName,
  given: { explicit?: number; remembered?: number; tryStandard: boolean },
): PortCandidate[] {
  if (given.explicit !== undefined) return [{ port: given.explicit, origin: 'explicit' }];
  if (given.remembered !== undefined) return [{ port: given.remembered, origin: 'remembered' }];
  const known = knownPorts(name);
  if (!known) return [];
  const candidates: PortCandidate[] = [];
  if (given.tryStandard && known.standard !== known.fallback) candidates.push({ port: known.standard, origin: 'standard' });
  candidates.push({ port: known.fallback, origin: 'default' });
  return candidates;
}

/** Whether a failure to bind a candidate moves on to the next one (only a standard port that is taken or privileged). */
export function triesNext(candidate: PortCandidate, code: string | undefined): boolean {
  return candidate.origin === 'standard' && (code === 'EACCES' || code === 'EADDRINUSE' || code === 'EPERM');
}

/** The error for a port that could not be bound, saying what to pass instead: ROAMGATE_PORT_IN_USE when another program holds it. */
export function portError(
  name: ListenerName,
  host: string,
  candidate: PortCandidate,
  code: string | undefined,
  portsFile: string,
): RoamgateError {
  const fallback = knownPorts(name)?.fallback;
  const other = fallback !== undefined && candidate.port !== fallback ? fallback : (candidate.port + 10_000) % 65_536;
  const instead = `pass --listen ${name}=PORT with another port (e.g. --listen ${name}=${other})`;
  const whose =
    candidate.origin === 'remembered'
      ? ` (remembered for ${name} in ${portsFile})`
      : candidate.origin === 'explicit'
        ? ` (given for ${name})`
        : ` (the default for ${name})`;
  if (code === 'EADDRINUSE')
    return new RoamgateError(
      'ROAMGATE_PORT_IN_USE',
      `${name}: port ${candidate.port} on ${host}${whose} is in use by another program: stop that program, or ${instead}`,
    );
  if (code === 'EACCES' || code === 'EPERM')
    return new RoamgateError(
      'ROAMGATE_INVALID_OPTIONS',
      `${name}: not allowed to listen on port ${candidate.port}${whose}; ports below 1024 need root or CAP_NET_BIND_SERVICE: ${instead}`,
    );
  return new RoamgateError(
    'ROAMGATE_INVALID_OPTIONS',
    `${name}: cannot listen on ${host}:${candidate.port}${whose} (${code ?? 'unknown error'}): ${instead}`,
  );
}

/** Binds a server to host:port; resolves to the port bound, rejects with the system error. */
export function bindServer(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.removeListener('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

/**
 * Binds `server` to the first candidate that works, per the rules above.
 * Resolves with the port and where it came from; throws the port error.
 */
export async function bindFirst(
  server: Server,
  name: ListenerName,
  host: string,
  candidates: readonly PortCandidate[],
  portsFile: string,
): Promise<{ port: number; origin: PortOrigin }> {
  for (const candidate of candidates) {
    try {
      return { port: await bindServer(server, host, candidate.port), origin: candidate.origin };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!triesNext(candidate, code)) throw portError(name, host, candidate, code, portsFile);
    }
  }
  throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `${name}: no port to listen on; give one with --listen ${name}=PORT`);
}
