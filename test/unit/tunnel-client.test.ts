import { tunnelAddress, tunnelRequest } from '../../net/tunnel-client';
import { parseBearer, parseTunnelTarget } from '../../protocols/http/tunnel-target';

describe('tunnelAddress', () => {
  test.each<[string, ReturnType<typeof tunnelAddress>]>([
    ['http://10.0.0.1:8080/roamgate', { host: '10.0.0.1', port: 8080, tls: false }],
    ['http://gw.example/roamgate', { host: 'gw.example', port: 80, tls: false }],
    ['https://gw.example/roamgate', { host: 'gw.example', port: 443, tls: true }],
    ['https://[2001:db8::1]:8443/rg', { host: '2001:db8::1', port: 8443, tls: true }],
  ])('%s', (url, expected) => {
    expect(tunnelAddress(url)).toEqual(expected);
  });
});

describe('tunnelRequest', () => {
  test('is the CONNECT the gateway tunnel endpoint understands', () => {
    const text = tunnelRequest('smtp', 'tok-en_123');
    expect(text).toBe('CONNECT smtp.roamgate:1 HTTP/1.1\r\nHost: smtp.roamgate:1\r\nProxy-Authorization: Bearer tok-en_123\r\n\r\n');
    const [requestLine, , auth] = text.split('\r\n');
    expect(parseTunnelTarget(requestLine.split(' ')[1])).toBe('smtp');
    expect(parseBearer(auth.slice('Proxy-Authorization: '.length))).toBe('tok-en_123');
  });
});
