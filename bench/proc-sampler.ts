/**
 * CPU time and memory of processes the bench did not fork with an IPC channel
 * (nginx's master and worker, the login bench's children), read by pid from
 * /proc. Linux only; elsewhere the figures come out as 0.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Cumulative CPU time of a process (µs), the shape Child.sample() answers with. */
export interface CpuTimes {
  cpuMicros: number;
  /** The system (kernel) part of cpuMicros. */
  cpuSystemMicros: number;
}

/** Anything whose cumulative CPU time can be asked for: a forked Child, or a ProcSampler. */
export interface CpuSource {
  sample(gc: boolean): Promise<CpuTimes>;
}

/** The fields of /proc/<pid>/stat after the command name, or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    return stat
      .slice(stat.lastIndexOf(')') + 2)
      .trim()
      .split(' ');
  } catch {
    return undefined;
  }
}

/** CPU time of one process since it started (user and system, µs), or undefined when it is gone. */
export function procCpu(pid: number): CpuTimes | undefined {
  const fields = statFields(pid);
  if (!fields) return undefined;
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  const micros = (ticks: number) => (ticks * 1_000_000) / TICKS_PER_SECOND;
  return { cpuMicros: micros(user + system), cpuSystemMicros: micros(system) };
}

/** Resident memory of one process (bytes, VmRSS), or undefined when it is gone. */
export function procRss(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'latin1')
      .split('\n')
      .find((entry) => entry.startsWith('VmRSS:'));
    const kib = Number(line?.split(/\s+/)[1]);
    return Number.isFinite(kib) ? kib * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The pids whose parent is `pid` (nginx's workers, for its master). */
export function childPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) children.push(Number(entry));
  }
  return children;
}

/**
 * The summed CPU time of a set of processes, found anew at every sample (so
 * that a master's workers are counted once they exist). A process that has
 * exited keeps the last time it was seen with, so the sum never goes back.
 */
export class ProcSampler implements CpuSource {
  private readonly last = new Map<number, CpuTimes>();

  constructor(private readonly pids: () => number[]) {}

  /** A master and its children (nginx: master and worker). */
  static withChildren(pid: number): ProcSampler {
    return new ProcSampler(() => [pid, ...childPids(pid)]);
  }

  /** The pids being summed just now. */
  current(): number[] {
    return this.pids();
  }

  sample(): Promise<CpuTimes> {
    for (const pid of this.pids()) {
      const times = procCpu(pid);
      if (times) this.last.set(pid, times);
    }
    let cpuMicros = 0;
    let cpuSystemMicros = 0;
    for (const times of this.last.values()) {
      cpuMicros += times.cpuMicros;
      cpuSystemMicros += times.cpuSystemMicros;
    }
    return Promise.resolve({ cpuMicros, cpuSystemMicros });
  }
}
