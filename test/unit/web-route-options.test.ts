import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_WEB_TIMEOUT_MS } from '../../plugin/defaults';
import { normalizeWebRouteOptions } from '../../plugin/web/web-route-options';

describe('normalizeWebRouteOptions', () => {
  test('defaults: changeOrigin on, the default silence limit, no path; frozen', () => {
    const options = normalizeWebRouteOptions('wiki');
    expect(options).toEqual({ changeOrigin: true, timeoutMs: DEFAULT_WEB_TIMEOUT_MS, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS });
    expect(Object.isFrozen(options)).toBe(true);
    expect(DEFAULT_WEB_TIMEOUT_MS).toBe(60_000);
  });

  test('given options are kept', () => {
    expect(
      normalizeWebRouteOptions('wiki', { path: '/intranet/wiki', changeOrigin: false, timeoutMs: 250, connectTimeoutMs: 100 }),
    ).toEqual({
      path: '/intranet/wiki',
      changeOrigin: false,
      timeoutMs: 250,
      connectTimeoutMs: 100,
    });
  });

  test.each([
    ['Wiki', {}, 'web: the service must be a service name (a-z, 0-9, -)'],
    ['', {}, 'web: the service must be a service name (a-z, 0-9, -)'],
    [7, {}, 'web: the service must be a service name (a-z, 0-9, -)'],
    ['wiki', null, "web('wiki'): options must be an object"],
    ['wiki', { port: 80 }, "web('wiki').port: not an option (path, changeOrigin, timeoutMs, connectTimeoutMs)"],
    ['wiki', { path: 'wiki' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { path: '/wiki/' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { path: '/' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { path: '/a//b' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { path: '/a/../b' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { path: '/wiki?x=1' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { path: '/wi ki' }, "web('wiki').path must be a path like /wiki (no trailing slash)"],
    ['wiki', { changeOrigin: 'yes' }, "web('wiki').changeOrigin must be true or false"],
    ['wiki', { timeoutMs: 0 }, "web('wiki').timeoutMs must be an integer 1-3600000"],
    ['wiki', { timeoutMs: 1.5 }, "web('wiki').timeoutMs must be an integer 1-3600000"],
    ['wiki', { timeoutMs: '100' }, "web('wiki').timeoutMs must be an integer 1-3600000"],
    ['wiki', { connectTimeoutMs: 0 }, "web('wiki').connectTimeoutMs must be an integer 1-600000"],
    ['wiki', { connectTimeoutMs: 600_001 }, "web('wiki').connectTimeoutMs must be an integer 1-600000"],
  ])('service %j, options %j: %s', (service, options, message) => {
    expect(() => normalizeWebRouteOptions(service, options)).toThrow(
      expect.objectContaining({ code: 'ROAMGATE_INVALID_OPTIONS', message }),
    );
  });
});
