/** The soak's table: one row per adapter, and the reasons behind any mismatch or failure. */
import type { GatewaySample } from './soak-messages';
import { grew, type PhaseResult } from './soak-phase';

const MIB = 1024 * 1024;

/** Rows of cells as a Markdown table, columns padded to their widest cell. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

const mib = (bytes: number) => (bytes / MIB).toFixed(1);

/** A ratio as a signed percentage: `+4.2%`. */
export const percent = (ratio: number) => `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%`;

/** The soak's results as a table, with a mark on every figure that fails the soak. */
export function soakTable(results: readonly PhaseResult[]): string {
  const header = [
    'adapter',
    'connections',
    'bytes (each way)',
    'mismatches',
    'failures',
    'seconds',
    'fds before/after',
    'RSS MiB before/after',
  ];
  const rows = results.map((result) => {
    const growth = grew(result);
    return [
      result.adapter,
      String(result.connections),
      `${mib(result.bytes)} MiB`,
      String(result.mismatches) + (result.mismatches ? ' !' : ''),
      String(result.failures) + (result.failures ? ' !' : ''),
      result.seconds.toFixed(1),
      `${result.before.fds}/${result.after.fds}` + (growth.fds ? ' !' : ''),
      `${mib(result.before.rss)}/${mib(result.after.rss)}` + (growth.rss ? ' !' : ''),
    ];
  });
  const reasons = results.flatMap((result) => [...result.reasons].map(([reason, count]) => `  ${result.adapter}: ${count} x ${reason}`));
  return [markdownTable(header, rows), ...(reasons.length ? ['Mismatches and failures:', ...reasons] : [])].join('\n');
}

/** A sample in a few words: descriptors, RSS, live heap and the young generation's capacity. */
export function describeSample(sample: GatewaySample): string {
  return `${sample.fds} fds, ${mib(sample.rss)} MiB RSS, ${mib(sample.heapUsed)} MiB heap used, ${mib(sample.newSpaceSize)} MiB new space`;
}
