import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  createProxyMiddleware,
  fixRequestBody,
  proxyEventsPlugin,
  type Plugin,
  type RequestHandler as ProxyMiddleware,
} from 'http-proxy-middleware';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import type { LiveRelay } from '../../adapters/live-relays';
import type { Identity } from '../../identity';
import { httpStatusFor } from '../../protocols/http/status';
import type { ServerInfo } from '../../server-info';
import { LEASE_COOKIE, SESSION_COOKIE } from '../login-sessions';
import type { Logger } from '../options';
import type { WebGuard, WebVerdict } from './web-guard';
import { WebExchange } from './web-exchange';
import { endUpgrade, sendWebFailure } from './web-replies';
import type { NormalizedWebRouteOptions } from './web-route-options';
import { setUpstreamHeaders, type UpstreamRoute } from './web-upstream-headers';

/** What a web route needs of the gateway. */
export interface WebProxyDeps {
  guard: Pick<WebGuard, 'decide' | 'refuse'>;
  /** Candidate servers for (service, identity), in the order to try them. */
  resolve(service: string, identity: Identity): Promise<readonly ServerInfo[]>;
  reportHealth(service: string, server: ServerInfo, failure: string | null): void;
  record(entry: ConnectionRecord): void;
  /** Signs an X-Roamgate-Assertion for the upstream when set. */
  assertionSecret?: string;
  logger: Logger;
  /** Registers an open WebSocket, so that a revoked lease or a changed rule cuts it; returns its removal. */
  track?(relay: LiveRelay): () => void;
}

/** `gw.web(service)`: Express middleware, plus the upgrade handler for WebSockets and where the host mounts it. */
export type WebProxyHandler = RequestHandler & {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  readonly path?: string;
};

/** roamgate's own cookies: never sent to an upstream. */
const OWN_COOKIES: ReadonlySet<string> = new Set([LEASE_COOKIE, SESSION_COOKIE]);

/** The exchange of a request, kept on the request under a name no host or library uses. */
const EXCHANGE = Symbol('roamgate.web-exchange');
type Exchanged = IncomingMessage & { [EXCHANGE]?: WebExchange };
const exchangeOf = (req: IncomingMessage): WebExchange | undefined => (req as Exchanged)[EXCHANGE];

type ProxyServer = Parameters<Plugin>[0];

/** Whether the error handler was given a response (a request) or a socket (an upgrade). */
function isResponse(value: ServerResponse | Socket): value is ServerResponse {
  return typeof (value as ServerResponse).writeHead === 'function';
}

/**
 * A reverse proxy to a service's servers, guarded by roamgate: the guard's decision for every request and upgrade,
 * the servers the gateway resolves for the identity (failing over while that is safe, see WebExchange), the
 * identity told to the upstream in headers (roamgate's own credentials kept back), one record per request.
 * The http-proxy-middleware instance is built once per route; per request there is only the exchange.
 */
class WebProxy {
  private readonly proxy: ProxyMiddleware;
  private server: ProxyServer | undefined;
  /** What every upstream request of the route is told. */
  private readonly upstreamRoute: UpstreamRoute;
  /** Options for sending a request again: the X-Forwarded-* headers are on it from the first time. */
  private readonly resendOptions: { changeOrigin: boolean; xfwd: false };

  constructor(
    private readonly service: string,
    private readonly options: NormalizedWebRouteOptions,
    private readonly deps: WebProxyDeps,
  ) {
    this.resendOptions = { changeOrigin: options.changeOrigin, xfwd: false };
    this.upstreamRoute = {
      service,
      ownCookies: OWN_COOKIES,
      ...(deps.assertionSecret === undefined ? {} : { assertionSecret: deps.assertionSecret }),
    };
    this.proxy = createProxyMiddleware({
      router: (req) => exchangeOf(req)?.target,
      changeOrigin: options.changeOrigin,
      xfwd: true,
      // Of the default plugins only the one that subscribes `on`: the others log every response (building a URL for
      // each) and answer errors their own way; what they guard against is handled here.
      ejectPlugins: true,
      plugins: [proxyEventsPlugin, (server) => void (this.server = server)],
      on: {
        proxyReq: (proxyReq, req) => this.proxyRequest(proxyReq, req),
        proxyReqWs: (proxyReq, req) => this.proxyUpgrade(proxyReq, req),
        proxyRes: (_proxyRes, req) => exchangeOf(req)?.answer(),
        error: (error, req, res, target) => this.failed(error, req, res, target),
      },
    });
  }

  readonly handle = (req: Request, res: Response, next: NextFunction): void => {
    const verdict = this.deps.guard.decide(req, this.service);
    const exchange = new WebExchange(this.deps, this.service, req, verdict.allow ? verdict.grant : verdict);
    res.on('close', () => exchange.finish(res.headersSent ? res.statusCode : undefined, !res.writableFinished));
    if (!verdict.allow) {
      exchange.refused(verdict);
      return this.deps.guard.refuse(req, res, verdict);
    }
    req.roamgate = verdict.grant;
    (req as Exchanged)[EXCHANGE] = exchange;
    this.deps.resolve(this.service, verdict.grant.identity).then(
      (candidates) => {
        if (res.destroyed) return;
        if (!exchange.begin(candidates)) return this.answerFailure(req, res, exchange);
        void this.proxy(req, res, next);
      },
      (error: unknown) => {
        exchange.fail(error);
        this.answerFailure(req, res, exchange);
      },
    );
  };

  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // A client that resets mid-handshake must not become an uncaught 'error'.
    socket.on('error', () => socket.destroy());
    let verdict: WebVerdict;
    try {
      verdict = this.deps.guard.decide(req, this.service);
    } catch (error) {
      this.deps.logger.error({ event: 'web-upgrade-failed', service: this.service, err: error }, 'could not decide on an upgrade');
      return endUpgrade(socket, 500, 'internal error');
    }
    const exchange = new WebExchange(this.deps, this.service, req, verdict.allow ? verdict.grant : verdict);
    socket.on('close', () => exchange.finish(exchange.status, false));
    if (!verdict.allow) {
      exchange.refused(verdict);
      return endUpgrade(socket, verdict.status, verdict.reason);
    }
    (req as Exchanged)[EXCHANGE] = exchange;
    this.deps.resolve(this.service, verdict.grant.identity).then(
      (candidates) => {
        if (socket.destroyed) return;
        if (!exchange.begin(candidates)) return this.refuseUpgrade(socket, exchange);
        // Only now, when every `upgrade` listener of the host has seen the URL as the client sent it.
        req.url = this.pathBelowMount(req.url ?? '/');
        this.proxy.upgrade(req, socket as Socket, head);
      },
      (error: unknown) => {
        exchange.fail(error);
        this.refuseUpgrade(socket, exchange);
      },
    );
  };

  /** The request's URL as the route sees it: below the mount path, as Express gives a mounted route its requests. */
  private pathBelowMount(url: string): string {
    const mount = this.options.path;
    if (mount === undefined || !url.startsWith(mount)) return url;
    const rest = url.slice(mount.length);
    if (rest === '') return '/';
    if (rest[0] === '/') return rest;
    return rest[0] === '?' ? `/${rest}` : url;
  }

  /** An upstream request is about to be sent: its connect watched, its headers set, a parsed body written back. */
  private proxyRequest(proxyReq: ClientRequest, req: IncomingMessage & { body?: unknown }): void {
    const exchange = exchangeOf(req);
    if (!exchange) return void proxyReq.destroy();
    exchange.attach(proxyReq, this.options.connectTimeoutMs, this.options.timeoutMs);
    this.setHeaders(proxyReq, exchange);
    // The host's body parser read the body already: write it out again (this sends the headers, so it comes last).
    if (req.body !== undefined) fixRequestBody(proxyReq, req);
  }

  private proxyUpgrade(proxyReq: ClientRequest, req: IncomingMessage): void {
    const exchange = exchangeOf(req);
    if (!exchange) return void proxyReq.destroy();
    exchange.attach(proxyReq, this.options.connectTimeoutMs, undefined);
    this.setHeaders(proxyReq, exchange);
    proxyReq.once('response', (answer: IncomingMessage) => exchange.answer(answer.statusCode));
    proxyReq.once('upgrade', () => {
      exchange.answer(101);
      if (this.deps.track) exchange.tracked(this.deps.track);
    });
  }

  private setHeaders(proxyReq: ClientRequest, exchange: WebExchange): void {
    const { identity, via } = exchange.grant;
    // A bearer token that identified the request is a roamgate lease token: kept back. Any other is the upstream's own.
    setUpstreamHeaders(proxyReq, this.upstreamRoute, identity.kind === 'user' ? identity.user : undefined, via === 'bearer');
  }

  /** http-proxy's error event (always handled: without a listener it would throw and end the process). */
  private failed(error: NodeJS.ErrnoException, req: IncomingMessage, res: ServerResponse | Socket, target: unknown): void {
    const exchange = exchangeOf(req);
    if (!exchange) {
      this.deps.logger.error({ event: 'web-proxy-error', service: this.service, err: error }, 'proxy error outside a request');
      if (isResponse(res) && !res.headersSent) return sendWebFailure(req, res, 502, `${this.service} service unavailable`);
      return void res.destroy();
    }
    // An upgrade is never sent again (http-proxy ends the client's socket after its error), and its errors name no target.
    if (!isResponse(res)) {
      exchange.serverFailed(error, false);
      return this.refuseUpgrade(res, exchange);
    }
    // An earlier attempt's request, failing after the next was sent: that failure was handled already.
    if (target !== exchange.target) return;
    if (res.destroyed || req.socket.destroyed) return exchange.abandon();
    if (exchange.serverFailed(error, !res.headersSent)) return this.resend(req, res, exchange);
    if (res.headersSent) return void res.destroy();
    this.answerFailure(req, res, exchange);
  }

  /** Sends the request to the exchange's next server: nothing of it reached the client, and it has no body. */
  private resend(req: IncomingMessage, res: ServerResponse, exchange: WebExchange): void {
    req.unpipe();
    this.server!.web(req, res, { ...this.resendOptions, target: exchange.target });
  }

  private answerFailure(req: IncomingMessage, res: ServerResponse, exchange: WebExchange): void {
    const failure = exchange.failure;
    if (!res.headersSent && !res.destroyed) sendWebFailure(req, res, httpStatusFor(failure), failure.message);
  }

  /** An upgrade that found no server: answered while the client has heard nothing, else just closed. */
  private refuseUpgrade(socket: Duplex, exchange: WebExchange): void {
    const failure = exchange.failure;
    if (exchange.status !== undefined) return void socket.destroy();
    exchange.status = httpStatusFor(failure);
    endUpgrade(socket, exchange.status, failure.message);
  }
}

/**
 * Builds `gw.web(service, options)`: the Express middleware and its `upgrade`. `options` were normalized at the
 * door (normalizeWebRouteOptions).
 * @example
 * const wiki = createWebProxy('wiki', normalizeWebRouteOptions('wiki', { path: '/wiki' }), deps);
 * app.use('/wiki', wiki);
 * server.on('upgrade', (req, socket, head) => req.url?.startsWith('/wiki') && wiki.upgrade(req, socket, head));
 */
export function createWebProxy(service: string, options: NormalizedWebRouteOptions, deps: WebProxyDeps): WebProxyHandler {
  const proxy = new WebProxy(service, options, deps);
  const handler = ((req: Request, res: Response, next: NextFunction) => proxy.handle(req, res, next)) as WebProxyHandler;
  Object.defineProperty(handler, 'upgrade', { value: proxy.upgrade, enumerable: true });
  if (options.path !== undefined) Object.defineProperty(handler, 'path', { value: options.path, enumerable: true });
  return handler;
}
