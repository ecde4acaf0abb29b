/**
 * The soak (npm run test:soak): 10,000 connections through each adapter, every payload hashed end to end,
 * the gateway (a process of its own) measured before and after each adapter's run. See README "Tests".
 * SOAK_CONNECTIONS, SOAK_CONCURRENCY and SOAK_PHASE_SECONDS override the defaults, for a quicker look.
 */
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayProcess } from './gateway-process';
import { soakTargets, type SoakAdapter, type SoakTarget } from './soak-client';
import { drive, grew, MAX_GROWTH, runPhase, SETTLE_MS, STORE_PAGE_CACHE_BYTES, type PhaseResult, type PhaseSettings } from './soak-phase';
import { describeSample, percent, soakTable } from './soak-report';
import { startSoakUpstream, type SoakUpstream } from './soak-upstream';

function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

const SETTINGS: PhaseSettings = {
  count: setting('SOAK_CONNECTIONS', 10_000),
  // Below the 100 open tunnels one lease may have, and the 100 clients per address (loopback is exempt anyway).
  concurrency: setting('SOAK_CONCURRENCY', 50),
  timeLimitMs: setting('SOAK_PHASE_SECONDS', 60) * 1000,
  connectionTimeoutMs: 15_000,
};
/** Connections through each adapter before anything is measured, so that what the gateway builds once (code, caches, pools) is built. */
const WARM_UP = Math.min(500, SETTINGS.count);
/** The warm-up's own time limit per adapter (ms). */
const WARM_UP_LIMIT_MS = 20_000;
const ADAPTERS: readonly SoakAdapter[] = ['smtp', 'pop3', 'imap', 'nntp', 'http-proxy', 'tunnel'];
const USER = { id: 'soak', password: 'soak-password-1' };
/** The address the tunnel's lease is taken from: not the clients' 127.0.0.1, so pop3 and imap clients are anonymous there and log in. */
const LEASE_ADDRESS = '127.0.0.3';

/** Logs in over the management API from `localAddress`; resolves to the lease token. */
function logIn(port: number, localAddress: string): Promise<string> {
  const body = JSON.stringify({ username: USER.id, password: USER.password });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, localAddress, method: 'POST', path: '/roamgate/login', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve((JSON.parse(text) as { token: string }).token)
            : reject(new Error(`login: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('soak', () => {
  let upstreams: Record<'smtp' | 'pop3' | 'imap' | 'nntp' | 'web', SoakUpstream>;
  let gateway: GatewayProcess | undefined;
  let targets: Record<SoakAdapter, SoakTarget>;

  beforeAll(async () => {
    upstreams = {
      smtp: await startSoakUpstream({ greeting: '220 soak-upstream ESMTP' }),
      pop3: await startSoakUpstream({ greeting: '+OK soak-upstream POP3', pop3Login: { user: USER.id, password: USER.password } }),
      imap: await startSoakUpstream({
        greeting: '* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] soak-upstream IMAP',
        imapLogin: { user: USER.id, password: USER.password },
      }),
      nntp: await startSoakUpstream({ greeting: '200 soak-upstream news' }),
      web: await startSoakUpstream({}),
    };
    gateway = await GatewayProcess.start({
      upstreams: {
        smtp: upstreams.smtp.port,
        pop3: upstreams.pop3.port,
        imap: upstreams.imap.port,
        nntp: upstreams.nntp.port,
        web: upstreams.web.port,
      },
      user: USER,
      storePath: join(tmpdir(), 'roamgate-soak.sqlite'),
    });
    const token = await logIn(gateway.ports.http, LEASE_ADDRESS);
    targets = soakTargets(gateway.ports, upstreams.web.port, { user: USER.id, password: USER.password, token });
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
  });

  test(
    `${SETTINGS.count} connections through each adapter: no byte lost or altered, descriptors and RSS back within 10%`,
    async () => {
      const soaked = gateway!;
      const cold = await soaked.sample(true);
      for (const adapter of ADAPTERS) {
        const warm = await drive(targets[adapter], { ...SETTINGS, count: WARM_UP, timeLimitMs: WARM_UP_LIMIT_MS });
        expect({ adapter, warmUpFailures: warm.failures, reasons: [...warm.reasons] }).toEqual({ adapter, warmUpFailures: 0, reasons: [] });
      }
      const results: PhaseResult[] = [];
      for (const adapter of ADAPTERS) results.push(await runPhase(soaked, adapter, targets[adapter], SETTINGS));
      process.stdout.write(
        `\nSoak: ${SETTINGS.count} connections per adapter, ${SETTINGS.concurrency} at a time (gateway pid ${soaked.pid})\n`,
      );
      process.stdout.write(`${soakTable(results)}\n`);
      const last = results[results.length - 1].after;
      const base = results[0].before;
      process.stdout.write(
        `Gateway at start: ${describeSample(cold)}\n` +
          `after the warm-up (${WARM_UP} connections per adapter): ${describeSample(base)}\n` +
          `at the end: ${describeSample(last)} (RSS ${percent(last.rss / base.rss - 1)} over the warm-up's)\n\n`,
      );

      for (const result of results) {
        const growth = grew(result);
        expect({
          adapter: result.adapter,
          connections: result.connections,
          mismatches: result.mismatches,
          failures: result.failures,
          ...growth,
        }).toEqual({
          adapter: result.adapter,
          connections: SETTINGS.count,
          mismatches: 0,
          failures: 0,
          fds: false,
          rss: false,
        });
      }
      // Over the whole soak: descriptors as for one phase; RSS as well, besides the store's page cache filling up.
      expect(last.fds).toBeLessThanOrEqual(base.fds * (1 + MAX_GROWTH));
      expect(last.rss).toBeLessThanOrEqual(base.rss * (1 + MAX_GROWTH) + STORE_PAGE_CACHE_BYTES);
      // The pop3 and imap clients logged in at the gateway, and the gateway at the upstream, once per connection.
      expect(upstreams.pop3.counts.logins).toBe(WARM_UP + SETTINGS.count);
      expect(upstreams.imap.counts.logins).toBe(WARM_UP + SETTINGS.count);
      for (const upstream of Object.values(upstreams)) expect(upstream.counts.protocolErrors).toBe(0);
    },
    // Each adapter's warm-up and run, each connection's own limit at the end of both, the settling, and some slack.
    ADAPTERS.length * (WARM_UP_LIMIT_MS + SETTINGS.timeLimitMs + 2 * SETTINGS.connectionTimeoutMs + SETTLE_MS + 10_000),
  );
});
