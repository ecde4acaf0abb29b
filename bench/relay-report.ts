/**
 * The relay bench's closing report: one table (direct, Node's floor, nginx,
 * the gateway), the targets against the floor (floor-report), then what lies
 * behind each figure.
 */
import { fmt } from './bench-output';
import { describeShare } from './cpu-accounting';
import { cpuPerConnectionMicros, cpuPerGiBSeconds, type PathResult, printTargets } from './floor-report';
import { MiB, SETTINGS } from './relay-settings';

/** The relay bench's figures: direct has no proxy CPU and no idle figure. */
export interface RelayResults {
  direct: PathResult;
  /** floor, floor+duties, nginx (when it ran), gateway, in that order. */
  proxies: PathResult[];
  nginxUnavailable?: string;
}

const COLUMNS = ['conn/s', 'x direct', 'CPU/conn µs', 'p50 ms', 'p99 ms', 'bulk MiB/s', 'x direct', 'CPU/GiB s', 'KiB/idle conn'] as const;

function tableRow(path: PathResult, direct: PathResult): string[] {
  const proxied = path !== direct;
  return [
    path.label,
    fmt(path.short.rate),
    `${fmt(path.short.rate / direct.short.rate, 2)}x`,
    proxied ? fmt(cpuPerConnectionMicros(path.short), 1) : '-',
    fmt(path.short.p50, 2),
    fmt(path.short.p99, 2),
    fmt(path.bulk.rate),
    `${fmt(path.bulk.rate / direct.bulk.rate, 2)}x`,
    proxied ? fmt(cpuPerGiBSeconds(path.bulk), 2) : '-',
    path.idle ? fmt(path.idle.rssSlopeKiB, 2) : '-',
  ];
}

/** Prints rows as a table: the first column left-aligned, the others right-aligned. */
export function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  for (const row of rows)
    console.log(
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
        .join('  ')
        .trimEnd(),
    );
}

export function printReport(results: RelayResults): void {
  const { direct, proxies } = results;
  console.log('');
  console.log(
    "relay: direct, Node floor, the floor with a gateway's duties, nginx stream proxy, gateway, interleaved in the same rounds; proxy CPU is the proxy processes' own (user + system)",
  );
  printTable([['', ...COLUMNS], ...[direct, ...proxies].map((path) => tableRow(path, direct))]);
  if (results.nginxUnavailable) console.log(`nginx: not measured (${results.nginxUnavailable})`);
  printTargets(direct, proxies);
  printDetails(results);
}

function printDetails({ direct, proxies }: RelayResults): void {
  const all = [direct, ...proxies];
  console.log('');
  console.log(
    `short connections: ${SETTINGS.workers} workers, ${SETTINGS.rounds} x ${SETTINGS.roundMs / 1000} s per target; completed ${all.map((path) => `${path.label} ${path.short.completed}`).join(', ')}`,
  );
  const failed = all.filter((path) => path.short.failed > 0);
  if (failed.length > 0)
    console.log(
      `  failed: ${failed.map((path) => `${path.label} ${path.short.failed}`).join(', ')}; first failure: ${failed[0].short.firstError}`,
    );
  for (const path of all) console.log(`  CPU, ${path.label.padEnd(7)} (% of one core): ${describeShare(path.short.cpu, path.label)}`);
  console.log(
    `bulk upload: ${SETTINGS.bulkBytes / MiB} MiB client -> upstream (discarded there), median of ${SETTINGS.bulkRuns}; runs (MiB/s): ${all.map((path) => `${path.label} ${path.bulk.runs.map((r) => fmt(r)).join('/')}`).join(', ')}`,
  );
  for (const path of all) console.log(`  CPU, ${path.label.padEnd(7)} (% of one core): ${describeShare(path.bulk.cpu, path.label)}`);
  const mib = (bytes: number) => fmt(bytes / MiB, 1);
  for (const { idle } of proxies) {
    if (!idle) continue;
    const heap =
      idle.heapSlopeKiB === undefined
        ? ' (the worker process)'
        : `, of which live JS heap ${fmt(idle.heapSlopeKiB, 2)} KiB/conn (JS heap ${mib(idle.first.heapUsed ?? Number.NaN)} -> ${mib(idle.last.heapUsed ?? Number.NaN)} MiB, GC ${idle.last.collected ? 'forced' : 'NOT forced'})`;
    console.log(
      `idle, ${idle.label}: ${idle.connections} connections, slope ${fmt(idle.rssSlopeKiB, 2)} KiB/conn over the ${SETTINGS.idleSteps} samples after the baseline, first to last ${fmt(idle.rssEndpointsKiB, 2)} KiB/conn; RSS ${mib(idle.first.rss)} -> ${mib(idle.last.rss)} MiB${heap}`,
    );
  }
}
