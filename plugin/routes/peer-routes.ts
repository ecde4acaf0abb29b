import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { systemClock, type Clock } from '../../clock';
import { isRoamgateError } from '../../errors';
import { parseMessage, PEER_PATHS, refreshRequestSchema, verifyRequestSchema, type VerifyAnswer } from '../../protocols/peer-messages';
import { signResponse, verifyRequest } from '../../protocols/peer-signature';
import type { HomeService, Identity } from '../../identity';
import type { AuditLog } from '../audit-log';
import { MAX_PEER_REQUEST_BODY } from '../defaults';
import type { Directory, User } from '../directory';
import { normalizeAddress, type LeaseManager } from '../lease-manager';
import type { LoginGuard } from '../login-guard';
import { outcomeOfStatus, type PeerRequestOutcome } from '../peer-client';
import { splitRealm } from '../roaming-directory';
import { TOO_MANY_PEER_REQUESTS, type ReplayGuard } from '../replay-guard';

/** What a peer whose nonce share is full is told to wait before asking again (seconds). */
export const PEER_RETRY_AFTER_SECONDS = 5;

/** The answer to a request that is not a correctly signed, current request of a configured peer. */
export const UNVERIFIED_PEER_REQUEST =
  'peer request refused: not a correctly signed, current request of a configured peer (the audit trail of the gateway that answered says why)';

/** A peer as the home side sees it. */
export interface AnsweredPeer {
  secret: string;
  revealAddresses: boolean;
  /** Vouch for users of other realms too (this gateway is a link in the peer's chain). */
  chain: boolean;
}

export interface PeerRoutesDeps {
  /** This gateway's realm: the users it vouches for to peers that are not chained. */
  realm: string | undefined;
  peers: ReadonlyMap<string, AnsweredPeer>;
  replay: ReplayGuard;
  /** This gateway's directory (which may itself ask a further home). */
  directory: Directory;
  leases: LeaseManager;
  guard: LoginGuard;
  audit: AuditLog;
  /** The services this gateway would serve the identity, with the real servers when `reveal`. */
  offeredServices(identity: Identity, reveal: boolean): Promise<HomeService[]>;
  /** What time it is, for checking and signing timestamps and for the replay window; default the system clock. */
  clock?: Clock;
  /** Told when a peer request arrived with its body already parsed by the host (to log the fix). */
  onParsedBody?(): void;
  /** Told how each request ended, by the calling peer's realm (`unknown` before it is known to be a peer), for the metrics. */
  counted?(realm: string, outcome: PeerRequestOutcome): void;
}

interface PeerCall {
  name: string;
  peer: AnsweredPeer;
  nonce: string;
  /** The bytes the signature covers. */
  body: Buffer;
}

type Answering = PeerRoutesDeps & { clock: Clock };

/** Answers one authenticated peer request; a throw goes to the error handler. */
type PeerHandler = (deps: Answering, call: PeerCall, req: Request, res: Response) => Promise<void>;

/**
 * The home side of roaming: `POST <mount>` + `PEER_PATHS.verify`,
 * `.refresh` and `.release`, answered only to configured peers whose request
 * is signed, fresh and not seen before; every answer is signed back.
 * A verified user gets a lease bound to the peer's address, whose token
 * opens this gateway's tunnel endpoint for the visited gateway: the user's
 * servers stay hidden unless the peer is configured to see them.
 */
/** What a peer request that reached us already parsed is answered, and what the log says: the fix. */
export const PARSED_BODY_FIX =
  'peer requests need their raw body: mount the roamgate router before any body parser (express.json()) in the host application, ' +
  'or keep the bytes in req.rawBody (express.json({ verify: (req, _res, buf) => { req.rawBody = buf } }))';

export function peerRoutes(deps: PeerRoutesDeps): Router {
  const router = Router();
  const answering: Answering = { ...deps, clock: deps.clock ?? systemClock };
  // The signature covers the exact bytes, so the body is read raw here (before any JSON parser).
  const raw = express.raw({ type: () => true, limit: MAX_PEER_REQUEST_BODY });
  const answer =
    (handle: PeerHandler): RequestHandler =>
    async (req, res, next) => {
      // Never the name a request claims: only a configured peer gets a series of its own.
      let realm = 'unknown';
      res.once('finish', () => deps.counted?.(realm, outcomeOfStatus(res.statusCode)));
      // A store failure while checking the nonce goes to the error handler (nothing is answered as the peer).
      const call = await authenticate(answering, req, res).catch(next);
      if (!call) return;
      realm = call.name;
      try {
        await handle(answering, call, req, res);
      } catch (error) {
        next(error);
      }
    };
  router.post(PEER_PATHS.verify, raw, answer(answerVerify));
  router.post(PEER_PATHS.release, raw, answer(answerRelease));
  router.post(PEER_PATHS.refresh, raw, answer(answerRefresh));
  return router;
}

function send(deps: Answering, res: Response, call: PeerCall | null, status: number, payload: object): void {
  const body = JSON.stringify(payload);
  if (call) res.set(signResponse(call.peer.secret, { peer: call.name, status, requestNonce: call.nonce, body }, deps.clock.now()));
  res.status(status).set('Cache-Control', 'no-store').type('application/json').send(body);
}

/** The calling peer, when the request is signed by a configured peer, fresh and not seen before; else answered here and null. */
async function authenticate(deps: Answering, req: Request, res: Response): Promise<PeerCall | null> {
  // A host parser that kept the bytes (express.json({ verify: (req, _res, buf) => { req.rawBody = buf } })) is as good as none.
  const kept = (req as { rawBody?: unknown }).rawBody;
  if (req.body !== undefined && !Buffer.isBuffer(req.body) && !Buffer.isBuffer(kept)) {
    // Someone parsed the body before us, and the bytes the signature covers are gone.
    deps.onParsedBody?.();
    res.status(500).json({ error: PARSED_BODY_FIX });
    return null;
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.isBuffer(kept) ? kept : Buffer.alloc(0);
  // Realms are names in DNS's sense: any case names the same peer.
  const secretOf = (name: string) => deps.peers.get(name.toLowerCase())?.secret;
  const verdict = verifyRequest(req.headers, { method: req.method, path: req.originalUrl, body }, secretOf, deps.clock.now());
  const address = normalizeAddress(req.ip);
  if (!verdict.ok) {
    // The asker is not (yet) known to be a peer: the same answer whatever was wrong, so nobody learns the peers' names; the audit trail has the reason.
    deps.audit.record('peer.refused', { address, detail: { path: req.path, reason: verdict.reason } });
    send(deps, res, null, 401, { error: UNVERIFIED_PEER_REQUEST });
    return null;
  }
  const name = verdict.peer.toLowerCase();
  const call = { name, peer: deps.peers.get(name)!, nonce: verdict.nonce, body };
  const replayed = await deps.replay.admit(name, verdict.nonce, verdict.timestamp, deps.clock.now());
  if (replayed) {
    deps.audit.record('peer.refused', { actor: name, address, detail: { path: req.path, reason: replayed } });
    // Not 401: that answers a login with "wrong password". A replay is a conflict; a full nonce share, a wait.
    if (replayed === TOO_MANY_PEER_REQUESTS) res.set('Retry-After', String(PEER_RETRY_AFTER_SECONDS));
    send(deps, res, call, replayed === TOO_MANY_PEER_REQUESTS ? 429 : 409, { error: `peer request refused: ${replayed}` });
    return null;
  }
  return call;
}

/** A visitor's login, checked here for the visited gateway: the user, a lease for the peer, the services offered. */
async function answerVerify(deps: Answering, call: PeerCall, req: Request, res: Response): Promise<void> {
  const address = normalizeAddress(req.ip);
  const request = parseMessage(verifyRequestSchema, call.body.toString('utf8'));
  if (!request) return send(deps, res, call, 400, { error: 'send { username, password }' });
  const { realm } = splitRealm(request.username);
  if (realm !== undefined && realm !== deps.realm?.toLowerCase() && !call.peer.chain) {
    return send(deps, res, call, 403, {
      error: `this gateway vouches only for users of ${deps.realm ?? 'its own directory'}, not of ${realm}`,
    });
  }
  // Counted per (user, peer) and slowed per user, not per address: the peer stands for many visitors, whose addresses it throttles itself.
  const admission = await deps.guard.attempt(request.username, { peer: call.name });
  if (!admission.admitted) {
    const wait = admission.waitSeconds;
    if (deps.guard.firstRefusal(request.username, address, wait))
      deps.audit.record('login.throttled', {
        actor: request.username,
        address,
        detail: { via: `peer ${call.name}`, retryAfterSeconds: wait },
      });
    return send(deps, res, call, 403, { error: `too many failed logins at home; try again in ${wait} s` });
  }
  const { ticket } = admission;
  let user: User | false;
  try {
    user = await deps.directory.verify(request.username, request.password);
  } catch (error) {
    // Not a wrong password: the attempt is given back.
    ticket.undo();
    if (!isRoamgateError(error)) throw error;
    if (error.code === 'ROAMGATE_LOGIN_FAILED') return send(deps, res, call, 403, { error: error.message });
    // A further home (in a chain) unreachable says so; a broken directory here stays here.
    if (error.code === 'ROAMGATE_UPSTREAM_REFUSED' || error.code === 'ROAMGATE_UPSTREAM_TIMEOUT')
      return send(deps, res, call, 502, { error: error.message });
    throw error;
  }
  if (!user) {
    ticket.failed();
    deps.audit.record('login.failure', { actor: request.username, address, detail: { via: `peer ${call.name}` } });
    return send(deps, res, call, 401, { error: 'wrong user name or password' });
  }
  ticket.succeeded();
  const services = await deps.offeredServices({ kind: 'user', address, user }, call.peer.revealAddresses);
  const { token, lease } = await deps.leases.issue(user, address, { peer: call.name });
  deps.audit.record('login.success', {
    actor: user.id,
    address,
    detail: { via: `peer ${call.name}`, lease: lease.id, services: services.map((entry) => entry.service) },
  });
  const answer: VerifyAnswer = {
    user: { id: user.id, attributes: { ...user.attributes } },
    lease: { token, expiresAt: lease.expiresAt },
    services,
  };
  send(deps, res, call, 200, answer);
}

/** The visited gateway no longer needs these leases: they end here. */
async function answerRelease(deps: Answering, call: PeerCall, _req: Request, res: Response): Promise<void> {
  const request = parseMessage(refreshRequestSchema, call.body.toString('utf8'));
  if (!request) return send(deps, res, call, 400, { error: 'send { tokens: [...] }' });
  let released = 0;
  for (const token of request.tokens) {
    const lease = deps.leases.findByToken(token);
    if (lease?.peer !== call.name || !(await deps.leases.revoke(lease.id))) continue;
    released++;
    deps.audit.record('lease.revoked', { actor: lease.userId, detail: { lease: lease.id, by: `peer ${call.name} released it` } });
  }
  send(deps, res, call, 200, { released });
}

/** Whether each of the peer's leases is still live (a user disabled or removed here loses them). */
async function answerRefresh(deps: Answering, call: PeerCall, _req: Request, res: Response): Promise<void> {
  const request = parseMessage(refreshRequestSchema, call.body.toString('utf8'));
  if (!request) return send(deps, res, call, 400, { error: 'send { tokens: [...] }' });
  const leases = [];
  for (const token of request.tokens) {
    const found = deps.leases.findByToken(token);
    // A peer asks only about the leases it was given.
    const lease = found?.peer === call.name ? found : undefined;
    // A user disabled or removed here loses the leases held for them elsewhere.
    if (lease && !lease.home && !(await deps.directory.get(lease.userId))) {
      if (await deps.leases.revoke(lease.id))
        deps.audit.record('lease.revoked', { actor: lease.userId, detail: { lease: lease.id, by: 'user disabled', peer: call.name } });
      leases.push({ active: false });
    } else leases.push(lease ? { active: true, expiresAt: lease.expiresAt } : { active: false });
  }
  send(deps, res, call, 200, { leases });
}
