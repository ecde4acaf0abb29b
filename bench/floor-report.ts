/** The gateway against Node's floor (a 15-line relay): the issue 18 targets, as ratios measured in the same run. */
import { fmt } from './bench-output';
import type { BulkSummary, ShortSummary } from './relay-load-phases';

/** Targets of the gateway's cost against the floor's. */
export const FLOOR_TARGETS = { cpuPerConnection: 1.1, cpuPerGiB: 1.0, p99: 1.2 } as const;

/** One proxy's figures: its short-connection and bulk summaries (the `gateway` side of each measurement). */
export interface ProxyFigures {
  short: ShortSummary;
  bulk: BulkSummary;
}

/** The proxy process's CPU per short connection (µs): its share of a core over the rounds, per connection completed. */
export function cpuPerConnectionMicros(short: ShortSummary): number {
  return ((short.cpu.gateway ?? Number.NaN) / 100) * (1_000_000 / short.rate);
}

/** The proxy process's CPU per GiB moved (s): its share of a core, over the bulk rate. */
export function cpuPerGiBSeconds(bulk: BulkSummary): number {
  return ((bulk.cpu.gateway ?? Number.NaN) / 100) * (1024 / bulk.rate);
}

export function printFloorComparison(gateway: ProxyFigures, floor: ProxyFigures): void {
  const verdict = (ratio: number, target: number) => (ratio <= target ? 'PASS' : 'MISS');
  const rows: Array<[string, number, number, number | undefined]> = [
    [
      'proxy CPU per short connection (µs)',
      cpuPerConnectionMicros(floor.short),
      cpuPerConnectionMicros(gateway.short),
      FLOOR_TARGETS.cpuPerConnection,
    ],
    ['proxy CPU per GiB (s)', cpuPerGiBSeconds(floor.bulk), cpuPerGiBSeconds(gateway.bulk), FLOOR_TARGETS.cpuPerGiB],
    ['short connection p99 (ms)', floor.short.p99, gateway.short.p99, FLOOR_TARGETS.p99],
    ['short connections (conn/s)', floor.short.rate, gateway.short.rate, undefined],
    ['short connection p50 (ms)', floor.short.p50, gateway.short.p50, undefined],
    ['bulk upload (MiB/s)', floor.bulk.rate, gateway.bulk.rate, undefined],
  ];
  console.log("\nagainst Node's floor (a 15-line net.createServer + pipe relay, measured the same way in this run)");
  console.log(`${''.padEnd(38)}${'floor'.padStart(10)}${'gateway'.padStart(10)}${'ratio'.padStart(8)}   target`);
  for (const [name, floorValue, gatewayValue, target] of rows) {
    const ratio = gatewayValue / floorValue;
    // Rates are better higher: their ratio is shown, not judged.
    const judged = target === undefined ? '' : `<= ${target.toFixed(2)}x  ${verdict(ratio, target)}`;
    console.log(
      `${name.padEnd(38)}${fmt(floorValue, 2).padStart(10)}${fmt(gatewayValue, 2).padStart(10)}${`${ratio.toFixed(2)}x`.padStart(8)}   ${judged}`,
    );
  }
}
