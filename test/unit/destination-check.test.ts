import os from 'node:os';
import { checkDestination } from '../../adapters/destination-check';
import { parseAllowRule } from '../../protocols/http/allowlist';

const ANYWHERE = [parseAllowRule('*:*')];
const OWN_PORTS = new Set([3128, 8080]);

describe("checkDestination: the gateway's own ports on its own addresses, in any spelling", () => {
  beforeEach(() => {
    jest.spyOn(os, 'networkInterfaces').mockReturnValue({
      eth0: [
        { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.0.2.2/24' },
        { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fd00::2/64', scopeid: 0 },
      ],
    });
  });
  afterEach(() => jest.restoreAllMocks());

  test.each(['192.0.2.2', '::ffff:192.0.2.2', '::ffff:c000:202', 'fd00::2', 'fd00:0::2', 'FD00:0000:0000:0000:0000:0000:0000:0002', '127.0.0.1', '::1'])('%s on an own port is refused', async (host) => {
    await expect(checkDestination({ host, port: 3128 }, ANYWHERE, OWN_PORTS, true)).rejects.toMatchObject({ code: 'ROAMGATE_DESTINATION_REFUSED', message: expect.stringMatching(/own ports are never proxied/) });
  });

  test.each(['192.0.2.2', '::ffff:192.0.2.2', 'fd00::2'])('%s on another port is reached', async (host) => {
    await expect(checkDestination({ host, port: 80 }, ANYWHERE, OWN_PORTS, true)).resolves.toBe(host);
  });

  test('another address on an own port is reached', async () => {
    await expect(checkDestination({ host: '192.0.2.3', port: 3128 }, ANYWHERE, OWN_PORTS, true)).resolves.toBe('192.0.2.3');
  });
});
