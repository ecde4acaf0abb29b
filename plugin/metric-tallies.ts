import type { Counter, Metric, Registry } from 'prom-client';

/**
 * The metrics every connection and every login move, kept as plain numbers
 * by label values and turned into samples only when scraped. prom-client
 * hashes and checks the labels on every inc() and observe(), about a
 * microsecond each and four of them per connection; here a connection finds its cells by two Map
 * look-ups and adds to numbers. The exposition is the same: counters are
 * prom-client's own, given their totals at each scrape; histograms are
 * served in prom-client's histogram shape by TalliedHistogram.
 *
 * Label values come from a bounded set (services, outcomes, directions,
 * where a login was made and its result), so the cells stay few.
 */

/** Cells by two label values (the second '' for a metric with one label), listed in the order they were first used. */
class Cells<T> {
  private readonly byFirst = new Map<string, Map<string, T>>();
  private readonly inOrder: Array<[string, string, T]> = [];

  constructor(private readonly make: () => T) {}

  of(first: string, second: string): T {
    let inner = this.byFirst.get(first);
    if (!inner) {
      inner = new Map();
      this.byFirst.set(first, inner);
    }
    let cell = inner.get(second);
    if (cell === undefined) {
      cell = this.make();
      inner.set(second, cell);
      this.inOrder.push([first, second, cell]);
    }
    return cell;
  }

  entries(): ReadonlyArray<readonly [string, string, T]> {
    return this.inOrder;
  }

  clear(): void {
    this.byFirst.clear();
    this.inOrder.length = 0;
  }
}

/** The two label names of a tally; the second undefined for a metric with one label. */
type LabelPair<L extends string> = readonly [L, L?];

function labelsOf<L extends string>(names: LabelPair<L>, first: string, second: string): Record<L, string> {
  const [a, b] = names;
  return (b === undefined ? { [a]: first } : { [a]: first, [b]: second }) as Record<L, string>;
}

/**
 * Totals by label values for a prom-client Counter: add() on the hot path,
 * and the counter's `collect` (see `collectInto`) sets them at each scrape.
 */
export class CounterTally<L extends string> {
  private readonly cells = new Cells<{ value: number }>(() => ({ value: 0 }));

  constructor(private readonly labelNames: LabelPair<L>) {}

  add(first: string, second: string, by = 1): void {
    this.cells.of(first, second).value += by;
  }

  /** Makes `counter` hold these totals (its collect hook calls this at each scrape). */
  collectInto(counter: Counter<L>): void {
    counter.reset();
    for (const [first, second, cell] of this.cells.entries()) counter.inc(labelsOf(this.labelNames, first, second), cell.value);
  }
}

/** One sample line: `metricName{labels} value`. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

interface HistogramCell {
  /** Observations per bucket, not cumulative; the last is above every bound (+Inf). */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram by one or two labels, registered in a prom-client registry and
 * exposed exactly as prom-client's Histogram is (`_bucket` with cumulative
 * counts and `le`, `_sum`, `_count`), but observed without hashing labels.
 */
export class TalliedHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells: Cells<HistogramCell>;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: LabelPair<L>,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    if (bounds.some((bound, index) => index > 0 && bound <= bounds[index - 1]!)) throw new Error(`${name}: buckets must increase`);
    this.cells = new Cells(() => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 }));
    // The registry reads a metric by its name, help, type and get(): the shape every prom-client metric has.
    registry.registerMetric(this as unknown as Metric<L>);
  }

  observe(first: string, second: string, value: number): void {
    if (!Number.isFinite(value)) return;
    const cell = this.cells.of(first, second);
    const { bounds } = this;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    cell.counts[bucket]!++;
    cell.sum += value;
    cell.count++;
  }

  /** The samples, in prom-client's histogram shape. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    for (const [first, second, cell] of this.cells.entries()) {
      const labels = labelsOf(this.labelNames, first, second);
      let cumulative = 0;
      for (const [index, count] of cell.counts.entries()) {
        cumulative += count;
        const le = index < this.bounds.length ? this.bounds[index]! : '+Inf';
        // `le` first, as prom-client writes it.
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.cells.clear();
  }
}
