import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebProxyHandler } from './web-proxy';
import { endUpgrade } from './web-replies';

/**
 * The WebSocket side of `gw.web` routes: an HTTP server's `upgrade` events
 * whose path is under a route's declared `path` go to that route (the
 * longest path first), where the guard decides as for any request. An
 * upgrade no route takes is left to the host's own listeners, or answered
 * 404 when there are none (a socket nobody answers would hang).
 */
export class WebUpgrades {
  private readonly routes: WebProxyHandler[] = [];

  add(route: WebProxyHandler): void {
    if (route.path === undefined) return;
    this.routes.push(route);
    this.routes.sort((a, b) => b.path!.length - a.path!.length);
  }

  attach(server: Server): void {
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const route = this.routeOf(req.url ?? '/');
      if (route) return route.upgrade(req, socket, head);
      if (server.listenerCount('upgrade') === 1) {
        socket.on('error', () => socket.destroy());
        endUpgrade(socket, 404, 'no WebSocket route here');
      }
    };
    server.on('upgrade', listener);
  }

  private routeOf(url: string): WebProxyHandler | undefined {
    return this.routes.find(({ path }) => url === path || url.startsWith(`${path}/`) || url.startsWith(`${path}?`));
  }
}
