import fc from 'fast-check';
import dns from 'node:dns/promises';
import os from 'node:os';
import { checkDestination } from '../../adapters/destination-check';
import { isLoopback } from '../../protocols/http/address-class';
import { parseAllowRule } from '../../protocols/http/allowlist';
import { canonicalIp } from '../../protocols/http/ip-address';
import { parseAuthority } from '../../protocols/http/target';

const ANYWHERE = [parseAllowRule('*:*')];
const OWN_PORTS = new Set([3128, 8080]);

describe("checkDestination: the gateway's own ports on its own addresses, in any spelling", () => {
  beforeEach(() => {
    jest.spyOn(os, 'networkInterfaces').mockReturnValue({
      eth0: [
        { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.0.2.2/24' },
        {
          address: 'fd00::2',
          netmask: 'ffff:ffff:ffff:ffff::',
          family: 'IPv6',
          mac: '02:00:00:00:00:01',
          internal: false,
          cidr: 'fd00::2/64',
          scopeid: 0,
        },
      ],
    });
  });
  afterEach(() => jest.restoreAllMocks());

  test.each([
    '192.0.2.2',
    '::ffff:192.0.2.2',
    '::ffff:c000:202',
    'fd00::2',
    'fd00:0::2',
    'FD00:0000:0000:0000:0000:0000:0000:0002',
    '127.0.0.1',
    '::1',
  ])('%s on an own port is refused', async (host) => {
    await expect(checkDestination({ host, port: 3128 }, ANYWHERE, OWN_PORTS, true)).rejects.toMatchObject({
      code: 'ROAMGATE_DESTINATION_REFUSED',
      message: expect.stringMatching(/own ports are never proxied/),
    });
  });

  // fd00::2 is private: reached only through an entry naming it (here its range), never through *:*.
  test.each([
    ['192.0.2.2', '192.0.2.2'],
    ['::ffff:192.0.2.2', '192.0.2.2'],
    ['fd00::2', 'fd00::2'],
    ['FD00:0::2', 'fd00::2'],
  ])('%s on another port is reached (at %s)', async (host, address) => {
    await expect(checkDestination({ host, port: 80 }, [...ANYWHERE, parseAllowRule('[fd00::/64]:80')], OWN_PORTS, true)).resolves.toBe(
      address,
    );
  });

  test('another address on an own port is reached', async () => {
    await expect(checkDestination({ host: '192.0.2.3', port: 3128 }, ANYWHERE, OWN_PORTS, true)).resolves.toBe('192.0.2.3');
  });
});

describe('checkDestination: loopback and private destinations need an allowlist entry naming them', () => {
  const NONE = new Set<number>();
  const refusedFor = (kind: string) => ({
    code: 'ROAMGATE_DESTINATION_REFUSED',
    message: expect.stringContaining(`${kind} addresses are reached only through an allowlist entry naming them`),
  });

  test.each<[string, string]>([
    ['127.0.0.1', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['::1', 'loopback'],
    ['0::1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['012.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12::1', 'private'],
    ['FC00:0::1', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['64:ff9b::a00:1', 'private'],
  ])('*:* and *:80 do not reach %s (%s), directly or through an upstream proxy', async (host, kind) => {
    for (const rules of [ANYWHERE, [parseAllowRule('*:80')]])
      for (const resolveNames of [true, false])
        await expect(checkDestination({ host, port: 80 }, rules, NONE, resolveNames)).rejects.toMatchObject(refusedFor(kind));
  });

  test('localhost is loopback by name, even when an upstream proxy would resolve it', async () => {
    for (const resolveNames of [true, false])
      await expect(checkDestination({ host: 'localhost', port: 8080 }, ANYWHERE, NONE, resolveNames)).rejects.toMatchObject(
        refusedFor('loopback'),
      );
    await expect(checkDestination({ host: 'app.LOCALHOST.', port: 8080 }, ANYWHERE, NONE, false)).rejects.toMatchObject(
      refusedFor('loopback'),
    );
  });

  test.each<[string, string, string]>([
    ['an exact address', '127.0.0.1:8080', '127.0.0.1'],
    ['an exact address, the request in another spelling', '127.0.0.1:8080', '0x7f.0.0.1'],
    ['an exact IPv6 address, the request in another spelling', '[::1]:8080', '0:0::1'],
    ['a range', '10.0.0.0/8:8080', '10.20.30.40'],
    ['an IPv6 range', '[fd00::/8]:*', 'fd12:3456::1'],
  ])('%s names it (%s reaches %s)', async (_name, entry, host) => {
    await expect(checkDestination({ host, port: 8080 }, [...ANYWHERE, parseAllowRule(entry)], NONE, true)).resolves.toBe(canonicalIp(host));
  });

  test('an exact name names whatever it resolves to (localhost here)', async () => {
    const address = await checkDestination({ host: 'localhost', port: 8080 }, [parseAllowRule('localhost:8080')], NONE, true);
    expect(isLoopback(address)).toBe(true);
  });

  test('a name a *.domain rule matches reaches private addresses only where a range names them', async () => {
    jest.spyOn(dns, 'lookup').mockResolvedValue([{ address: '10.0.0.7', family: 4 }] as never);
    const wildcard = [parseAllowRule('*.corp.example:443')];
    await expect(checkDestination({ host: 'intranet.corp.example', port: 443 }, wildcard, NONE, true)).rejects.toMatchObject(
      refusedFor('private'),
    );
    await expect(
      checkDestination({ host: 'intranet.corp.example', port: 443 }, [...wildcard, parseAllowRule('10.0.0.0/24:443')], NONE, true),
    ).resolves.toBe('10.0.0.7');
    jest.restoreAllMocks();
  });

  test('public addresses stay reachable through *:*', async () => {
    await expect(checkDestination({ host: '93.184.216.34', port: 80 }, ANYWHERE, NONE, true)).resolves.toBe('93.184.216.34');
    await expect(checkDestination({ host: '2001:4860::8888', port: 80 }, ANYWHERE, NONE, false)).resolves.toBe('2001:4860::8888');
  });
});

describe('checkDestination: every numeric spelling is read as its address before any check, with or without an upstream proxy', () => {
  const NONE = new Set<number>();

  test.each([
    '0XA9FEA9FE',
    '0xa9fea9fe',
    '2852039166',
    '0251.0376.0251.0376',
    '0xA9.254.43518',
    '169.254.169.254.',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
  ])('%s is link-local', async (host) => {
    for (const resolveNames of [true, false])
      await expect(checkDestination({ host, port: 80 }, [parseAllowRule('*:80')], NONE, resolveNames)).rejects.toMatchObject({
        message: expect.stringMatching(/link-local/),
      });
  });

  test('a host ending in a number that is no address is refused, not passed on', async () => {
    await expect(checkDestination({ host: '1.2.3.256', port: 80 }, ANYWHERE, NONE, false)).rejects.toMatchObject({
      code: 'ROAMGATE_DESTINATION_REFUSED',
    });
  });

  test('property: any spelling of a link-local, loopback or private address, parsed from a CONNECT, never passes *:* to an upstream proxy', async () => {
    const inside = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((low) => 0xa9fe0000 + low),
      fc.integer({ min: 0, max: 0xffffff }).map((low) => 0x7f000000 + low),
      fc.integer({ min: 0, max: 0xffffff }).map((low) => 0x0a000000 + low),
      fc.integer({ min: 0, max: 0xffff }).map((low) => 0xc0a80000 + low),
    );
    const spelling = (value: number) =>
      fc.oneof(
        fc.constant(String(value)),
        fc.constantFrom('0x', '0X').map((prefix) => prefix + value.toString(16).toUpperCase()),
        fc.constant(`0${value.toString(8)}`),
        fc.constant(`[::ffff:${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}]`),
        fc.constant(`[64:ff9b::${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}]`),
      );
    await fc.assert(
      fc.asyncProperty(inside.chain(spelling), async (host) => {
        const destination = parseAuthority(`${host}:80`);
        expect(destination).not.toBeNull();
        await expect(checkDestination(destination!, ANYWHERE, NONE, false)).rejects.toMatchObject({ code: 'ROAMGATE_DESTINATION_REFUSED' });
      }),
      { numRuns: 500 },
    );
  });
});
