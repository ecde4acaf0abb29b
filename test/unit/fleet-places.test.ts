import { FleetPlaces, PLACES_HEARD_FOR_MS } from '../../plugin/fleet-places';
import { ManualClock } from '../helpers/clock';

/** Two processes whose words reach each other at once, as the store's feed would carry them. */
function twoProcesses(clock = new ManualClock(1_000_000)) {
  const said: Array<[string, string]> = [];
  const first: FleetPlaces = new FleetPlaces((scope, key) => {
    said.push([scope, key]);
    second.heard(scope, key);
  }, clock);
  const second: FleetPlaces = new FleetPlaces((scope, key) => {
    said.push([scope, key]);
    first.heard(scope, key);
  }, clock);
  return { first, second, said, clock };
}

describe('FleetPlaces: per-address places across processes', () => {
  afterEach(() => jest.useRealTimers());

  test('what one process holds is counted by the other, in steps of a tenth of the limit', () => {
    const { first, second, said } = twoProcesses();
    const here = first.of('pop3', 100);
    const there = second.of('pop3', 100);
    for (let count = 1; count <= 25; count++) here.holding('192.0.2.1', count);
    expect(there.elsewhere('192.0.2.1')).toBe(20);
    expect(said).toHaveLength(2);
    expect(here.elsewhere('192.0.2.1')).toBe(0);
    for (let count = 24; count >= 0; count--) here.holding('192.0.2.1', count);
    expect(there.elsewhere('192.0.2.1')).toBe(0);
  });

  test('a small limit is told place by place; another listener or address is another count', () => {
    const { first, second } = twoProcesses();
    first.of('pop3', 6).holding('192.0.2.1', 3);
    const there = second.of('pop3', 6);
    expect(there.elsewhere('192.0.2.1')).toBe(3);
    expect(there.elsewhere('192.0.2.2')).toBe(0);
    expect(second.of('smtp', 6).elsewhere('192.0.2.1')).toBe(0);
  });

  test('what a process said stops counting after a while unless it says it again (a process that died)', () => {
    const { first, second, clock } = twoProcesses();
    first.of('pop3', 6).holding('192.0.2.1', 2);
    const there = second.of('pop3', 6);
    clock.advance(PLACES_HEARD_FOR_MS + 1);
    expect(there.elsewhere('192.0.2.1')).toBe(0);
  });

  test('malformed or foreign words are ignored', () => {
    const { second } = twoProcesses();
    const there = second.of('pop3', 6);
    for (const key of ['not json', '[]', '["192.0.2.1", 5, 5]', JSON.stringify(['192.0.2.1', second.process, 4])])
      second.heard('places:pop3', key);
    expect(there.elsewhere('192.0.2.1')).toBe(0);
    // Said of a listener this process has not opened yet: counted once it does.
    second.heard('places:smtp', JSON.stringify(['192.0.2.1', 'someone', 4]));
    expect(second.of('smtp', 6).elsewhere('192.0.2.1')).toBe(4);
  });
});
