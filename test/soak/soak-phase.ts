/**
 * One phase of the soak: `count` connections through one adapter, at most `concurrency` open at once, each
 * with a fresh random payload, stopped at a hard time limit; the gateway sampled before and after (descriptors
 * settled back, then a forced GC).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { untilValue } from '../helpers/until';
import type { GatewayProcess } from './gateway-process';
import type { GatewaySample } from './soak-messages';
import { soakConnection, type SoakAdapter, type SoakTarget } from './soak-client';

/** Smallest and largest payload of one connection (bytes): a few KiB, so several TCP segments each way. */
export const MIN_PAYLOAD_BYTES = 1024;
export const MAX_PAYLOAD_BYTES = 8 * 1024;
/** How long the gateway gets to close what a phase left open before it is sampled (ms). */
export const SETTLE_MS = 15_000;
/** Growth allowed between a phase's start and its settled end, for descriptors and for RSS. */
export const MAX_GROWTH = 0.1;
/**
 * SQLite's page cache as better-sqlite3 builds it (SQLITE_DEFAULT_CACHE_SIZE=-16000: 16,000 KiB). The audit
 * rows of every connection fill it, about 350 bytes a connection, so over the whole soak (50,000 connections)
 * the gateway's RSS grows by up to this much, and no further: bounded, not a leak. With a 2 MB cache the RSS
 * stays flat over 60,000 connections. The growth over the whole soak is allowed this on top of MAX_GROWTH.
 */
export const STORE_PAGE_CACHE_BYTES = 16_000 * 1024;

export interface PhaseSettings {
  count: number;
  concurrency: number;
  /** Connections not started by then are not started (and count as failures): the phase's hard time limit (ms). */
  timeLimitMs: number;
  /** One connection that has not ended by then fails (ms). */
  connectionTimeoutMs: number;
}

export interface PhaseResult {
  adapter: SoakAdapter;
  /** Connections that reached their exchange's end, intact or not. */
  connections: number;
  /** Payload bytes sent, each echoed back as well. */
  bytes: number;
  mismatches: number;
  failures: number;
  seconds: number;
  before: GatewaySample;
  after: GatewaySample;
  /** Distinct reasons for mismatches and failures, with how often each was seen. */
  reasons: Map<string, number>;
}

/** Runs the connections of one phase; resolves when the last one has ended. */
export async function drive(target: SoakTarget, settings: PhaseSettings) {
  const tally = { started: 0, connections: 0, bytes: 0, mismatches: 0, failures: 0, reasons: new Map<string, number>() };
  const deadline = Date.now() + settings.timeLimitMs;
  const note = (reason: string) => tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
  const worker = async () => {
    while (tally.started < settings.count && Date.now() < deadline) {
      tally.started++;
      const payload = randomBytes(randomInt(MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1));
      const outcome = await soakConnection(target, payload, settings.connectionTimeoutMs);
      if (outcome.kind === 'failed') {
        tally.failures++;
        note(outcome.reason);
        continue;
      }
      tally.connections++;
      tally.bytes += payload.length;
      if (outcome.kind === 'mismatch') {
        tally.mismatches++;
        note(outcome.reason);
      }
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, worker));
  const notStarted = settings.count - tally.started;
  if (notStarted > 0) {
    tally.failures += notStarted;
    note(`not started within the phase's time limit of ${settings.timeLimitMs / 1000} s`);
  }
  return tally;
}

/**
 * Samples the gateway once what the phase opened has had time to close: its descriptors back within
 * MAX_GROWTH of `before` (or SETTLE_MS passed), then a forced GC.
 */
export async function settledSample(gateway: GatewayProcess, before: GatewaySample): Promise<GatewaySample> {
  await untilValue(
    () => gateway.sample(false),
    (sample) => sample.fds <= before.fds * (1 + MAX_GROWTH),
    'the gateway to close its descriptors',
    SETTLE_MS,
    100,
  ).catch(() => undefined);
  return gateway.sample(true);
}

/** One phase: the gateway sampled (after a GC), the connections, the gateway sampled again once settled. */
export async function runPhase(
  gateway: GatewayProcess,
  adapter: SoakAdapter,
  target: SoakTarget,
  settings: PhaseSettings,
): Promise<PhaseResult> {
  const before = await gateway.sample(true);
  const started = performance.now();
  const tally = await drive(target, settings);
  const seconds = (performance.now() - started) / 1000;
  const after = await settledSample(gateway, before);
  return { adapter, ...tally, seconds, before, after };
}

/** Whether a phase's end holds more than MAX_GROWTH over its start, in descriptors or in RSS. */
export function grew(result: PhaseResult): { fds: boolean; rss: boolean } {
  return {
    fds: result.after.fds > result.before.fds * (1 + MAX_GROWTH),
    rss: result.after.rss > result.before.rss * (1 + MAX_GROWTH),
  };
}
