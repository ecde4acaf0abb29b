import { describeTarget, routeFor, type RouteFacts, type RouteTarget } from '../../local/route-target';
import type { LocalService } from '../../local/options';

const GATEWAY = 'http://10.0.0.1:8080/roamgate';

describe('describeTarget', () => {
  test.each<[string, Parameters<typeof describeTarget>, string]>([
    ['the gateway', ['smtp', { kind: 'gateway', url: GATEWAY }], `through the gateway ${GATEWAY}`],
    ['one server', ['pop3', { kind: 'servers', servers: [{ host: 'mail.example', port: 110 }] }], 'mail.example:110'],
    [
      'servers in failover order',
      [
        'smtp',
        {
          kind: 'servers',
          servers: [
            { host: 'a.example', port: 25 },
            { host: 'b.example', port: 25 },
            { host: '::1', port: 2525 },
          ],
        },
      ],
      'a.example:25 (then b.example:25, [::1]:2525)',
    ],
    [
      'nowhere',
      ['nntp', { kind: 'none', reason: 'the gateway names no nntp server' }],
      'nowhere: the gateway names no nntp server (nntp clients are told so)',
    ],
  ])('%s', (_name, args, expected) => {
    expect(describeTarget(...args)).toBe(expected);
  });
});

describe('routeFor', () => {
  const discovered = {
    mode: 'direct' as const,
    services: {
      smtp: [
        { host: 'mail.example', port: 25 },
        { host: 'b.example', port: 25 },
      ],
    },
  };
  const facts = (extra: Partial<RouteFacts>): RouteFacts => ({ mode: 'direct', gateway: GATEWAY, discovered, leased: false, ...extra });
  test.each<[string, LocalService, RouteFacts, RouteTarget]>([
    ['gateway mode with a lease: the gateway', 'smtp', facts({ mode: 'gateway', leased: true }), { kind: 'gateway', url: GATEWAY }],
    [
      'gateway mode without a lease and no user: nowhere, asking for one',
      'smtp',
      facts({ mode: 'gateway' }),
      { kind: 'none', reason: 'gateway mode needs a login (--user NAME)' },
    ],
    [
      'gateway mode without a lease yet, with a user (a switch under way): never asks for the --user given',
      'smtp',
      facts({ mode: 'gateway', user: 'alice' }),
      { kind: 'none', reason: 'not logged in at the gateway yet (logging in as alice)' },
    ],
    ['direct mode: the servers named, in order', 'smtp', facts({}), { kind: 'servers', servers: discovered.services.smtp }],
    [
      'direct mode, no server named, with a lease: through the gateway',
      'http-proxy',
      facts({ leased: true }),
      { kind: 'gateway', url: GATEWAY },
    ],
    [
      'direct mode, no server named, no lease: nowhere',
      'pop3',
      facts({}),
      { kind: 'none', reason: 'the gateway names no pop3 server for this network' },
    ],
    [
      'direct mode before any answer: nowhere',
      'smtp',
      facts({ discovered: null }),
      { kind: 'none', reason: 'the gateway names no smtp server for this network' },
    ],
  ])('%s', (_name, service, given, expected) => {
    expect(routeFor(service, given)).toEqual(expected);
  });
});
