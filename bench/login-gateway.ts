/**
 * The gateway of the login bench, in a process of its own: a POP3 adapter with
 * in-protocol login in front of one dovecot. argv: dovecot port, login cache
 * seconds. Tells the parent its POP3 port over IPC, then waits to be killed.
 */
import pino from 'pino';
import { roamgate } from '../index';
import { hashPassword } from '../plugin/password';

async function main(): Promise<void> {
  const [dovecotPort, cacheSeconds] = process.argv.slice(2).map(Number);
  const gw = roamgate({
    users: [{ id: 'alice', passwordHash: await hashPassword('alice-pw'), attributes: {} }],
    access: [{ subject: 'authenticated', service: 'pop3', allow: true }],
    adapters: { pop3: { port: 0, login: { allowCleartext: true } } },
    servers: { pop3: [{ host: '127.0.0.1', port: dovecotPort }] },
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
  process.send?.({ type: 'ready', port: bound.pop3.port });
}

main().catch((error: unknown) => {
  console.error('login-gateway failed:', error);
  process.exit(1);
});
