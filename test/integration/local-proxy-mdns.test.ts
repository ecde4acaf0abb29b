import express from 'express';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import makeMulticastDns from 'multicast-dns';
import nodemailer from 'nodemailer';
import type { LocalProxyNotice } from '../../local/proxy-notices';
import { startLocalProxy, type LocalProxy } from '../../local/local-proxy';
import { forgetNetwork } from '../../local/state-dir';
import { announcementTxt, DiscoveryResponder } from '../../plugin/discovery-responder';
import type { RoamgateOptions } from '../../plugin/options';
import { hashPassword } from '../../plugin/password';
import { roamgate } from '../../plugin/roamgate';
import { generateGatewayKey } from '../../protocols/discovery-message';
import { buildRecords, LEGACY_UNICAST_TTL_SECONDS, MDNS_GROUP, planAnswer } from '../../protocols/mdns-announcement';
import { runCli, waitForOutput } from '../helpers/cli';
import { CapturingLogger } from '../helpers/gateway';
import { freeUdpPort } from '../helpers/mdns';
import { refusedPort } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';

const ALL_EPHEMERAL = { smtp: 0, pop3: 0, imap: 0, nntp: 0, 'http-proxy': 0, pac: 0 };
const FAST = { reconnectMinMs: 50, reconnectMaxMs: 300, connectTimeoutMs: 2_000, requestTimeoutMs: 2_000 };

jest.setTimeout(15_000);

/** A gateway whose management URL (on a port chosen up front) it announces by mDNS on loopback, as `roamgate serve` would with `discovery.mdns`. */
async function announcedGateway(
  options: RoamgateOptions,
  discovery: { name: string; keyFile: string; mdnsPort: number },
): Promise<{ url: string; logger: CapturingLogger; close(): Promise<void> }> {
  const port = await refusedPort();
  const url = `http://127.0.0.1:${port}/roamgate`;
  const logger = new CapturingLogger();
  const gateway = roamgate({
    health: { enabled: false },
    ...options,
    logger,
    discovery: {
      name: discovery.name,
      url,
      keyFile: discovery.keyFile,
      port: 0,
      host: '127.0.0.1',
      mdns: { port: discovery.mdnsPort, interface: '127.0.0.1' },
    },
  });
  const app = express();
  app.use('/roamgate', gateway.router);
  const http = await new Promise<Server>((resolve) => {
    const server = app.listen(port, '127.0.0.1', () => resolve(server));
  });
  gateway.attach(http);
  await gateway.listen();
  return {
    url,
    logger,
    close: async () => {
      await gateway.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/**
 * A forger on the mDNS port: answers every PTR query for the service with a
 * TXT record claiming `publicKey` and sending clients to `url`, signed with
 * its own key (so the signature is not the claimed key's).
 */
async function mdnsForger(mdnsPort: number, claim: { name: string; url: string; publicKey: string }): Promise<{ close(): Promise<void> }> {
  const own = generateGatewayKey();
  const mdns = makeMulticastDns({ port: mdnsPort, ip: MDNS_GROUP, interface: '127.0.0.1', bind: '0.0.0.0', reuseAddr: true });
  mdns.on('warning', () => undefined);
  await new Promise<void>((resolve) => mdns.once('ready', resolve));
  mdns.on('query', (query, from) => {
    const plan = planAnswer(query.questions, claim);
    if (!plan || from.port === mdnsPort) return;
    const txt = {
      ...announcementTxt(own.privateKeyPem, { name: claim.name, url: claim.url, issuedAt: Date.now() }),
      publicKey: claim.publicKey,
    };
    const announcement = { name: claim.name, txt, ttl: LEGACY_UNICAST_TTL_SECONDS, flush: false };
    mdns.respond(
      {
        id: query.id,
        questions: plan.questions,
        answers: buildRecords(plan.answers, announcement),
        additionals: buildRecords(plan.additionals, announcement),
      },
      { port: from.port, address: from.address },
    );
  });
  return { close: () => new Promise<void>((resolve) => mdns.destroy(() => resolve())) };
}

class Notices {
  readonly all: LocalProxyNotice[] = [];
  readonly add = (notice: LocalProxyNotice) => void this.all.push(notice);
  text(): string {
    return this.all.map((notice) => notice.text).join('\n');
  }
}

describe('local proxy finding its gateway by mDNS (DNS-SD on loopback, on a port of its own)', () => {
  const key = generateGatewayKey();
  let aliceHash: string;
  let mdnsPort: number;
  let silentUdp: number;
  let dir: string;
  let keyFile: string;
  let smtp: Awaited<ReturnType<typeof startSmtpUpstream>>;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    aliceHash = await hashPassword('alice-pw');
  });
  beforeEach(async () => {
    mdnsPort = await freeUdpPort();
    silentUdp = await freeUdpPort();
    dir = mkdtempSync(join(tmpdir(), 'roamgate-local-mdns-'));
    keyFile = join(dir, 'gateway.key');
    smtp = await startSmtpUpstream('mdns-found.internal');
    cleanups.push(() => smtp.close());
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const gatewayOptions = (): RoamgateOptions => ({
    users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
    servers: { smtp: [{ host: '127.0.0.1', port: smtp.port }] },
    access: [{ subject: 'authenticated', service: '*', allow: true }],
  });
  /** UDP queries go to a port where nothing answers: only mDNS can find the gateway. */
  const discovery = (windowMs = 400) => ({
    port: silentUdp,
    addresses: ['127.0.0.1'],
    mdns: { port: mdnsPort, interfaces: ['127.0.0.1'] },
    windowMs,
  });
  async function start(notices: Notices, windowMs?: number): Promise<LocalProxy> {
    const proxy = await startLocalProxy({
      user: 'alice',
      password: 'alice-pw',
      listen: ALL_EPHEMERAL,
      stateDir: join(dir, 'state'),
      limits: FAST,
      discovery: discovery(windowMs),
      onEvent: notices.add,
    });
    cleanups.push(() => proxy.close());
    return proxy;
  }
  const sendMail = (port: number, subject: string) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true })
      .sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject, text: subject });

  test('finds the gateway by its signed DNS-SD records, pins its key, and relays through it', async () => {
    const gateway = await announcedGateway(gatewayOptions(), { name: 'testnet', keyFile, mdnsPort });
    cleanups.push(() => gateway.close());
    expect(gateway.logger.lines.find((line) => line.obj.event === 'discovery' && line.obj.mdnsPort)).toMatchObject({
      obj: { mdnsPort },
      msg: 'answering discovery queries and mDNS (DNS-SD _roamgate._tcp)',
    });
    const notices = new Notices();
    const proxy = await start(notices);
    expect(notices.text()).toMatch(
      new RegExp(`gateway ${gateway.url.replace(/\./g, '\\.')}, found on network "testnet" by mDNS, key SHA256:\\S+ pinned on first use`),
    );
    const pinned = JSON.parse(readFileSync(join(dir, 'state', 'networks.json'), 'utf8')).testnet;
    expect(pinned).toMatchObject({ url: gateway.url });
    await sendMail(proxy.listeners.smtp!.port, 'found by mDNS');
    expect(smtp.messages.map((message) => message.raw.toString())).toEqual([expect.stringContaining('Subject: found by mDNS')]);
  });

  test('a pinned gateway ends the wait at once, without waiting out the window', async () => {
    const gateway = await announcedGateway(gatewayOptions(), { name: 'testnet', keyFile, mdnsPort });
    cleanups.push(() => gateway.close());
    const first = await start(new Notices());
    await first.close();
    const notices = new Notices();
    const began = performance.now();
    await start(notices, 10_000);
    const took = performance.now() - began;
    expect(notices.text()).toMatch(/found on network "testnet" by mDNS, key SHA256:\S+ as pinned/);
    expect(took).toBeLessThan(3_000);
  });

  test('another key for a pinned network is refused loudly; a forged signature for the real key is ignored and the real gateway used', async () => {
    const gateway = await announcedGateway(gatewayOptions(), { name: 'testnet', keyFile, mdnsPort });
    const first = await start(new Notices());
    await first.close();
    await gateway.close();
    const pinnedKey = JSON.parse(readFileSync(join(dir, 'state', 'networks.json'), 'utf8')).testnet.publicKey as string;

    // An impostor: a real responder with its own key, answering as "testnet".
    const impostor = new DiscoveryResponder({
      name: 'testnet',
      url: 'http://127.0.0.1:9/roamgate',
      privateKeyPem: key.privateKeyPem,
      host: '127.0.0.1',
      port: 0,
      mdns: { port: mdnsPort, interface: '127.0.0.1' },
    });
    await impostor.start();
    const loud = new Notices();
    try {
      const failure = await startLocalProxy({
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: join(dir, 'state'),
        limits: FAST,
        discovery: discovery(),
        onEvent: loud.add,
      }).catch((error: unknown) => error);
      expect((failure as Error).message).toMatch(/^no trusted gateway found: .*--forget-network NAME/);
    } finally {
      await impostor.close();
    }
    const rejected = loud.all.find((notice) => notice.type === 'discovery-rejected')!;
    expect(rejected.level).toBe('error');
    expect(rejected.text).toMatch(
      new RegExp(
        `^REJECTED a gateway answer for network "testnet" from 127\\.0\\.0\\.1:${mdnsPort} \\(mDNS\\): the key of network "testnet" changed: pinned SHA256:`,
      ),
    );
    expect(JSON.parse(readFileSync(join(dir, 'state', 'networks.json'), 'utf8')).testnet.publicKey).toBe(pinnedKey);

    // The real gateway back, and beside it a forger claiming its key but unable to sign with it. With
    // the network forgotten, the wait lasts the whole window, so both are heard; only the genuine one counts.
    const back = await announcedGateway(gatewayOptions(), { name: 'testnet', keyFile, mdnsPort });
    cleanups.push(() => back.close());
    const forger = await mdnsForger(mdnsPort, { name: 'testnet', url: 'http://127.0.0.1:9/roamgate', publicKey: pinnedKey });
    cleanups.push(() => forger.close());
    expect(forgetNetwork(join(dir, 'state'), 'testnet')).toBe(true);
    const notices = new Notices();
    const proxy = await start(notices, 600);
    expect(proxy.status().gateway).toBe(back.url);
    expect(notices.all.filter((notice) => notice.type === 'discovery-rejected').map((notice) => notice.text)).toEqual([
      expect.stringMatching(/^ignored a gateway answer for network "testnet" from 127\.0\.0\.1:\d+ \(mDNS\): signature does not verify$/),
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'state', 'networks.json'), 'utf8')).testnet.publicKey).toBe(pinnedKey);
    await sendMail(proxy.listeners.smtp!.port, 'not fooled');
    expect(smtp.messages).toHaveLength(1);
  });

  test('roamgate local --mdns-port --mdns-interface finds it the same way', async () => {
    const gateway = await announcedGateway(gatewayOptions(), { name: 'testnet', keyFile, mdnsPort });
    cleanups.push(() => gateway.close());
    writeFileSync(join(dir, 'password'), 'alice-pw\n', { mode: 0o600 });
    const listen = Object.keys(ALL_EPHEMERAL).flatMap((name) => ['--listen', `${name}=0`]);
    const env = { ...process.env };
    delete env.ROAMGATE_PASSWORD;
    const cli = runCli(
      [
        'local',
        '--user',
        'alice',
        '--password-file',
        join(dir, 'password'),
        '--state-dir',
        join(dir, 'state'),
        ...listen,
        '--discovery-port',
        String(silentUdp),
        '--discovery-address',
        '127.0.0.1',
        '--mdns-port',
        String(mdnsPort),
        '--mdns-interface',
        '127.0.0.1',
      ],
      env,
    );
    try {
      await waitForOutput(cli.output, /roamgate: ready/);
      expect(cli.output()).toContain(`roamgate: gateway ${gateway.url}, found on network "testnet" by mDNS, key SHA256:`);
      const port = Number(/roamgate: smtp +127\.0\.0\.1:(\d+) /.exec(cli.output())![1]);
      await sendMail(port, 'from the CLI, found by mDNS');
      expect(smtp.messages.at(-1)!.raw.toString()).toContain('Subject: from the CLI, found by mDNS');
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  test('mDNS can be turned off: then only UDP is asked, and the message says so', async () => {
    const gateway = await announcedGateway(gatewayOptions(), { name: 'testnet', keyFile, mdnsPort });
    cleanups.push(() => gateway.close());
    const failure = await startLocalProxy({
      listen: ALL_EPHEMERAL,
      stateDir: join(dir, 'state'),
      discovery: { ...discovery(200), mdns: false },
    }).catch((error: unknown) => error);
    expect((failure as Error).message).toBe(
      `no roamgate gateway answered on this network (UDP port ${silentUdp} at 127.0.0.1, for 200 ms): pass --gateway URL, or ask the network's administrator whether its gateway answers discovery`,
    );
    const silentMdns = await freeUdpPort();
    const both = await startLocalProxy({
      listen: ALL_EPHEMERAL,
      stateDir: join(dir, 'state'),
      discovery: { ...discovery(200), mdns: { port: silentMdns, interfaces: ['127.0.0.1'] } },
    }).catch((error: unknown) => error);
    expect((both as Error).message).toBe(
      `no roamgate gateway answered on this network (UDP port ${silentUdp} at 127.0.0.1 and mDNS port ${silentMdns} on 127.0.0.1, for 200 ms): pass --gateway URL, or ask the network's administrator whether its gateway answers discovery`,
    );
  });
});
