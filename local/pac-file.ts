import { createServer, type Server } from 'node:http';

/** Paths the PAC file is served at: the usual name, and the one WPAD clients ask for. */
export const PAC_PATHS: readonly string[] = Object.freeze(['/proxy.pac', '/wpad.dat']);
/** The PAC file's media type (what browsers expect). */
export const PAC_CONTENT_TYPE = 'application/x-ns-proxy-autoconfig';

/**
 * A proxy auto-config file sending every request through the local web
 * proxy, except loopback and plain host names (which cannot mean anything
 * on the gateway's side).
 * @example pacFile('127.0.0.1', 3128)
 */
export function pacFile(host: string, port: number): string {
  const proxy = `PROXY ${host.includes(':') ? `[${host}]` : host}:${port}`;
  return [
    '// roamgate local proxy: everything through the local web proxy, which follows you between networks.',
    'function FindProxyForURL(url, host) {',
    '  if (isPlainHostName(host) || host === "localhost" || shExpMatch(host, "127.*") || host === "[::1]" || host === "::1") return "DIRECT";',
    `  return "${proxy}";`,
    '}',
    '',
  ].join('\n');
}

/** Serves the PAC file on loopback; anything else is 404. The content is read per request, so it follows port changes. */
export function pacServer(content: () => string): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && PAC_PATHS.includes(path)) {
      const body = content();
      res.writeHead(200, { 'Content-Type': PAC_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`the proxy auto-config file is at ${PAC_PATHS[0]}\n`);
  });
}
