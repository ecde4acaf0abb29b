import { offeredServices, type OfferingDeps } from '../../plugin/offered-services';
import type { HomeGrant, Identity } from '../../identity';
import type { ServerInfo } from '../../server-info';

const TOKEN = 'home-lease-token-0123456789';
const hop = { url: 'https://far.example/roamgate', service: 'smtp', token: TOKEN, label: 'home gateway far.example' };

const alice: Identity = { kind: 'user', address: '192.0.2.7', user: { id: 'alice', attributes: { department: 'sales' } } };
const anonymous: Identity = { kind: 'anonymous', address: '192.0.2.8' };
function visitor(services: HomeGrant['services']): Identity {
  return {
    kind: 'user',
    address: '192.0.2.9',
    user: {
      id: 'carol@far.example',
      attributes: {},
      home: { realm: 'far.example', username: 'carol', token: TOKEN, expiresAt: 1_700_000_000_000, services },
    },
  };
}

/** Deps over a table of service -> servers, with a deny list; records what was asked. */
function deps(table: Record<string, ServerInfo[]>, denied: string[] = []) {
  const asked = { allowed: [] as Array<[Identity, string]>, resolved: [] as Array<[string, Identity]> };
  const offering: OfferingDeps = {
    names: async () => Object.keys(table),
    allowed: (identity, service) => (asked.allowed.push([identity, service]), !denied.includes(service)),
    resolve: async (service, identity) => (asked.resolved.push([service, identity]), table[service] ?? []),
  };
  return { offering, asked };
}

const general: ServerInfo = { host: 'mail.example', port: 25, priority: 10 };

describe('offeredServices', () => {
  test('offers each allowed service some server provides, in order, and asks with the identity', async () => {
    const { offering, asked } = deps({ smtp: [general], pop3: [general], nntp: [], imap: [general] }, ['pop3']);
    expect(await offeredServices(alice, false, offering)).toStrictEqual([
      { service: 'smtp', own: false },
      { service: 'imap', own: false },
    ]);
    expect(asked.allowed).toEqual([
      [alice, 'smtp'],
      [alice, 'pop3'],
      [alice, 'nntp'],
      [alice, 'imap'],
    ]);
    // A denied service is not even resolved.
    expect(asked.resolved).toEqual([
      ['smtp', alice],
      ['nntp', alice],
      ['imap', alice],
    ]);
  });

  test('nothing allowed or nothing served: nothing offered', async () => {
    expect(await offeredServices(alice, true, deps({ smtp: [general] }, ['smtp']).offering)).toEqual([]);
    expect(await offeredServices(alice, true, deps({ smtp: [], pop3: [] }).offering)).toEqual([]);
    expect(await offeredServices(alice, true, deps({}).offering)).toEqual([]);
  });

  describe('own', () => {
    test.each<[string, Array<string | undefined>, boolean]>([
      ['a general server', [undefined], false],
      ['a server for authenticated users', ['authenticated'], false],
      ['a server for anonymous clients', ['anonymous'], false],
      ["the user's own server", ['user:alice'], true],
      ["their department's server", ['department=sales'], true],
      ['general and own servers', [undefined, 'user:alice'], true],
      ['authenticated and anonymous servers', ['authenticated', 'anonymous'], false],
    ])('%s -> %s', async (_name, fors, own) => {
      const servers = fors.map(
        (forSubject, index): ServerInfo => ({
          host: `s${index}.example`,
          port: 25,
          priority: index,
          ...(forSubject ? { for: forSubject } : {}),
        }),
      );
      expect(await offeredServices(alice, false, deps({ smtp: servers }).offering)).toStrictEqual([{ service: 'smtp', own }]);
    });
  });

  describe('hops to another gateway', () => {
    test.each<[string, Identity, boolean]>([
      ["own at the user's home", visitor([{ service: 'smtp', own: true }]), true],
      ["general at the user's home", visitor([{ service: 'smtp', own: false }]), false],
      ['home offered another service only', visitor([{ service: 'pop3', own: true }]), false],
      ['a user without a home', alice, false],
      ['an anonymous client', anonymous, false],
    ])('take own from the home grant: %s -> %s', async (_name, identity, own) => {
      // The hop candidate's own `for` does not count: the home's word does.
      const servers: ServerInfo[] = [{ host: 'far.example', port: 443, priority: 0, for: 'user:carol@far.example', tunnel: hop }];
      expect(await offeredServices(identity, true, deps({ smtp: servers }).offering)).toStrictEqual([{ service: 'smtp', own }]);
    });

    test('are never revealed, even mixed with direct servers', async () => {
      const servers: ServerInfo[] = [general, { host: 'far.example', port: 443, priority: 0, tunnel: hop }];
      const offered = await offeredServices(visitor([{ service: 'smtp', own: true }]), true, deps({ smtp: servers }).offering);
      expect(offered).toStrictEqual([{ service: 'smtp', own: true }]);
    });
  });

  describe('reveal', () => {
    const servers: ServerInfo[] = [
      {
        host: 'mail.home.example',
        port: 587,
        priority: 5,
        for: 'user:alice',
        tls: { mode: 'starttls', ca: '/etc/roamgate/home-ca.pem', servername: 'mx.home.example' },
        credentials: { username: 'relay', password: 'relay-secret' },
      },
      { host: '192.0.2.25', port: 465, priority: 10, tls: { mode: 'implicit', ca: '/etc/roamgate/ca.pem' }, credentials: 'none' },
      { host: '2001:db8::25', port: 25, priority: 20, for: 'authenticated' },
    ];

    test('copies host, port, priority and the TLS mode and name; never the CA file, credentials or subject', async () => {
      const offered = await offeredServices(alice, true, deps({ smtp: servers }).offering);
      expect(offered).toStrictEqual([
        {
          service: 'smtp',
          own: true,
          servers: [
            { host: 'mail.home.example', port: 587, priority: 5, tls: { mode: 'starttls', servername: 'mx.home.example' } },
            { host: '192.0.2.25', port: 465, priority: 10, tls: { mode: 'implicit' } },
            { host: '2001:db8::25', port: 25, priority: 20 },
          ],
        },
      ]);
      const text = JSON.stringify(offered);
      for (const secret of ['ca.pem', 'relay-secret', 'relay', 'credentials', 'user:alice', 'authenticated'])
        expect(text).not.toContain(secret);
    });

    test("the revealed servers are copies: changing them leaves the source's alone", async () => {
      const offered = await offeredServices(alice, true, deps({ smtp: servers }).offering);
      offered[0].servers![0].tls!.mode = 'implicit';
      offered[0].servers![0].host = 'changed.example';
      expect(servers[0].tls!.mode).toBe('starttls');
      expect(servers[0].host).toBe('mail.home.example');
    });

    test("registered servers are revealed only when trusted with users' credentials (the peer would log in there)", async () => {
      const operators: ServerInfo = { host: 'pop.home.example', port: 110, priority: 10 };
      const guest: ServerInfo = { host: 'guest.example', port: 110, priority: 0, registered: { forwardCredentials: false } };
      const trusted: ServerInfo = { ...guest, host: 'trusted.example', registered: { forwardCredentials: true } };
      const hosts = async (table: ServerInfo[]) =>
        (await offeredServices(alice, true, deps({ pop3: table }).offering))[0].servers?.map((server) => server.host);
      expect(await hosts([operators, guest])).toEqual(['pop.home.example']);
      expect(await hosts([guest])).toBeUndefined();
      expect(await hosts([operators, trusted])).toEqual(['pop.home.example', 'trusted.example']);
    });

    test('without reveal there are no addresses at all', async () => {
      const offered = await offeredServices(alice, false, deps({ smtp: servers }).offering);
      expect(offered).toStrictEqual([{ service: 'smtp', own: true }]);
      expect(JSON.stringify(offered)).not.toContain('home.example');
    });
  });
});
