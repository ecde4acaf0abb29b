/**
 * The largest chunk whose free makes glibc raise its thresholds: DEFAULT_MMAP_THRESHOLD_MAX, 4 MiB times the size of a
 * `long`, on 64-bit Linux.
 */
const GLIBC_DYNAMIC_THRESHOLD_MAX = 32 * 1024 * 1024;

/** Kept below that ceiling so that the chunk, header and page rounding included, is still within it. */
const CHUNK_BYTES = GLIBC_DYNAMIC_THRESHOLD_MAX - 64 * 1024;

/**
 * Makes glibc keep up to 64 MiB of freed heap for reuse, instead of handing memory back to the system as soon as
 * 128 KiB lie free at the top of the heap: what `GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864` does, without the
 * environment. `roamgate serve` calls it first thing; a host embedding the plugin decides for its own process.
 *
 * Why: every socket read in Node gets a fresh buffer of up to 64 KiB from `malloc`, and a young-generation GC frees
 * tens of MiB of them at once. With the default threshold the heap is trimmed after each such GC and the reads that
 * follow fault every page in again; under bulk transfers that was most of a relay's CPU (README, "glibc's heap
 * trimming").
 *
 * How: glibc raises its own thresholds whenever a chunk it had to map for itself is freed. The mmap threshold becomes
 * that chunk's size and the trim threshold twice that, up to a 32 MiB chunk. So one buffer just under 32 MiB is
 * allocated here and dropped. It is freed at the next young-generation GC, and from then on the heap keeps up to 64 MiB
 * free. Only its first page is ever written (glibc's header), so it costs no memory while it waits. Elsewhere than
 * glibc, or when GLIBC_TUNABLES already set a malloc threshold (which turns the dynamic adjustment off), the buffer is
 * allocated and freed, and nothing else happens.
 */
export function raiseHeapTrimThreshold(): void {
  if (process.platform !== 'linux') return;
  Buffer.allocUnsafeSlow(CHUNK_BYTES);
}

/**
 * The old generation's size below which V8 skips the full GCs its allocation limit would start (MiB), given to Node as
 * `--initial-old-space-size`.
 *
 * Why: V8 counts the external memory allocated since the last full GC against the old generation's limit, and every
 * socket read is 64 KiB of external memory until a young-generation GC frees it. After a spell of short connections
 * a gateway's last full GC left a limit only a few MiB above its live heap (about 18 MiB), so a bulk transfer that
 * followed went over it within tens of milliseconds, again and again: 28-43 full GCs per 1.25 GiB, which found
 * nothing to free. With this floor there was one, and the CPU per GiB went from 1.98 to 0.83 s (README, Benchmark).
 * What it costs: up to this much garbage may sit in the heap before a full GC collects it.
 *
 * A V8 option that Node takes only on its command line (not in NODE_OPTIONS): the systemd unit runs node with it, and
 * `roamgate serve --workers` starts its workers with it.
 */
export const OLD_SPACE_FLOOR_MB = 64;

/** `execArgv` with the old-space floor added, unless it already sets an initial old-space size of its own. */
export function withOldSpaceFloor(execArgv: readonly string[]): string[] {
  if (execArgv.some((arg) => /^--initial[-_]old[-_]space[-_]size\b/.test(arg))) return [...execArgv];
  return [...execArgv, `--initial-old-space-size=${OLD_SPACE_FLOOR_MB}`];
}
