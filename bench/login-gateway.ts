/**
 * The gateway of the login benches, in a process of its own: a POP3 (or IMAP)
 * adapter with in-protocol login in front of one dovecot. argv: dovecot port,
 * login cache seconds, and the service (pop3, the default, or imap). Tells the
 * parent its adapter's port over IPC, then waits to be killed.
 */
import pino from 'pino';
import { roamgate } from '../index';
import { raiseHeapTrimThreshold } from '../bin/heap-tuning';
import { hashPassword } from '../plugin/password';

async function main(): Promise<void> {
  const [dovecotPort, cacheSeconds] = process.argv.slice(2).map(Number);
  const service = process.argv[4] === 'imap' ? 'imap' : 'pop3';
  // As `roamgate serve` does first thing: glibc keeps freed heap for the next reads (bin/heap-tuning.ts).
  raiseHeapTrimThreshold();
  const gw = roamgate({
    users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
    access: [{ subject: 'authenticated', service, allow: true }],
    adapters: { [service]: { port: 0, login: { allowCleartext: true } } },
    servers: { [service]: [{ host: '127.0.0.1', port: dovecotPort }] },
    // The bench logs in thousands of times from one address: throttling is not what it measures.
    login: {
      cacheSeconds,
      perUser: { failures: 10_000, windowSeconds: 1 },
      perUserAddress: { failures: 10_000, windowSeconds: 1 },
      perAddress: { failures: 10_000, windowSeconds: 1 },
    },
    health: { enabled: false },
    logger: pino({ level: 'silent' }),
  });
  const bound = await gw.listen();
  // Killed by the bench: exit rather than die, so that a --cpu-prof profile is written.
  process.once('SIGTERM', () => process.exit(0));
  process.send?.({ type: 'ready', port: bound[service].port });
}

main().catch((error: unknown) => {
  console.error('login-gateway failed:', error);
  process.exit(1);
});
