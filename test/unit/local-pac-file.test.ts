import { runInNewContext } from 'node:vm';
import { pacFile } from '../../local/pac-file';

/** Runs a PAC file as a browser would, with the helper functions PAC files may call. */
function findProxy(pac: string, url: string, host: string): string {
  const sandbox = {
    isPlainHostName: (name: string) => !name.includes('.'),
    shExpMatch: (text: string, pattern: string) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ).test(text),
    result: '',
  };
  runInNewContext(`${pac}\nresult = FindProxyForURL(${JSON.stringify(url)}, ${JSON.stringify(host)});`, sandbox);
  return sandbox.result;
}

describe('pacFile', () => {
  test('is the one function a browser needs', () => {
    expect(pacFile('127.0.0.1', 3128)).toBe(
      [
        '// roamgate local proxy: everything through the local web proxy, which follows you between networks.',
        'function FindProxyForURL(url, host) {',
        '  if (isPlainHostName(host) || host === "localhost" || shExpMatch(host, "127.*") || host === "[::1]" || host === "::1") return "DIRECT";',
        '  return "PROXY 127.0.0.1:3128";',
        '}',
        '',
      ].join('\n'),
    );
  });

  test.each<[string, string, string]>([
    ['http://www.example.org/', 'www.example.org', 'PROXY 127.0.0.1:3128'],
    ['https://intranet.example.test/path', 'intranet.example.test', 'PROXY 127.0.0.1:3128'],
    ['http://10.1.2.3/', '10.1.2.3', 'PROXY 127.0.0.1:3128'],
    ['http://localhost:8080/', 'localhost', 'DIRECT'],
    ['http://127.0.0.1:3000/', '127.0.0.1', 'DIRECT'],
    ['http://[::1]/', '::1', 'DIRECT'],
    ['http://printer/', 'printer', 'DIRECT'],
  ])('sends %s where it belongs', (url, host, expected) => {
    expect(findProxy(pacFile('127.0.0.1', 3128), url, host)).toBe(expected);
  });

  test('an IPv6 loopback proxy is written with brackets', () => {
    expect(findProxy(pacFile('::1', 8080), 'http://example.org/', 'example.org')).toBe('PROXY [::1]:8080');
  });
});
