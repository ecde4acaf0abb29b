import { EventEmitter } from 'node:events';
import { fingerprint } from './key-pinning';
import type { LocalService } from './options';
import { describeTarget, type RouteTarget } from './route-target';
import { shellQuote } from './shell-quote';

/** What a local proxy reports, as data; {@link describeEvent} gives the line a person reads. */
export type LocalProxyEvent =
  /** One per service at start and whenever where it goes changes. */
  | { type: 'route'; service: LocalService; address: string; mode: 'direct' | 'gateway'; target: RouteTarget }
  /** The browsers' setting. */
  | { type: 'pac'; url: string; proxy: string }
  /** The gateway in use, and how it was found. */
  | {
      type: 'gateway';
      url: string;
      found: 'configured' | 'discovery';
      network?: string;
      trust?: 'configured' | 'pinned' | 'new';
      publicKey?: string;
      via?: 'udp' | 'mdns';
    }
  | { type: 'login'; user: string; gateway: string; expiresAt: string; reused: boolean }
  /** The lease ended at the gateway (revoked: its connections were cut); either way roamgate local logs in again. */
  | { type: 'lease-ended'; user: string; state: 'revoked' | 'expired' }
  /** The gateway stopped answering; `configured`: it was given (`--gateway`), so it is tried again rather than looked for. */
  | { type: 'gateway-lost'; gateway: string; reason: string; configured?: boolean }
  /** A gateway answers again after one was lost: the same one, or another (`lost` names the one lost). */
  | { type: 'gateway-back'; gateway: string; lost: string; afterMs: number }
  /** This machine's own network changed (an address, the default route), and what the local proxy does about it. */
  | { type: 'network-changed'; change: string; action: string }
  /** A discovery answer not used; `keyChanged` is the loud case (a known network with another key). */
  | { type: 'discovery-rejected'; network: string; from: string; reason: string; keyChanged: boolean }
  /** Something failed while running; `message` says what to do. */
  | { type: 'error'; message: string }
  | { type: 'stopped' };

export type EventLevel = 'info' | 'warn' | 'error';

/** An event with its level and its line (or lines). */
export type LocalProxyNotice = LocalProxyEvent & { level: EventLevel; text: string };

/** How the parts of a local proxy tell what happened. */
export type ReportEvent = (event: LocalProxyEvent) => void;

/** How loud an event is. */
export function levelOf(event: LocalProxyEvent): EventLevel {
  switch (event.type) {
    case 'lease-ended':
      return 'warn';
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
      const trust =
        event.trust === 'new'
          ? `, key${key} pinned on first use`
          : event.trust === 'configured'
            ? `, key${key} as configured`
            : `, key${key} as pinned`;
      return `gateway ${event.url}, found on network "${event.network}"${event.via === 'mdns' ? ' by mDNS' : ''}${trust}`;
    }
    case 'login':
      return `${event.reused ? 'using the saved lease of' : 'logged in as'} ${event.user} at ${event.gateway} (lease valid until ${event.expiresAt})`;
    case 'lease-ended':
      return event.state === 'revoked'
        ? `the gateway revoked the lease of ${event.user} and cut its connections; logging in again`
        : `the lease of ${event.user} expired; logging in again`;
    case 'gateway-lost':
      return event.configured
        ? `lost the gateway ${event.gateway} (${event.reason}); clients get a temporary error until it answers again, and it is tried again until then`
        : `lost the gateway ${event.gateway} (${event.reason}); looking for it again`;
    case 'gateway-back': {
      const after = `${(event.afterMs / 1000).toFixed(1)} s`;
      return event.gateway === event.lost
        ? `the gateway ${event.gateway} answers again, ${after} after it was lost`
        : `now using the gateway ${event.gateway}, ${after} after losing ${event.lost}`;
    }
    case 'network-changed':
      return `this machine's network changed (${event.change}): ${event.action}`;
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

/** Where a local proxy's notices go: to the `onEvent` option from the start, and to `event` listeners once they are added. */
export class NoticeBoard {
  private readonly listeners = new EventEmitter();

  constructor(private readonly onEvent?: (notice: LocalProxyNotice) => void) {}

  readonly report: ReportEvent = (event) => {
    const line = notice(event);
    this.onEvent?.(line);
    this.listeners.emit('event', line);
  };

  on(listener: (notice: LocalProxyNotice) => void): void {
    this.listeners.on('event', listener);
  }

  off(listener: (notice: LocalProxyNotice) => void): void {
    this.listeners.off('event', listener);
  }
}
