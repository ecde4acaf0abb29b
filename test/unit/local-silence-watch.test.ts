import {
  EVENTS_SILENCE_WITHOUT_PING_MS,
  PINGS_MISSED_AT_LEAST,
  pingInterval,
  SilenceWatch,
  silenceLimitMs,
} from '../../local/silence-watch';
import { DEFAULT_EVENTS_SILENCE_MS } from '../../local/options';
import { EVENTS_HEARTBEAT_MS } from '../../plugin/defaults';
import { EVENTS_PING } from '../../plugin/routes/events-route';
import { EventStreamParser } from '../../local/event-stream-parser';
import { ManualClock, TIMERS_ONLY } from '../helpers/clock';

describe('pingInterval', () => {
  test.each<[string, string, number | null]>([
    ['the gateway ping', '{"intervalMs":1000}', 1000],
    ['a slower gateway', '{"intervalMs":15000}', 15000],
    ['nothing announced', '{}', null],
    ['not JSON', 'ping', null],
    ['null', 'null', null],
    ['a string', '{"intervalMs":"1000"}', null],
    ['a fraction', '{"intervalMs":1000.5}', null],
    ['too short to believe', '{"intervalMs":10}', null],
    ['too long to be a heartbeat', '{"intervalMs":3600000}', null],
    ['negative', '{"intervalMs":-1000}', null],
  ])('%s', (_name, data, expected) => {
    expect(pingInterval(data)).toBe(expected);
  });

  test("the gateway's own ping announces its heartbeat", () => {
    const [event] = new EventStreamParser().feed(EVENTS_PING);
    expect(event.event).toBe('ping');
    expect(pingInterval(event.data)).toBe(EVENTS_HEARTBEAT_MS);
  });
});

describe('silenceLimitMs', () => {
  test.each<[string, number, number | null, number]>([
    ['the default against a gateway pinging every half second: 2 s', DEFAULT_EVENTS_SILENCE_MS, 500, 2000],
    ['a shorter configured limit still spans two pings', 1000, 1000, 2 * 1000],
    ['a gateway pinging every 5 s', DEFAULT_EVENTS_SILENCE_MS, 5000, PINGS_MISSED_AT_LEAST * 5000],
    ['a gateway that announces no ping', DEFAULT_EVENTS_SILENCE_MS, null, EVENTS_SILENCE_WITHOUT_PING_MS],
    ['a configured limit longer than all of them', 120_000, 1000, 120_000],
  ])('%s', (_name, configured, announced, expected) => {
    expect(silenceLimitMs(configured, announced)).toBe(expected);
  });

  test('the default notices a gateway silent for three pings, as the issue asks (within 3 s)', () => {
    expect(silenceLimitMs(DEFAULT_EVENTS_SILENCE_MS, EVENTS_HEARTBEAT_MS)).toBeLessThanOrEqual(3000);
  });
});

describe('SilenceWatch', () => {
  let clock: ManualClock;
  let silences: number[];
  beforeEach(() => {
    jest.useFakeTimers(TIMERS_ONLY);
    clock = new ManualClock();
    silences = [];
  });
  afterEach(() => {
    jest.useRealTimers();
  });
  /** Moves the clock and the timers on together. */
  const pass = (ms: number) => {
    clock.advance(ms);
    jest.advanceTimersByTime(ms);
  };
  const watch = (limit: number) => new SilenceWatch(limit, clock, (quiet) => silences.push(quiet));

  test('quiet for the limit: called once, with how long it was quiet', () => {
    watch(3000);
    pass(2999);
    expect(silences).toEqual([]);
    pass(1);
    expect(silences).toEqual([3000]);
    pass(10_000);
    expect(silences).toEqual([3000]);
  });

  test('a ping every second keeps it quiet for good; the silence counts from the last one heard', () => {
    const silence = watch(3000);
    for (let second = 0; second < 60; second++) {
      pass(1000);
      silence.heard();
    }
    expect(silences).toEqual([]);
    pass(2000);
    expect(silences).toEqual([]);
    pass(1000);
    expect(silences).toEqual([3000]);
  });

  test('the timer fires at most once per limit however many chunks arrive', () => {
    watch(3000);
    const before = jest.getTimerCount();
    expect(before).toBe(1);
    pass(500);
    expect(jest.getTimerCount()).toBe(1);
  });

  test('a longer limit set later (no ping announced yet) counts from the last thing heard', () => {
    const silence = watch(3000);
    pass(2000);
    silence.heard();
    silence.setLimit(EVENTS_SILENCE_WITHOUT_PING_MS);
    pass(EVENTS_SILENCE_WITHOUT_PING_MS - 1);
    expect(silences).toEqual([]);
    pass(1);
    expect(silences).toEqual([EVENTS_SILENCE_WITHOUT_PING_MS]);
  });

  test('a shorter limit set later takes effect at once when the silence already exceeds it', () => {
    const silence = watch(EVENTS_SILENCE_WITHOUT_PING_MS);
    pass(5000);
    silence.setLimit(3000);
    expect(silences).toEqual([5000]);
  });

  test('a shorter limit set later counts what was already quiet', () => {
    const silence = watch(EVENTS_SILENCE_WITHOUT_PING_MS);
    pass(1000);
    silence.setLimit(3000);
    pass(1999);
    expect(silences).toEqual([]);
    pass(1);
    expect(silences).toEqual([3000]);
  });

  test('stopped: never called', () => {
    const silence = watch(3000);
    pass(1000);
    silence.stop();
    pass(10_000);
    expect(silences).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a late timer (a busy event loop) reports the silence actually measured', () => {
    watch(3000);
    clock.advance(4200);
    jest.advanceTimersByTime(3000);
    expect(silences).toEqual([4200]);
  });
});
