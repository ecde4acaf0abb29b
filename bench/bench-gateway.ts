/**
 * The gateway under measurement, in a process of its own so that neither the
 * load generator nor the upstream shares its event loop or heap. Started by
 * relay-bench with `child_process.fork(file, [upstreamPort])`, usually with
 * --expose-gc; tells the parent its SMTP adapter port over IPC.
 */
import pino from 'pino';
import { roamgate } from '../index';
import { raiseHeapTrimThreshold } from '../bin/heap-tuning';
import { serveParent, type ReadyMessage } from './bench-messages';

/** Above the 1000-client default so the idle-connection phase is not refused. */
export const BENCH_MAX_CLIENTS = 20_000;

async function main(): Promise<void> {
  const upstreamPort = Number(process.argv[2]);
  if (!Number.isInteger(upstreamPort) || upstreamPort < 1 || upstreamPort > 65535)
    throw new Error(`bench-gateway: bad upstream port ${process.argv[2]}`);
  // As `roamgate serve` does first thing: glibc keeps freed heap for the next reads (bin/heap-tuning.ts).
  raiseHeapTrimThreshold();
  const gw = roamgate({
    adapters: { smtp: { port: 0, maxClients: BENCH_MAX_CLIENTS } },
    servers: { smtp: [{ host: '127.0.0.1', port: upstreamPort }] },
    access: [{ subject: 'anonymous', service: 'smtp', allow: true }],
    health: { enabled: false },
    shutdownGraceMs: 0,
    logger: pino({ level: 'silent' }),
  });
  const bound = await gw.listen();
  // Stop by exiting (not by gw.close()) so that a --cpu-prof profile is written promptly.
  serveParent();
  const ready: ReadyMessage = { type: 'ready', port: bound.smtp.port };
  process.send?.(ready);
}

main().catch((error: unknown) => {
  console.error('bench-gateway failed:', error);
  process.exit(1);
});
