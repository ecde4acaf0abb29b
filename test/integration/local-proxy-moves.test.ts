import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLocalProxy, type LocalProxy } from '../../local/local-proxy';
import type { LocalProxyNotice } from '../../local/proxy-notices';
import { hashPassword } from '../../plugin/password';
import { BIN, waitForOutput } from '../helpers/cli';
import { freeUdpPort } from '../helpers/mdns';
import { RawClient } from '../helpers/net';
import { dropRepliesFrom, ip, makeNetwork, removeStaleNamespaces, serveInNamespace, type TestNetwork, whyNoNetns } from '../helpers/netns';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { until, untilValue } from '../helpers/until';

/**
 * Moves that take seconds even when the old network goes silent. Each
 * network is a namespace over a veth pair with a `roamgate serve` in it and,
 * on this machine's side, an SMTP server whose banner names the network; the
 * local proxy (in this process) relays SMTP. A network is lost the hard way:
 * its gateway's packets are dropped (a blackhole route in its namespace: no
 * reset, no ICMP), or this machine's end of the link goes down. The figures
 * are printed; the assertions are generous sanity limits, since the machine
 * running them may be slow: the targets are 3 s to notice a silent gateway
 * and 2 s to notice a change of this machine's own network.
 */

/** Sanity limits of the assertions: twice the targets. */
const NOTICE_SILENCE_LIMIT_MS = 6_000;
const NOTICE_NETWORK_LIMIT_MS = 4_000;
/** Longest a client may wait for its first line during a move: the silence to notice, and a little. */
const CLIENT_WAIT_LIMIT_MS = 6_000;
/** Short request timeouts and waits, so that a test does not sit out a 15 s back-off; the silence and network limits are the defaults. */
const LIMITS = { requestTimeoutMs: 2_000, reconnectMaxMs: 2_000 };
const HTTP_PORT = 8080;
/** A URL as it appears in a regular expression. */
const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

class Notices {
  readonly all: (LocalProxyNotice & { at: number })[] = [];
  readonly add = (notice: LocalProxyNotice) => void this.all.push({ ...notice, at: performance.now() });
  text(): string {
    return this.all.map((notice) => notice.text).join('\n');
  }
  async waitFor(predicate: (notice: LocalProxyNotice) => boolean, what: string, from: number, timeoutMs = 20_000) {
    const found = () => this.all.slice(from).find(predicate);
    await until(
      () => found() !== undefined,
      () => `${what}; notices so far:\n${this.text()}`,
      timeoutMs,
      10,
    );
    return found()!;
  }
}

/** One SMTP connection through the local proxy: its first line (the server's greeting, or the proxy's refusal), and how long it took. */
async function firstLine(port: number): Promise<{ line: string; ms: number }> {
  const began = performance.now();
  const client = await RawClient.open(port);
  try {
    const text = await client.waitFor((received) => received.includes('\r\n'), 20_000);
    return { line: text.slice(0, text.indexOf('\r\n')), ms: performance.now() - began };
  } finally {
    client.close();
  }
}

const skipReason = whyNoNetns();
if (skipReason) console.warn(`local-proxy-moves.test.ts: SKIPPED: ${skipReason}`);
const describeWithNetns = skipReason ? describe.skip : describe;

describeWithNetns(`moves of the local proxy (network namespaces)${skipReason ? ` [skipped: ${skipReason}]` : ''}`, () => {
  jest.setTimeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'roamgate-moves-'));
  const cleanups: Array<() => Promise<void> | void> = [];
  let aliceHash: string;
  let discoveryPort: number;

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
    removeStaleNamespaces();
    aliceHash = await hashPassword('alice-pw');
    discoveryPort = await freeUdpPort();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.warn(`cleanup failed: ${(error as Error).message}`);
      }
    }
  });

  /** A network with its gateway (answering discovery as `name`) and the SMTP server it relays to. */
  async function networkWithGateway(name: string, options: { hostUp?: boolean } = {}) {
    const network: TestNetwork = makeNetwork(options);
    cleanups.push(() => network.remove());
    return { network, ...(await gatewayOn(network, name)) };
  }

  /** Starts the gateway of a network (answering discovery as `name`), and the SMTP server it relays to. */
  async function gatewayOn(network: TestNetwork, name: string) {
    const smtp = await startSmtpUpstream({ banner: `via ${name}`, host: network.hostAddress });
    cleanups.push(() => smtp.close());
    const url = `http://${network.namespaceAddress}:${HTTP_PORT}/roamgate`;
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        http: { host: '0.0.0.0', port: HTTP_PORT },
        mount: '/roamgate',
        users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
        servers: { smtp: [{ host: network.hostAddress, port: smtp.port }] },
        access: [{ subject: 'authenticated', service: '*', allow: true }],
        health: { enabled: false },
        discovery: { name, url, keyFile: join(dir, `${name}.key`), port: discoveryPort, host: '0.0.0.0' },
      }),
    );
    const gateway = await serveInNamespace(network.namespace, file);
    cleanups.push(() => gateway.stop());
    // Its key, from its discovery log line (stdout: it may come after the banner on stderr).
    const publicKey = (await waitForOutput(gateway.output, /"publicKey":"([^"]+)"/))[1]!;
    return { smtp, url, gateway, publicKey };
  }

  /** A local proxy for alice relaying SMTP, finding its gateway by UDP discovery on these networks (or the one given). */
  async function localProxy(networks: TestNetwork[], notices: Notices, extra: { gateway?: string; stateDir?: string } = {}) {
    const proxy: LocalProxy = await startLocalProxy({
      user: 'alice',
      password: 'alice-pw',
      services: ['smtp'],
      listen: { smtp: 0 },
      stateDir: extra.stateDir ?? mkdtempSync(join(dir, 'state-')),
      limits: LIMITS,
      ...(extra.gateway
        ? { gateway: extra.gateway }
        : { discovery: { port: discoveryPort, addresses: networks.map((network) => network.broadcast), mdns: false } }),
      onEvent: notices.add,
    });
    cleanups.push(() => proxy.close());
    return proxy;
  }

  /**
   * Clients connecting one after another from `since` until one is greeted by `banner`: every answer before is a
   * temporary refusal, never a hang and never advice to pass --user (it was passed).
   */
  async function clientsUntilGreetedBy(port: number, banner: string, since: number) {
    const seen: { at: number; line: string; ms: number }[] = [];
    await untilValue(
      async () => {
        const at = performance.now() - since;
        const answer = await firstLine(port);
        seen.push({ at, ...answer });
        return answer.line;
      },
      (line) => line.startsWith('220 ') && line.includes(banner),
      () => `a client greeted ${banner}; answers so far:\n${seen.map((entry) => `${Math.round(entry.at)} ms: ${entry.line}`).join('\n')}`,
      40_000,
      100,
    );
    const refused = seen.slice(0, -1);
    for (const entry of refused) expect(entry.line).toMatch(/^421 4\.3\.0 /);
    for (const entry of seen) expect(entry.line).not.toMatch(/--user/);
    const longest = Math.max(...seen.map((entry) => entry.ms));
    expect(longest).toBeLessThan(CLIENT_WAIT_LIMIT_MS);
    const words = [...new Set(refused.map((entry) => entry.line))];
    console.log(`local-proxy-moves: what clients were told during the move:\n${words.map((line) => `  ${line}`).join('\n')}`);
    return { seen, refused, greetedAt: seen.at(-1)!.at + seen.at(-1)!.ms, longest };
  }

  test('the gateway goes silent (its packets dropped, no reset): noticed within 3 s, the next network it knows takes over', async () => {
    const a = await networkWithGateway('lan-a');
    const other = makeNetwork();
    cleanups.push(() => other.remove());
    const notices = new Notices();
    const state = mkdtempSync(join(dir, 'state-'));
    const moving = await localProxy([a.network, other], notices, { stateDir: state });
    expect(moving.status()).toMatchObject({ gateway: a.url, lease: 'live' });
    const movingPort = moving.listeners.smtp!.port;
    expect((await firstLine(movingPort)).line).toMatch(/^220 .*via lan-a/);
    // A relay open through the first network, quiet like an idle mail client: it is cut when the gateway is found lost.
    const idle = await RawClient.open(movingPort);
    await idle.waitFor((text) => text.includes('via lan-a'));
    let idleCutAt = Number.NaN;
    void idle.closed.then(() => (idleCutAt = performance.now()));

    // The other network's gateway; the laptop has been there before, so its key is pinned.
    const b = { network: other, ...(await gatewayOn(other, 'lan-b')) };
    const pins = JSON.parse(readFileSync(join(state, 'networks.json'), 'utf8'));
    pins['lan-b'] = { publicKey: b.publicKey, pinnedAt: new Date().toISOString(), url: b.url };
    writeFileSync(join(state, 'networks.json'), JSON.stringify(pins), { mode: 0o600 });

    const mark = notices.all.length;
    const began = performance.now();
    // Undone first at cleanup, so that the gateway's own connections close cleanly when it stops.
    cleanups.push(dropRepliesFrom(a.network));
    const clients = clientsUntilGreetedBy(movingPort, 'via lan-b', began);
    const lost = await notices.waitFor((notice) => notice.type === 'gateway-lost', 'the loss of the first gateway', mark);
    const lostMs = lost.at - began;
    expect(lost.text).toMatch(
      new RegExp(
        `^lost the gateway ${escaped(a.url)} \\(the gateway at \\S+ sent nothing on its event stream for \\d(\\.\\d)? s\\); looking for it again$`,
      ),
    );
    const { refused, greetedAt, longest } = await clients;
    const back = await notices.waitFor((notice) => notice.type === 'gateway-back', 'the switch', mark);
    expect(back.text).toMatch(new RegExp(`^now using the gateway ${escaped(b.url)}, \\d+\\.\\d s after losing `));
    await idle.closed;
    const idleCutMs = idleCutAt - began;
    expect(moving.status()).toMatchObject({ gateway: b.url, lease: 'live', user: 'alice' });
    console.log(
      `local-proxy-moves: silent gateway, known network next: loss noticed ${Math.round(lostMs)} ms after its packets were dropped; ` +
        `switched (gateway-back) at ${Math.round(back.at - began)} ms; first client greeted through the new network at ${Math.round(greetedAt)} ms; ` +
        `${refused.length} client(s) refused meanwhile with 421, the longest wait ${Math.round(longest)} ms; the idle relay through the old network cut by ${Math.round(idleCutMs)} ms`,
    );
    expect(lostMs).toBeLessThan(NOTICE_SILENCE_LIMIT_MS);
    // Cut with the loss, not left to TCP keepalive (about 11 s on an idle connection).
    expect(idleCutMs).toBeLessThan(lostMs + 1_000);
  });

  test('a fixed --gateway goes silent: the loss is said within 3 s naming it, clients hear a temporary error at once, and it is used again when it answers', async () => {
    const a = await networkWithGateway('lan-a');
    const notices = new Notices();
    const proxy = await localProxy([], notices, { gateway: a.url });
    const port = proxy.listeners.smtp!.port;
    expect((await firstLine(port)).line).toMatch(/^220 .*via lan-a/);

    const mark = notices.all.length;
    const began = performance.now();
    const restore = dropRepliesFrom(a.network);
    let restored = false;
    cleanups.push(() => {
      if (!restored) restore();
    });
    const lost = await notices.waitFor((notice) => notice.type === 'gateway-lost', 'the loss of the gateway', mark);
    const lostMs = lost.at - began;
    expect(lost.level).toBe('warn');
    expect(lost.text).toMatch(
      new RegExp(
        `^lost the gateway ${escaped(a.url)} \\(the gateway at ${escaped(a.url)} sent nothing on its event stream for \\d(\\.\\d)? s\\); ` +
          'clients get a temporary error until it answers again, and it is tried again until then$',
      ),
    );
    const during = await firstLine(port);
    expect(during.line).toMatch(
      new RegExp(
        `^421 4\\.3\\.0 the gateway ${escaped(a.url)} is not answering \\(.*\\); roamgate local keeps trying it: try again in a moment$`,
      ),
    );
    expect(during.ms).toBeLessThan(CLIENT_WAIT_LIMIT_MS);

    const restoredAt = performance.now();
    restore();
    restored = true;
    const back = await notices.waitFor((notice) => notice.type === 'gateway-back', 'the gateway back', mark);
    expect(back.text).toMatch(new RegExp(`^the gateway ${escaped(a.url)} answers again, \\d+\\.\\d s after it was lost$`));
    const { greetedAt } = await clientsUntilGreetedBy(port, 'via lan-a', restoredAt);
    console.log(
      `local-proxy-moves: silent fixed --gateway: loss noticed and said ${Math.round(lostMs)} ms after its packets were dropped; ` +
        `a client during the outage was refused in ${Math.round(during.ms)} ms (${during.line.slice(0, 60)}...); ` +
        `once it answered again it was used again after ${Math.round(back.at - restoredAt)} ms, the first client greeted at ${Math.round(greetedAt)} ms`,
    );
    expect(lostMs).toBeLessThan(NOTICE_SILENCE_LIMIT_MS);
  });

  test("this machine's own network changes (it leaves one link and joins another): noticed within 2 s, the gateway found again there", async () => {
    const a = await networkWithGateway('lan-a');
    const b = await networkWithGateway('lan-b', { hostUp: false });
    const notices = new Notices();
    const proxy = await localProxy([a.network, b.network], notices);
    expect(proxy.status()).toMatchObject({ gateway: a.url, lease: 'live' });
    const port = proxy.listeners.smtp!.port;
    expect((await firstLine(port)).line).toMatch(/^220 .*via lan-a/);
    const open = await RawClient.open(port);
    await open.waitFor((text) => text.includes('via lan-a'));
    let cutAt = Number.NaN;
    void open.closed.then(() => (cutAt = performance.now()));

    const mark = notices.all.length;
    const began = performance.now();
    ip('link', 'set', a.network.hostEnd, 'down');
    ip('link', 'set', b.network.hostEnd, 'up');
    // Undone first at cleanup, so that the gateway's own connections close cleanly when it stops.
    cleanups.push(() => void ip('link', 'set', a.network.hostEnd, 'up'));
    const clients = clientsUntilGreetedBy(port, 'via lan-b', began);
    const changed = await notices.waitFor((notice) => notice.type === 'network-changed', 'the network change noticed', mark);
    const changedMs = changed.at - began;
    expect(changed.text).toContain(`${a.network.hostAddress} on ${a.network.hostEnd} gone`);
    const { refused, greetedAt, longest } = await clients;
    const back = await notices.waitFor((notice) => notice.type === 'gateway-back', 'the switch', mark);
    // The relay open from the address that went away is let go at once, not left to time out.
    await open.closed;
    const cutMs = cutAt - began;
    const after = notices.all.slice(mark);
    expect(after.find((notice) => notice.type === 'gateway')?.text).toMatch(
      /found on network "lan-b", key SHA256:\S+ pinned on first use$/,
    );
    expect(proxy.status()).toMatchObject({ gateway: b.url, lease: 'live', user: 'alice' });
    console.log(
      `local-proxy-moves: this machine left lan-a and joined lan-b: change noticed ${Math.round(changedMs)} ms after the links changed (${changed.text}); ` +
        `switched (gateway-back, a network seen for the first time: the 1.5 s discovery window) at ${Math.round(back.at - began)} ms; ` +
        `first client greeted through lan-b at ${Math.round(greetedAt)} ms; ${refused.length} client(s) refused meanwhile with 421, the longest wait ${Math.round(longest)} ms; ` +
        `the relay from the vanished address cut by ${Math.round(cutMs)} ms`,
    );
    expect(changedMs).toBeLessThan(NOTICE_NETWORK_LIMIT_MS);
    expect(cutMs).toBeLessThan(changedMs + 1_000);
  });
});
