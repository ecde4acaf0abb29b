import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RoamgateError } from '../errors';
import type { AllowRule } from '../protocols/http/allowlist';
import { parseBasicCredentials, PROXY_CHALLENGE } from '../protocols/http/proxy-authorization';
import { endToEndHeaders, findHeadEnd, parseStatusLine } from '../protocols/http/response-head';
import { formatHttpResponse, httpRefusal, httpStatusFor } from '../protocols/http/status';
import { hostHeader, parseAbsoluteTarget, parseAuthority, type Destination } from '../protocols/http/target';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import { formatAddress } from '../net/address';
import { connectWithTimeout } from '../net/connect-server';
import { ConnectionAttempt } from './connection-attempt';
import { checkDestination } from './destination-check';
import { bindListeners, type Adapter, type AdapterPort, type BoundPort } from './adapter';
import { withClientDefaults, type ClientLimits } from './client-limits';
import { HeadDeadlines } from './head-deadline';
import type { GatewayContext, RelayLimits } from './gateway-context';
import { TcpListener, untilSettled } from './tcp-listener';

/** The web proxy's service name, and the name under which upstream proxies are listed. */
export const HTTP_PROXY_SERVICE = 'http-proxy';
/** How long a client may take to send a whole request head (ms), however slowly its bytes come; then 408 and a close. */
export const HTTP_HEADERS_TIMEOUT_MS = 30_000;

/** The options section `adapters.http-proxy`, validated. */
export interface HttpProxyAdapterOptions extends RelayLimits, ClientLimits {
  host: string;
  port: number;
  /** How long a client may take to send a whole request head (ms); default HTTP_HEADERS_TIMEOUT_MS. */
  headersTimeoutMs?: number;
  /** Largest request head accepted, and largest upstream proxy reply head read (bytes). */
  maxHeaderBytes: number;
  /** The destinations the proxy may reach. */
  allow: readonly AllowRule[];
  /** `Proxy-Authorization: Basic` logins; over this cleartext port only when `allowCleartext`. */
  login?: { allowCleartext: boolean };
}

/**
 * A forward web proxy: CONNECT tunnels and absolute-URI HTTP requests, to
 * allowlisted destinations only, through the upstream proxy the server-info
 * table names for `http-proxy` or else straight to the destination. It owns
 * its port; the tunnel endpoint hands it tunnels too (`handle`).
 */
export class HttpProxyAdapter implements Adapter {
  readonly service = HTTP_PROXY_SERVICE;
  private readonly server: Server;
  private readonly listener: TcpListener;
  private readonly allow: readonly AllowRule[];
  private readonly allowCleartextLogin: boolean;
  private readonly headDeadlines: HeadDeadlines;

  constructor(
    private readonly options: HttpProxyAdapterOptions,
    private readonly context: GatewayContext,
  ) {
    this.allow = options.allow;
    this.allowCleartextLogin = options.login?.allowCleartext ?? false;
    this.headDeadlines = new HeadDeadlines(options.headersTimeoutMs ?? HTTP_HEADERS_TIMEOUT_MS);
    // The server never listens, so its own headersTimeout would never be armed: HeadDeadlines keeps that deadline.
    this.server = createServer({ maxHeaderSize: options.maxHeaderBytes, requestTimeout: 0 });
    this.server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.headDeadlines.headComplete(socket);
      void this.tunnel(req, socket, head);
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      res.once('close', this.headDeadlines.headComplete(req.socket));
      void this.forward(req, res);
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      socket.end(
        formatHttpResponse(
          tooLarge ? 431 : 400,
          tooLarge ? `request head larger than ${options.maxHeaderBytes} bytes` : 'malformed HTTP request',
        ),
      );
    });
    const limits = withClientDefaults(options);
    this.listener = new TcpListener({
      ...limits,
      host: options.host,
      port: options.port,
      handle: untilSettled((socket) => this.handle(socket)),
      excessReply: formatHttpResponse(503, `too many clients (limit ${limits.maxClients})`),
      addressExcessReply: formatHttpResponse(503, `too many connections from your address (limit ${limits.maxClientsPerAddress})`),
      shared: context.sharedPlaces?.(HTTP_PROXY_SERVICE, limits.maxClientsPerAddress),
    });
  }

  listen(): Promise<BoundPort[]> {
    return bindListeners(this.service, this.options.host, new Map([[this.service, { listener: this.listener, port: this.options.port }]]));
  }

  close(graceMs: number): Promise<void> {
    return this.listener.close(graceMs);
  }

  ports(): ReadonlyMap<string, AdapterPort> {
    return new Map([[this.service, { listener: this.listener, host: this.options.host, port: this.options.port }]]);
  }

  /** Identities fixed by whoever handed the connection over (the tunnel endpoint, by lease token). */
  private readonly assigned = new WeakMap<Socket, Identity>();

  /** Serves one accepted connection; resolves when it closes. `identity`, when given, replaces identification by address. */
  handle = (socket: Socket, identity?: Identity): Promise<void> => {
    if (identity) this.assigned.set(socket, identity);
    socket.setTimeout(this.options.idleTimeoutMs, () => socket.destroy());
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.headDeadlines.watch(socket);
    this.server.emit('connection', socket);
    return closed;
  };

  /**
   * Identify (a lease by address; else, when anonymous use is not allowed,
   * `Proxy-Authorization: Basic` checked against the directory) and admit. Basic credentials over this
   * cleartext port are refused unless the options allow them.
   */
  private async admit(socket: Socket, attempt: ConnectionAttempt, authorization: string | undefined): Promise<Identity> {
    let identity = this.assigned.get(socket) ?? this.context.identify(socket);
    // Credentials matter only to a client the lease and the rules do not already let through.
    const needsLogin = identity.kind === 'anonymous' && !this.context.authorize(identity, HTTP_PROXY_SERVICE).allow;
    const basic = needsLogin ? parseBasicCredentials(authorization) : null;
    if (basic) {
      if (!this.allowCleartextLogin)
        throw new RoamgateError('ROAMGATE_ACCESS_DENIED', 'logins over this cleartext proxy port are disabled');
      const result = await this.context.verifyLogin(basic.username, basic.password, identity.address, HTTP_PROXY_SERVICE);
      if (!result.ok) throw new RoamgateError(result.temporary ? 'ROAMGATE_UPSTREAM_REFUSED' : 'ROAMGATE_LOGIN_REQUIRED', result.reason);
      identity = result.identity;
    }
    attempt.admit(identity);
    return identity;
  }

  /** Connects to the destination, through an upstream proxy when the table names one. */
  private async open(
    identity: Identity,
    destination: Destination,
    attempt: ConnectionAttempt,
  ): Promise<{ socket: Socket; viaProxy: boolean; address: string }> {
    const proxies = await this.context.resolve(HTTP_PROXY_SERVICE, identity);
    const address = await checkDestination(destination, this.allow, this.context.ownPorts(), proxies.length === 0);
    const target = formatAddress(address, destination.port);
    if (proxies.length === 0) {
      const socket = await connectWithTimeout(address, destination.port, this.options.connectTimeoutMs);
      attempt.setServer(target, socket);
      return { socket, viaProxy: false, address };
    }
    attempt.record.server = target;
    const report = (tried: ServerInfo, failure: string | null) => this.context.reportHealth(HTTP_PROXY_SERVICE, tried, failure);
    const socket = await attempt.connectFirst('upstream web proxy', proxies, this.options, report);
    attempt.record.server = `${target} via ${attempt.record.server}`;
    return { socket, viaProxy: true, address };
  }

  private async tunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    const attempt = new ConnectionAttempt(this.context, HTTP_PROXY_SERVICE, client);
    try {
      const destination = parseAuthority(req.url ?? '');
      if (!destination) throw new RoamgateError('ROAMGATE_BAD_REQUEST', 'CONNECT needs host:port');
      const identity = await this.admit(client, attempt, req.headers['proxy-authorization']);
      const opened = await this.open(identity, destination, attempt);
      const upstream = opened.socket;
      // A client gone (or cut) meanwhile has nothing to tunnel to: no CONNECT is sent for it.
      if (opened.viaProxy && !client.destroyed) await this.connectThroughProxy(upstream, formatAddress(opened.address, destination.port));
      if (client.destroyed) throw new RoamgateError('ROAMGATE_BAD_REQUEST', 'client left before the tunnel opened');
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      await attempt.relay(client, upstream, this.options.idleTimeoutMs);
    } catch (error) {
      const failure = attempt.fail(error);
      if (client.writable) client.end(httpRefusal(failure));
      else client.destroy();
    } finally {
      attempt.finish();
    }
  }

  /** Asks an upstream proxy for a tunnel; resolves once it answers 2xx. Bytes after its reply head are kept for the relay. */
  private connectThroughProxy(upstream: Socket, authority: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const fail = (message: string, code: 'ROAMGATE_UPSTREAM_REFUSED' | 'ROAMGATE_UPSTREAM_TIMEOUT' = 'ROAMGATE_UPSTREAM_REFUSED') => {
        cleanup();
        reject(new RoamgateError(code, message));
      };
      const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = findHeadEnd(buffered);
        if (end === -1) {
          if (buffered.length > this.options.maxHeaderBytes) fail('upstream web proxy sent an oversized reply');
          return;
        }
        const status = parseStatusLine(buffered.subarray(0, buffered.indexOf('\n')).toString('latin1'));
        if (!status) return fail('upstream web proxy sent a malformed reply');
        if (status.status < 200 || status.status > 299)
          return fail(`upstream web proxy refused the tunnel: ${status.status} ${status.reason}`);
        cleanup();
        const rest = buffered.subarray(end);
        if (rest.length) upstream.unshift(rest);
        resolve();
      };
      const onEnd = () => fail('upstream web proxy closed the connection');
      const timer = setTimeout(
        () => fail('upstream web proxy did not answer in time', 'ROAMGATE_UPSTREAM_TIMEOUT'),
        this.options.connectTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        upstream.removeListener('data', onData);
        upstream.removeListener('end', onEnd);
        upstream.removeListener('error', onEnd);
        upstream.pause();
      };
      upstream.on('data', onData);
      upstream.once('end', onEnd);
      upstream.once('error', onEnd);
      upstream.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    });
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const attempt = new ConnectionAttempt(this.context, HTTP_PROXY_SERVICE, req.socket);
    try {
      const target = parseAbsoluteTarget(req.url ?? '');
      if (!target)
        throw new RoamgateError(
          'ROAMGATE_BAD_REQUEST',
          'this is a forward proxy: send absolute http:// URLs, or CONNECT host:port for anything else',
        );
      const identity = await this.admit(req.socket, attempt, req.headers['proxy-authorization']);
      const opened = await this.open(identity, target, attempt);
      const socket = opened.socket;
      socket.setTimeout(this.options.idleTimeoutMs, () =>
        socket.destroy(new RoamgateError('ROAMGATE_UPSTREAM_TIMEOUT', 'server went idle')),
      );
      const path = opened.viaProxy ? `http://${formatAddress(opened.address, target.port)}${target.path}` : target.path;
      const response = await sendRequest(req, socket, path, hostHeader(target));
      res.writeHead(response.statusCode ?? 502, response.statusMessage, endToEndHeaders(response.rawHeaders).flat());
      response.pipe(res);
      await new Promise<void>((resolve) => {
        res.once('close', resolve);
        response.once('error', () => res.destroy());
      });
      attempt.record.outcome = 'relayed';
      attempt.record.bytesFromClient = socket.bytesWritten;
      attempt.record.bytesFromServer = socket.bytesRead;
      socket.destroy();
    } catch (error) {
      const failure = attempt.fail(error);
      if (res.headersSent) return void res.destroy();
      const status = httpStatusFor(failure);
      res.writeHead(status, {
        'content-type': 'text/plain; charset=utf-8',
        connection: 'close',
        'x-roamgate-error': failure.code,
        ...(status === 407 ? { 'proxy-authenticate': PROXY_CHALLENGE } : {}),
      });
      res.end(`${failure.message}\n`);
    } finally {
      attempt.finish();
    }
  }
}

/** Sends the client's request to the server on `socket`; resolves with the server's response. */
function sendRequest(req: IncomingMessage, socket: Socket, path: string, host: string): Promise<IncomingMessage> {
  // The Host is the one the URI names (RFC 9112 3.2.2), never the client's own: the allowlist
  // checked the URI, and a Host of the client's choosing would reach another site on that server.
  const headers = endToEndHeaders(req.rawHeaders).filter(([name]) => name.toLowerCase() !== 'host');
  headers.unshift(['Host', host]);
  // A body without a length (chunked from the client) goes on chunked, whatever the method:
  // sent raw, a GET's or DELETE's body would read as a second request at the server.
  const chunked = req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined;
  if (chunked) headers.push(['Transfer-Encoding', 'chunked']);
  const outgoing = httpRequest({ method: req.method, path, headers: headers.flat(), setHost: false, createConnection: () => socket });
  return new Promise<IncomingMessage>((resolve, reject) => {
    outgoing.once('response', resolve);
    outgoing.once('error', (cause) => reject(asUpstreamError(cause)));
    req.pipe(outgoing);
  });
}

function asUpstreamError(cause: unknown): RoamgateError {
  if (cause instanceof RoamgateError) return cause;
  return new RoamgateError(
    'ROAMGATE_UPSTREAM_REFUSED',
    `server failed: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
    { cause },
  );
}
