/** The relay bench's closing report: the figures against their targets, then what lies behind each. */
import { fmt } from './bench-output';
import { describeShare } from './cpu-accounting';
import type { IdleSummary } from './idle-memory-phase';
import type { BulkSummary, Reference, ShortSummary } from './relay-load-phases';
import { MiB, SETTINGS, TARGET_ORDER, TARGETS, type Target } from './relay-settings';

export function printReport(
  short: Record<Target, ShortSummary>,
  bulk: Record<Target, BulkSummary>,
  idle: IdleSummary,
  reference: Reference,
): void {
  const connRatio = short.gateway.rate / short.direct.rate;
  const bulkRatio = bulk.gateway.rate / bulk.direct.rate;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const rows: string[][] = [
    ['', 'direct', 'via gateway', 'ratio', 'target', ''],
    [
      'short connections (conn/s)',
      fmt(short.direct.rate),
      fmt(short.gateway.rate),
      `${fmt(connRatio, 2)}x`,
      `>= ${TARGETS.connectionRateRatio}x`,
      verdict(connRatio >= TARGETS.connectionRateRatio),
    ],
    ['  connection p50 (ms)', fmt(short.direct.p50, 2), fmt(short.gateway.p50, 2), '', '', ''],
    ['  connection p99 (ms)', fmt(short.direct.p99, 2), fmt(short.gateway.p99, 2), '', '', ''],
    ['  failed connections', String(short.direct.failed), String(short.gateway.failed), '', '', ''],
    [
      'bulk upload (MiB/s)',
      fmt(bulk.direct.rate),
      fmt(bulk.gateway.rate),
      `${fmt(bulkRatio, 2)}x`,
      `>= ${TARGETS.throughputRatio}x`,
      verdict(bulkRatio >= TARGETS.throughputRatio),
    ],
    [
      'idle connection RSS (KiB/conn)',
      '',
      fmt(idle.rssSlopeKiB, 2),
      '',
      `<= ${TARGETS.idleKiBPerConnection}`,
      verdict(idle.rssSlopeKiB <= TARGETS.idleKiBPerConnection),
    ],
    ['  RSS, first to last sample', '', fmt(idle.rssEndpointsKiB, 2), '', '', ''],
    ['  of which live JS heap', '', fmt(idle.heapSlopeKiB, 2), '', '', ''],
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  console.log('');
  for (const row of rows)
    console.log(
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
        .join('  ')
        .trimEnd(),
    );
  console.log('');
  console.log(
    `short connections: ${SETTINGS.workers} workers, ${SETTINGS.rounds} x ${SETTINGS.roundMs / 1000} s per target; ${short.direct.completed} direct, ${short.gateway.completed} via gateway`,
  );
  const firstError = short.direct.firstError ?? short.gateway.firstError;
  if (firstError) console.log(`  first failure: ${firstError}`);
  for (const target of TARGET_ORDER) console.log(`  CPU, ${target.padEnd(7)} (% of one core): ${describeShare(short[target].cpu)}`);
  console.log(
    `bulk upload: ${SETTINGS.bulkBytes / MiB} MiB client -> upstream (discarded there), median of ${SETTINGS.bulkRuns}; runs: direct ${bulk.direct.runs.map((r) => fmt(r)).join('/')}, gateway ${bulk.gateway.runs.map((r) => fmt(r)).join('/')} MiB/s`,
  );
  for (const target of TARGET_ORDER) console.log(`  CPU, ${target.padEnd(7)} (% of one core): ${describeShare(bulk[target].cpu)}`);
  if ('unavailable' in reference) console.log(`reference, nginx stream proxy: not measured (${reference.unavailable})`);
  else {
    const ratio = (figures: Record<Target, { rate: number }>) => `${fmt(figures.gateway.rate / figures.direct.rate, 2)}x`;
    console.log(
      `reference, nginx stream proxy (1 worker) in the gateway's place, same load: short connections ${fmt(reference.short.gateway.rate)} conn/s against ${fmt(reference.short.direct.rate)} direct (${ratio(reference.short)}); ` +
        `bulk ${fmt(reference.bulk.gateway.rate)} MiB/s against ${fmt(reference.bulk.direct.rate)} direct (${ratio(reference.bulk)})`,
    );
  }
  const mib = (bytes: number) => fmt(bytes / MiB, 1);
  console.log(
    `idle: ${idle.connections} connections, slope over the ${SETTINGS.idleSteps} samples after the baseline, each after GC (${idle.last.collected ? 'forced' : 'NOT forced, no --expose-gc'}); ` +
      `gateway RSS ${mib(idle.first.rss)} -> ${mib(idle.last.rss)} MiB, JS heap used ${mib(idle.first.heapUsed)} -> ${mib(idle.last.heapUsed)} MiB`,
  );
}
