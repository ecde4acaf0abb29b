/**
 * Who used the CPU during a measurement: the load generator (this process),
 * the upstream, the proxy (the gateway, Node's floor or nginx), and everything else on the machine. Shown next
 * to the results because on a small machine the processes compete for cores
 * and other work skews the figures.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { CpuSource } from './proc-sampler';

/** Kernel clock ticks per second in /proc/stat (USER_HZ, 100 on Linux). */
const PROC_STAT_TICKS_PER_SECOND = 100;

/** CPU use over an interval, each as a percentage of one core. */
export interface CpuShare {
  load: number;
  upstream: number;
  gateway?: number;
  /** The kernel's part of `gateway`. */
  gatewayKernel?: number;
  /** Everything on the machine that is none of the bench's processes; absent without /proc/stat. */
  other?: number;
}

/** Cumulative CPU counters at one moment. */
export interface CpuMark {
  at: number;
  load: number;
  upstream: number;
  gateway?: number;
  gatewayKernel?: number;
  /** Busy time of the whole machine (µs), from /proc/stat. */
  machine?: number;
}

/** Busy CPU time of the whole machine since boot (µs), or undefined off Linux. */
export function machineBusyMicros(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    const busy = fields.slice(0, 8).reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
    return (busy * 1_000_000) / PROC_STAT_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The counters now; `gateway` is the proxy being measured (the gateway, the floor, or nginx's processes). */
export async function cpuMark(upstream: CpuSource, gateway?: CpuSource): Promise<CpuMark> {
  const [up, gw] = await Promise.all([upstream.sample(false), gateway?.sample(false)]);
  const own = process.cpuUsage();
  return {
    at: performance.now(),
    load: own.user + own.system,
    upstream: up.cpuMicros,
    gateway: gw?.cpuMicros,
    gatewayKernel: gw?.cpuSystemMicros,
    machine: machineBusyMicros(),
  };
}

export function cpuShare(before: CpuMark, after: CpuMark): CpuShare {
  const wallMicros = (after.at - before.at) * 1000;
  const pct = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : (100 * (b - a)) / wallMicros;
  const load = pct(before.load, after.load)!;
  const upstream = pct(before.upstream, after.upstream)!;
  const gateway = pct(before.gateway, after.gateway);
  const machine = pct(before.machine, after.machine);
  return {
    load,
    upstream,
    gateway,
    gatewayKernel: pct(before.gatewayKernel, after.gatewayKernel),
    other: machine === undefined ? undefined : Math.max(0, machine - load - upstream - (gateway ?? 0)),
  };
}

/** How busy the machine is over `ms` (% of one core), or undefined off Linux. */
export async function machineBusyPercent(ms: number): Promise<number | undefined> {
  const before = machineBusyMicros();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineBusyMicros();
  return before === undefined || after === undefined ? undefined : (100 * (after - before)) / ((performance.now() - started) * 1000);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Field by field: the mean (`combine` = mean) or median of several shares. */
export function combineShares(shares: CpuShare[], combine: (values: number[]) => number): CpuShare {
  const of = (pick: (share: CpuShare) => number | undefined) => {
    const values = shares.map(pick).filter((value): value is number => value !== undefined);
    return values.length > 0 ? combine(values) : undefined;
  };
  return {
    load: of((s) => s.load)!,
    upstream: of((s) => s.upstream)!,
    gateway: of((s) => s.gateway),
    gatewayKernel: of((s) => s.gatewayKernel),
    other: of((s) => s.other),
  };
}

export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** `load generator 80%, upstream 60%, gateway 90% (kernel 40%), other 5%`; `proxy` names the gateway's part. */
export function describeShare(cpu: CpuShare, proxy = 'gateway'): string {
  const pct = (value: number) => `${value.toFixed(0)}%`;
  const parts = [`load generator ${pct(cpu.load)}`, `upstream ${pct(cpu.upstream)}`];
  if (cpu.gateway !== undefined)
    parts.push(`${proxy} ${pct(cpu.gateway)}` + (cpu.gatewayKernel !== undefined ? ` (kernel ${pct(cpu.gatewayKernel)})` : ''));
  if (cpu.other !== undefined) parts.push(`other processes ${pct(cpu.other)}`);
  return parts.join(', ');
}
