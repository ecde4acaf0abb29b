import type { Endpoint } from './gateway-client';
import { fingerprint } from './key-pinning';
import type { LocalService } from './options';

/** Where a service's connections go now. In gateway mode only the gateway is named, never a server. */
export type RouteTarget =
  | { kind: 'gateway'; url: string }
  | { kind: 'servers'; servers: readonly Endpoint[] }
  | { kind: 'none'; reason: string };

/** What a local proxy reports, as data; {@link describeEvent} gives the line a person reads. */
export type LocalProxyEvent =
  /** One per service at start and whenever where it goes changes. */
  | { type: 'route'; service: LocalService; address: string; mode: 'direct' | 'gateway'; target: RouteTarget }
  /** The browsers' setting. */
  | { type: 'pac'; url: string; proxy: string }
  /** The gateway in use, and how it was found. */
  | { type: 'gateway'; url: string; found: 'configured' | 'discovery'; network?: string; trust?: 'configured' | 'pinned' | 'new'; publicKey?: string; via?: 'udp' | 'mdns' }
  | { type: 'login'; user: string; gateway: string; expiresAt: string; reused: boolean }
  /** The lease ended at the gateway. Revoked: clients are refused until the user logs in again. */
  | { type: 'lease-ended'; user: string; state: 'revoked' | 'expired' }
  | { type: 'gateway-lost'; gateway: string; reason: string }
  /** A discovery answer not used; `keyChanged` is the loud case (a known network with another key). */
  | { type: 'discovery-rejected'; network: string; from: string; reason: string; keyChanged: boolean }
  /** Something failed while running; `message` says what to do. */
  | { type: 'error'; message: string }
  | { type: 'stopped' };

export type EventLevel = 'info' | 'warn' | 'error';

/** An event with its level and its line (or lines). */
export type LocalProxyNotice = LocalProxyEvent & { level: EventLevel; text: string };

/** How loud an event is. */
export function levelOf(event: LocalProxyEvent): EventLevel {
  switch (event.type) {
    case 'lease-ended':
      return event.state === 'revoked' ? 'error' : 'warn';
    case 'gateway-lost':
      return 'warn';
    case 'discovery-rejected':
      return event.keyChanged ? 'error' : 'warn';
    case 'error':
      return 'error';
    case 'route':
      return event.target.kind === 'none' ? 'warn' : 'info';
    default:
      return 'info';
  }
}

/** Where a route goes, in words. */
export function describeTarget(service: LocalService, target: RouteTarget): string {
  switch (target.kind) {
    case 'gateway':
      return `through the gateway ${target.url}`;
    case 'servers': {
      const [first, ...rest] = target.servers.map((server) => `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`);
      return rest.length ? `${first} (then ${rest.join(', ')})` : first;
    }
    case 'none':
      return `nowhere: ${target.reason} (${service} clients are told so)`;
  }
}

/** The line (or lines) a person reads for an event. */
export function describeEvent(event: LocalProxyEvent): string {
  switch (event.type) {
    case 'route':
      return `${event.service.padEnd(10)} ${event.address.padEnd(15)} ${event.mode.padEnd(7)} -> ${describeTarget(event.service, event.target)}`;
    case 'pac':
      return `browsers: set the automatic proxy configuration URL to ${event.url} (or the HTTP and HTTPS proxy to ${event.proxy})`;
    case 'gateway': {
      if (event.found === 'configured') return `gateway ${event.url}`;
      const key = event.publicKey ? ` ${fingerprint(event.publicKey)}` : '';
      const trust = event.trust === 'new' ? `, key${key} pinned on first use` : event.trust === 'configured' ? `, key${key} as configured` : `, key${key} as pinned`;
      return `gateway ${event.url}, found on network "${event.network}"${event.via === 'mdns' ? ' by mDNS' : ''}${trust}`;
    }
    case 'login':
      return `${event.reused ? 'using the saved lease of' : 'logged in as'} ${event.user} at ${event.gateway} (lease valid until ${event.expiresAt})`;
    case 'lease-ended':
      return event.state === 'revoked'
        ? `the gateway revoked the lease of ${event.user}: mail, news and web clients are refused from now on. To log in again, restart roamgate local`
        : `the lease of ${event.user} expired; logging in again`;
    case 'gateway-lost':
      return `lost the gateway ${event.gateway} (${event.reason}); looking for it again`;
    case 'discovery-rejected':
      return event.keyChanged
        ? [
            `REJECTED a gateway answer for network "${event.network}" from ${event.from}: ${event.reason}.`,
            '  Someone on this network may be impersonating its gateway, so it is not used.',
            `  If the network's administrator really changed the gateway's key, forget the old one and start again:`,
            `    roamgate local --forget-network ${shellQuote(event.network)}`,
          ].join('\n')
        : `ignored a gateway answer for network "${event.network}" from ${event.from}: ${event.reason}`;
    case 'error':
      return event.message;
    case 'stopped':
      return 'stopped';
  }
}

/** The event with its level and text. */
export function notice(event: LocalProxyEvent): LocalProxyNotice {
  return { ...event, level: levelOf(event), text: describeEvent(event) };
}

/** `word` as one POSIX shell word: unchanged when it is plain, else single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
