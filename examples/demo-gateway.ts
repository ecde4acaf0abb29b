/**
 * `npm start`: an example gateway on embedded defaults, needing nothing else.
 * It starts two stand-in servers on loopback (a mail sink that prints what it
 * receives, and a small web page) and a gateway in front of them:
 *
 *   management API  http://127.0.0.1:8080/roamgate
 *   smtp adapter    127.0.0.1:2525  -> demo mail sink 127.0.0.1:25025
 *   pop3 adapter    127.0.0.1:1110  -> 127.0.0.1:11010 (nothing there: clients get -ERR)
 *   nntp adapter    127.0.0.1:1119  -> 127.0.0.1:11119 (nothing there: clients get 400)
 *   web proxy       127.0.0.1:3128  -> allowed: 127.0.0.1:8081 (the demo page)
 */
import { createServer } from 'node:http';
import { SMTPServer } from 'smtp-server';
import { startStandalone } from '../plugin/standalone';

export const DEMO_ADMIN_TOKEN = 'demo-admin-token-change-me';

async function main(): Promise<void> {
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    banner: 'roamgate demo mail sink',
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        process.stdout.write(
          `\n--- demo mail sink: message from ${session.envelope.mailFrom ? session.envelope.mailFrom.address : '<>'} to ${to} ---\n${Buffer.concat(chunks).toString('utf8')}\n--- end of message ---\n`,
        );
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => sink.listen(25025, '127.0.0.1', resolve));
  const page = createServer((_req, res) => res.end('Hello from the demo intranet page behind roamgate.\n'));
  await new Promise<void>((resolve) => page.listen(8081, '127.0.0.1', resolve));

  const gateway = await startStandalone({
    http: { host: '127.0.0.1', port: 8080 },
    mount: '/roamgate',
    logLevel: 'info',
    options: {
      adminToken: DEMO_ADMIN_TOKEN,
      registration: { secret: 'demo-registration-secret' },
      adapters: {
        smtp: { port: 2525 },
        pop3: { port: 1110 },
        nntp: { port: 1119 },
        'http-proxy': { port: 3128, allow: ['127.0.0.1:8081', 'localhost:8081'] },
      },
      servers: {
        smtp: [{ host: '127.0.0.1', port: 25025 }],
        pop3: [{ host: '127.0.0.1', port: 11010 }],
        nntp: [{ host: '127.0.0.1', port: 11119 }],
      },
      access: [{ subject: 'anonymous', service: '*', allow: true, reason: 'demo: everything is open' }],
    },
  });
  process.stdout.write(
    [
      '',
      'roamgate demo gateway is up:',
      `  management API  http://127.0.0.1:${gateway.httpAddress.port}/roamgate/discover`,
      `  admin token     ${DEMO_ADMIN_TOKEN}`,
      '  smtp 127.0.0.1:2525, pop3 127.0.0.1:1110, nntp 127.0.0.1:1119, web proxy 127.0.0.1:3128',
      'Try:',
      "  printf 'Subject: hi\\r\\n\\r\\nhello\\r\\n' | curl -s smtp://127.0.0.1:2525 --mail-from me@example.test --mail-rcpt you@example.test -T -",
      '  curl -x http://127.0.0.1:3128 http://127.0.0.1:8081/',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await gateway.close();
    sink.close(() => undefined);
    page.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`roamgate demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
