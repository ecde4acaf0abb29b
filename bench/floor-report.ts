/**
 * The gateway against Node's floor (a 15-line relay) and beside nginx: the
 * issue's targets, as ratios of the floor measured in the same rounds, plus
 * the absolute memory target and the earlier ratios of direct.
 */
import { fmt } from './bench-output';
import type { BulkSummary, ShortSummary } from './relay-load-phases';
import type { IdleSummary } from './idle-memory-phase';
import { TARGETS } from './relay-settings';

/** The label of the floor with a gateway's duties (bench-floor-duties.ts); relay-proxies starts it under this name. */
export const DUTIES_LABEL = 'floor+duties';

/** One path's figures in the relay bench: direct, or a proxy (its idle figure when it was measured). */
export interface PathResult {
  label: string;
  short: ShortSummary;
  bulk: BulkSummary;
  idle?: IdleSummary;
}

/** Targets of the gateway's cost against the floor's. */
export const FLOOR_TARGETS = { cpuPerConnection: 1.1, cpuPerGiB: 1.0, p99: 1.2 } as const;

/** The proxy's CPU per short connection (µs): its share of a core over the rounds, per connection completed. */
export function cpuPerConnectionMicros(short: ShortSummary): number {
  return ((short.cpu.gateway ?? Number.NaN) / 100) * (1_000_000 / short.rate);
}

/** The proxy's CPU per GiB moved (s): the median over the runs of each run's CPU over its bytes. */
export function cpuPerGiBSeconds(bulk: BulkSummary): number {
  return bulk.cpuPerGiB ?? ((bulk.cpu.gateway ?? Number.NaN) / 100) * (1024 / bulk.rate);
}

/** A judged figure: its value per proxy, and how the gateway's is judged. */
interface TargetRow {
  name: string;
  value: (path: PathResult) => number;
  /** Judged as gateway ÷ floor <= ratio, or gateway's own value <= absolute. */
  target: { ratio: number } | { absolute: number };
}

const ROWS: TargetRow[] = [
  {
    name: 'proxy CPU per short connection (µs)',
    value: (p) => cpuPerConnectionMicros(p.short),
    target: { ratio: FLOOR_TARGETS.cpuPerConnection },
  },
  { name: 'proxy CPU per GiB (s)', value: (p) => cpuPerGiBSeconds(p.bulk), target: { ratio: FLOOR_TARGETS.cpuPerGiB } },
  { name: 'short connection p99 (ms)', value: (p) => p.short.p99, target: { ratio: FLOOR_TARGETS.p99 } },
  {
    name: 'KiB per idle relayed connection',
    value: (p) => p.idle?.rssSlopeKiB ?? Number.NaN,
    target: { absolute: TARGETS.idleKiBPerConnection },
  },
];

export function printTargets(direct: PathResult, proxies: PathResult[]): void {
  const floor = proxies.find((path) => path.label === 'floor');
  const nginx = proxies.find((path) => path.label === 'nginx');
  const gateway = proxies.find((path) => path.label === 'gateway');
  if (!floor || !gateway) return;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const ratio = (a: number, b: number) => `${fmt(a / b, 2)}x`;
  console.log("\ntargets: the gateway against Node's floor (nginx's ratio to the floor beside it, not judged)");
  console.log(
    `${''.padEnd(36)}${'floor'.padStart(10)}${'nginx'.padStart(10)}${'gateway'.padStart(10)}${'gw/floor'.padStart(10)}${'nginx/fl'.padStart(10)}   target`,
  );
  for (const row of ROWS) {
    const [f, n, g] = [row.value(floor), nginx ? row.value(nginx) : Number.NaN, row.value(gateway)];
    const judged =
      'ratio' in row.target
        ? `<= ${row.target.ratio.toFixed(2)}x floor  ${verdict(g / f <= row.target.ratio)}`
        : `<= ${row.target.absolute} KiB  ${verdict(g <= row.target.absolute)}`;
    console.log(
      `${row.name.padEnd(36)}${fmt(f, 2).padStart(10)}${fmt(n, 2).padStart(10)}${fmt(g, 2).padStart(10)}${ratio(g, f).padStart(10)}${ratio(n, f).padStart(10)}   ${judged}`,
    );
  }
  printDutiesSplit(
    floor,
    proxies.find((path) => path.label === DUTIES_LABEL),
    gateway,
  );
  const conn = gateway.short.rate / direct.short.rate;
  const bulk = gateway.bulk.rate / direct.bulk.rate;
  console.log(
    `earlier targets, gateway ÷ direct: short connections ${fmt(conn, 2)}x (>= ${TARGETS.connectionRateRatio}x ${verdict(conn >= TARGETS.connectionRateRatio)}), ` +
      `bulk ${fmt(bulk, 2)}x (>= ${TARGETS.throughputRatio}x ${verdict(bulk >= TARGETS.throughputRatio)})`,
  );
}

/**
 * The gateway's gap split in two, not judged: the floor with a gateway's
 * duties against the floor (what those duties cost in Node), and the gateway
 * against the floor with duties (what the gateway adds on top).
 */
function printDutiesSplit(floor: PathResult, duties: PathResult | undefined, gateway: PathResult): void {
  if (!duties) return;
  const withDuties = cpuPerConnectionMicros(duties.short);
  const dutiesRatio = withDuties / cpuPerConnectionMicros(floor.short);
  const gatewayRatio = cpuPerConnectionMicros(gateway.short) / withDuties;
  console.log(
    `CPU per short connection, split: the floor with a gateway's duties ${fmt(dutiesRatio, 2)}x the floor's (what the duties cost in Node), the gateway ${fmt(gatewayRatio, 2)}x the floor with duties' (what the gateway adds)`,
  );
}
