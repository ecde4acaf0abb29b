import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import nodemailer from 'nodemailer';
import type { LocalProxyNotice } from '../../local/proxy-notices';
import { discoverGateway } from '../../local/lan-discovery';
import { startLocalProxy, type LocalProxy } from '../../local/local-proxy';
import { queryByMdns } from '../../local/mdns-discovery';
import type { HeardAnswer } from '../../local/discovery-transport';
import { hashPassword } from '../../plugin/password';
import { roamgate } from '../../plugin/roamgate';
import { verifyAnswer } from '../../protocols/discovery-message';
import { BIN } from '../helpers/cli';
import { CapturingLogger } from '../helpers/gateway';
import { freeUdpPort } from '../helpers/mdns';
import { refusedPort } from '../helpers/net';
import { startSmtpUpstream } from '../helpers/smtp-upstream';
import { freeSubnet, ip, NETNS_PREFIX, removeStaleNamespaces, serveInNamespace, whyNoNetns } from '../helpers/netns';
import { until } from '../helpers/until';

/**
 * "Another network": a second gateway in a network namespace of its own,
 * reached over a veth pair, as a laptop would find one after moving. The
 * namespace and the pair are made here (names with this process's id) and
 * removed in afterAll, whatever happened. Needs root and `ip netns`: CI has
 * both; elsewhere the test is skipped, saying why.
 */

const FAST = { reconnectMinMs: 50, reconnectMaxMs: 300, connectTimeoutMs: 2_000, requestTimeoutMs: 2_000 };
const ALL_EPHEMERAL = { smtp: 0, pop3: 0, imap: 0, nntp: 0, 'http-proxy': 0, pac: 0 };
/** The namespace's gateways listen on fixed ports: the namespace is new, so nothing else holds them. */
const ELSEWHERE_HTTP = 8080;
const IMPOSTOR_HTTP = 8081;

class Notices {
  readonly all: LocalProxyNotice[] = [];
  readonly add = (notice: LocalProxyNotice) => void this.all.push(notice);
  text(): string {
    return this.all.map((notice) => notice.text).join('\n');
  }
  async waitFor(predicate: (notice: LocalProxyNotice) => boolean, what: string, from = 0, timeoutMs = 15_000): Promise<LocalProxyNotice> {
    await until(
      () => this.all.slice(from).some(predicate),
      () => `${what}; notices so far:\n${this.text()}`,
      timeoutMs,
      20,
    );
    return this.all.slice(from).find(predicate)!;
  }
}

const skipReason = whyNoNetns();
if (skipReason) console.warn(`local-proxy-netns.test.ts: SKIPPED: ${skipReason}`);
const describeWithNetns = skipReason ? describe.skip : describe;

describeWithNetns(
  `local proxy moving to another network (a network namespace over a veth pair)${skipReason ? ` [skipped: ${skipReason}]` : ''}`,
  () => {
    jest.setTimeout(60_000);

    const suffix = randomBytes(3).toString('hex');
    const namespace = `${NETNS_PREFIX}-${process.pid}-${suffix}`;
    const hostEnd = `rgh${suffix}`;
    const namespaceEnd = `rgn${suffix}`;
    let subnet: string;
    let hostAddress: string;
    let namespaceAddress: string;
    const dir = mkdtempSync(join(tmpdir(), 'roamgate-netns-'));
    const cleanups: Array<() => Promise<void> | void> = [];

    beforeAll(() => {
      if (!existsSync(BIN) || !existsSync(join(BIN, '..', '..', 'plugin', 'mdns-responder.js')))
        throw new Error(`${BIN} is missing or stale: run npm run build first (npm test does)`);
      removeStaleNamespaces();
      subnet = freeSubnet();
      hostAddress = `${subnet}.1`;
      namespaceAddress = `${subnet}.2`;
      // Registered first, so that it runs last and even when a step below fails.
      cleanups.push(() => {
        try {
          ip('netns', 'del', namespace);
        } catch {
          // not made
        }
        try {
          ip('link', 'del', hostEnd);
        } catch {
          // gone with the namespace
        }
      });
      ip('netns', 'add', namespace);
      ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', namespaceEnd, 'netns', namespace);
      ip('addr', 'add', `${hostAddress}/24`, 'dev', hostEnd);
      ip('link', 'set', hostEnd, 'up');
      ip('-n', namespace, 'addr', 'add', `${namespaceAddress}/24`, 'dev', namespaceEnd);
      ip('-n', namespace, 'link', 'set', namespaceEnd, 'up');
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
    });
    afterAll(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) {
        try {
          await cleanup();
        } catch (error) {
          console.warn(`cleanup failed: ${(error as Error).message}`);
        }
      }
      expect(ip('netns', 'list')).not.toContain(namespace);
    });

    test('the first gateway goes away; the local proxy finds the one on the other network (UDP broadcast and mDNS over the veth), refuses an impostor of its old network, and relays through the new one', async () => {
      const aliceHash = await hashPassword('alice-pw');
      const discoveryPort = await freeUdpPort();
      const mdnsPort = await freeUdpPort();
      // The mail server, on the host's end of the veth: reachable from both networks.
      const smtp = await startSmtpUpstream({ banner: 'netns-upstream.internal', host: hostAddress });
      cleanups.push(() => smtp.close());
      const common = {
        users: [{ id: 'alice', passwordHash: aliceHash, attributes: {} }],
        servers: { smtp: [{ host: hostAddress, port: smtp.port }] },
        access: [{ subject: 'authenticated' as const, service: '*', allow: true }],
        health: { enabled: false },
      };

      // The first network's gateway, on the host's loopback.
      const homePort = await refusedPort();
      const homeUrl = `http://127.0.0.1:${homePort}/roamgate`;
      const home = roamgate({
        ...common,
        logger: new CapturingLogger(),
        discovery: {
          name: 'home-lan',
          url: homeUrl,
          keyFile: join(dir, 'home.key'),
          port: discoveryPort,
          host: '127.0.0.1',
          mdns: { port: mdnsPort, interface: '127.0.0.1' },
        },
      });
      const app = express();
      app.use('/roamgate', home.router);
      const homeHttp = await new Promise<Server>((resolve) => {
        const server = app.listen(homePort, '127.0.0.1', () => resolve(server));
      });
      home.attach(homeHttp);
      await home.listen();
      let homeClosed = false;
      const closeHome = async () => {
        if (homeClosed) return;
        homeClosed = true;
        await home.close();
        homeHttp.closeAllConnections();
        await new Promise((resolve) => homeHttp.close(resolve));
      };
      cleanups.push(closeHome);

      // The local proxy asks both networks: loopback and the veth's subnet, by UDP broadcast and by mDNS on each interface.
      const state = join(dir, 'state');
      const discovery = {
        port: discoveryPort,
        addresses: ['127.0.0.1', `${subnet}.255`],
        mdns: { port: mdnsPort, interfaces: ['127.0.0.1', hostAddress] },
        windowMs: 800,
      };
      const notices = new Notices();
      const proxy: LocalProxy = await startLocalProxy({
        user: 'alice',
        password: 'alice-pw',
        listen: ALL_EPHEMERAL,
        stateDir: state,
        limits: FAST,
        discovery,
        onEvent: notices.add,
      });
      cleanups.push(() => proxy.close());
      expect(proxy.status().gateway).toBe(homeUrl);
      expect(notices.text()).toMatch(/found on network "home-lan"( by mDNS)?, key SHA256:\S+ pinned on first use/);
      const smtpPort = proxy.listeners.smtp!.port;
      const send = (subject: string) =>
        nodemailer
          .createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true })
          .sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject, text: subject });
      await send('on the first network');
      expect(smtp.messages.at(-1)).toMatchObject({ remoteAddress: hostAddress });

      // The other network: its own gateway, and an impostor answering as "home-lan" with another key.
      const config = (name: string, httpPort: number, keyFile: string) => {
        const file = join(dir, `${name}-${httpPort}.json`);
        writeFileSync(
          file,
          JSON.stringify({
            http: { host: '0.0.0.0', port: httpPort },
            mount: '/roamgate',
            ...common,
            discovery: {
              name,
              url: `http://${namespaceAddress}:${httpPort}/roamgate`,
              keyFile,
              port: discoveryPort,
              host: '0.0.0.0',
              mdns: { port: mdnsPort, interface: namespaceAddress },
            },
          }),
        );
        return file;
      };
      const [elsewhere, impostor] = await Promise.all([
        serveInNamespace(namespace, config('elsewhere', ELSEWHERE_HTTP, join(dir, 'elsewhere.key'))),
        serveInNamespace(namespace, config('home-lan', IMPOSTOR_HTTP, join(dir, 'impostor.key'))),
      ]);
      cleanups.push(
        () => elsewhere.stop(),
        () => impostor.stop(),
      );
      const elsewhereUrl = `http://${namespaceAddress}:${ELSEWHERE_HTTP}/roamgate`;

      // Leaving the first network: its gateway goes away.
      const mark = notices.all.length;
      const began = performance.now();
      await closeHome();
      await notices.waitFor((notice) => notice.type === 'gateway-lost', 'gateway-lost', mark);
      await notices.waitFor(
        (notice) => notice.type === 'route' && notice.service === 'smtp' && notice.text.endsWith(elsewhereUrl),
        'the route through the other network',
        mark,
      );
      const recoveredMs = performance.now() - began;
      const after = notices.all.slice(mark);
      expect(after.find((notice) => notice.type === 'gateway')!.text).toMatch(
        new RegExp(
          `^gateway ${elsewhereUrl.replace(/\./g, '\\.')}, found on network "elsewhere"( by mDNS)?, key SHA256:\\S+ pinned on first use$`,
        ),
      );
      const loud = after.filter((notice) => notice.type === 'discovery-rejected');
      expect(loud.length).toBeGreaterThan(0);
      for (const notice of loud) {
        expect(notice.level).toBe('error');
        expect(notice.text).toMatch(
          new RegExp(
            `^REJECTED a gateway answer for network "home-lan" from ${namespaceAddress.replace(/\./g, '\\.')}:\\d+( \\(mDNS\\))?: the key of network "home-lan" changed`,
          ),
        );
      }
      expect(proxy.status()).toMatchObject({ gateway: elsewhereUrl, lease: 'live', user: 'alice' });

      // A real client connection, relayed through the gateway in the namespace.
      await send('on the other network');
      expect(smtp.messages.at(-1)).toMatchObject({ remoteAddress: namespaceAddress });
      expect(smtp.messages.at(-1)!.raw.toString()).toContain('Subject: on the other network');
      // The gateway records a relay when it ends, just after the client hung up.
      const relayed = /"event":"relay".*"identity":"alice"|"identity":"alice".*"event":"relay"/;
      const what = () => `the relay record in the output of the gateway elsewhere:\n${elsewhere.output()}`;
      await until(() => relayed.test(elsewhere.output()), what, 5_000, 25);
      expect(elsewhere.output()).toMatch(relayed);
      expect(impostor.output()).not.toMatch(/"event":"relay"/);
      const pins = JSON.parse(readFileSync(join(state, 'networks.json'), 'utf8'));
      expect(Object.keys(pins).sort()).toEqual(['elsewhere', 'home-lan']);
      expect(pins['home-lan'].url).toBe(homeUrl);

      // Each way of asking works across the veth on its own.
      const byUdp = await discoverGateway({ port: discoveryPort, addresses: [`${subnet}.255`], mdns: false, windowMs: 600, pins });
      expect(byUdp.gateway).toMatchObject({ name: 'elsewhere', url: elsewhereUrl, trust: 'pinned', via: 'udp' });
      const heard: HeardAnswer[] = [];
      const errors: string[] = [];
      const transport = queryByMdns(
        { port: mdnsPort, interfaces: [hostAddress], windowMs: 600 },
        { onAnswer: (answer) => heard.push(answer), onSendError: (message) => errors.push(message) },
      );
      const names = () => [...new Set(heard.map(({ answer }) => answer.name))].sort();
      try {
        await until(
          () => names().length >= 2,
          () => `both gateways over mDNS (heard ${names().join(', ') || 'none'})`,
          3_000,
          25,
        );
      } finally {
        transport.close();
      }
      expect(errors).toEqual([]);
      expect(names()).toEqual(['elsewhere', 'home-lan']);
      for (const { answer, from } of heard) {
        expect(from).toBe(`${namespaceAddress}:${mdnsPort}`);
        expect(verifyAnswer(answer, { nonce: '', now: Date.now() })).toEqual({ ok: true });
      }
      console.log(
        `local-proxy-netns: the local proxy was relaying through the other network ${Math.round(recoveredMs)} ms after its first gateway closed`,
      );
    });
  },
);
