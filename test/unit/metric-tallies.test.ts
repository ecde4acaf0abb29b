import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { CounterTally, TalliedHistogram } from '../../plugin/metric-tallies';

const BOUNDS = [0.001, 0.01, 0.1, 1, 10];
const SERVICES = ['smtp', 'pop3', 'nntp', 'we"ird\\name'];
const OUTCOMES = ['relayed', 'refused', 'unreachable'];

/** Observations: a service, an outcome and a value, bounds included (a value equal to a bound is in that bucket). */
const observations = fc.array(
  fc.record({
    service: fc.constantFrom(...SERVICES),
    outcome: fc.constantFrom(...OUTCOMES),
    value: fc.oneof(fc.constantFrom(...BOUNDS, 0, 1e6), fc.double({ min: 0, max: 100, noNaN: true })),
  }),
  { maxLength: 60 },
);

describe('metric tallies', () => {
  it('a tallied histogram is exposed exactly as a prom-client Histogram given the same observations', async () => {
    await fc.assert(
      fc.asyncProperty(observations, async (seen) => {
        const reference = new Registry();
        const histogram = new Histogram({
          name: 'h',
          help: 'help',
          labelNames: ['service', 'outcome'],
          buckets: BOUNDS,
          registers: [reference],
        });
        const single = new Histogram({ name: 's', help: 'one label', labelNames: ['service'], buckets: BOUNDS, registers: [reference] });
        const tallied = new Registry();
        const two = new TalliedHistogram('h', 'help', ['service', 'outcome'], BOUNDS, tallied);
        const one = new TalliedHistogram('s', 'one label', ['service'], BOUNDS, tallied);
        for (const { service, outcome, value } of seen) {
          histogram.observe({ service, outcome }, value);
          single.observe({ service }, value);
          two.observe(service, outcome, value);
          one.observe(service, '', value);
        }
        expect(await tallied.metrics()).toBe(await reference.metrics());
      }),
    );
  });

  it('a counter given its tally at each scrape is exposed as one incremented on the spot, and keeps counting after a scrape', async () => {
    await fc.assert(
      fc.asyncProperty(observations, observations, async (first, second) => {
        const reference = new Registry();
        const counted = new Counter({ name: 'c_total', help: 'help', labelNames: ['service', 'outcome'], registers: [reference] });
        const tallied = new Registry();
        const tally = new CounterTally<'service' | 'outcome'>(['service', 'outcome']);
        new Counter({
          name: 'c_total',
          help: 'help',
          labelNames: ['service', 'outcome'],
          registers: [tallied],
          collect() {
            tally.collectInto(this);
          },
        });
        for (const round of [first, second]) {
          for (const { service, outcome, value } of round) {
            counted.inc({ service, outcome }, value);
            tally.add(service, outcome, value);
          }
          expect(await tallied.metrics()).toBe(await reference.metrics());
        }
      }),
    );
  });

  it('a value that is not a number is not counted (prom-client would throw on the connection path)', async () => {
    const registry = new Registry();
    const histogram = new TalliedHistogram('h', 'help', ['service'], BOUNDS, registry);
    histogram.observe('smtp', '', Number.NaN);
    histogram.observe('smtp', '', 0.5);
    const text = await registry.metrics();
    expect(text).toContain('h_count{service="smtp"} 1');
    expect(text).toContain('h_bucket{le="1",service="smtp"} 1');
  });

  it('refuses buckets that do not increase', () => {
    expect(() => new TalliedHistogram('h', 'help', ['service'], [1, 1], new Registry())).toThrow(/increase/);
  });

  it('reset() empties the histogram, as the registry resetMetrics() expects', async () => {
    const registry = new Registry();
    const histogram = new TalliedHistogram('h', 'help', ['service'], BOUNDS, registry);
    histogram.observe('smtp', '', 0.5);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('h_count');
  });
});
