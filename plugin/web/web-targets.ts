import { readFileSync } from 'node:fs';
import type { ServerInfo } from '../../server-info';
import { formatAddress } from '../../net/address';

/** A server as http-proxy's `target`: the parts of a parsed URL it reads, so nothing is parsed per request. */
export interface WebTarget {
  protocol: 'http:' | 'https:';
  /** `host:port` (IPv6 bracketed), as a parsed URL has it. */
  host: string;
  hostname: string;
  port: number;
  /** PEM CA certificates to verify an HTTPS server against (the server's `tls.ca` file). */
  ca?: string;
}

/** CA files by path, read once: a request never waits for the disk. */
const caFiles = new Map<string, string>();

function caOf(path: string): string {
  let pem = caFiles.get(path);
  if (pem === undefined) {
    pem = readFileSync(path, 'utf8');
    caFiles.set(path, pem);
  }
  return pem;
}

/**
 * Where a request to `server` goes: plain HTTP, or HTTPS for a server with `tls: { mode: 'implicit' }` (its
 * certificate verified against `tls.ca` when given, else Node's CAs, for `host`). A fresh object per attempt: the
 * proxy's error handler tells attempts apart by it.
 */
export function webTarget(server: ServerInfo): WebTarget {
  const tls = server.tls?.mode === 'implicit';
  return {
    protocol: tls ? 'https:' : 'http:',
    host: formatAddress(server.host, server.port),
    hostname: server.host,
    port: server.port,
    ...(tls && server.tls?.ca ? { ca: caOf(server.tls.ca) } : {}),
  };
}

/** Whether gw.web can reach a server: not through another gateway's tunnel (a visitor's home serves mail and news, not web routes). */
export function reachableByWeb(server: ServerInfo): boolean {
  return server.tunnel === undefined && server.tls?.mode !== 'starttls';
}
