import { type Request, type RequestHandler, type Response, Router } from 'express';
import { z } from 'zod';
import type { HealthMonitor } from '../../sources/health-monitor';
import { MAX_REGISTRATION_TTL_SECONDS, type RegistrySource } from '../../sources/registry-source';
import type { ServerInfoSource } from '../../sources/server-info-source';
import { serverAddressSchema, serviceNameSchema } from '../../sources/table-schema';
import { callerOf, requireAdmin } from '../request-auth';
import { parseBody } from '../api-errors';
import type { AuditLog } from '../audit-log';
import { normalizeAddress } from '../lease-manager';
import type { NormalizedOptions } from '../options';
import type { RegistrationThrottle } from '../registration-throttle';
import { secretMatches } from '../secret-compare';
import { ownEndpointReason } from '../server-address-rules';

export interface ServersRouteDeps {
  /** The options' `registration` section: the secret (none: registration disabled), the TTL a registration gets when it names none, the services a server may register itself for, the most registered entries at once. */
  registration: NormalizedOptions['registration'];
  table: ServerInfoSource;
  registry: RegistrySource;
  health: HealthMonitor;
  /** The ports the gateway listens on now: never a server's on one of its own addresses. */
  ownPorts: () => ReadonlySet<number>;
  /** Wrong registration secrets per address. */
  throttle: RegistrationThrottle;
  audit: AuditLog;
}

// Entries added at run time name an address and priority; per-user entries, TLS and
// server credentials belong in the options or the servers file.
const addSchema = z.strictObject({ service: serviceNameSchema, ...serverAddressSchema.shape });
const registerSchema = z.strictObject({
  secret: z.string(),
  ...addSchema.shape,
  ttlSeconds: z.int().min(1).max(MAX_REGISTRATION_TTL_SECONDS).optional(),
});
const deregisterSchema = z.strictObject({
  secret: z.string(),
  service: serviceNameSchema,
  host: z.string(),
  port: z.int().min(1).max(65535),
});

/**
 * The server-info table's routes:
 *   GET    /servers           (admin) every entry with its origin and health
 *   POST   /servers           (admin) add { service, host, port, priority }
 *   DELETE /servers/:id       (admin) remove an entry added through the API or registered
 *   POST   /servers/register  a server registers itself or renews (heartbeat) with the registration secret
 *   DELETE /servers/register  a server leaves the table
 * Hosts are checked by the table's address rules (the schema) and against
 * the gateway's own ports; wrong secrets are throttled per address and audited.
 */
export function serversRoutes(deps: ServersRouteDeps): Router {
  const router = Router();
  router.post('/servers/register', register(deps));
  router.delete('/servers/register', deregister(deps));
  router.get('/servers', requireAdmin, listServers(deps));
  router.post('/servers', requireAdmin, addServer(deps));
  router.delete('/servers/:id', requireAdmin, removeServer(deps));
  return router;
}

/** POST /servers/register: a server registers itself, or renews its entry (a heartbeat). */
function register(deps: ServersRouteDeps): RequestHandler {
  const { registration } = deps;
  return async (req, res) => {
    if (registration.secret === undefined)
      return void res.status(403).json({ error: 'registration disabled: no registration.secret configured' });
    const body = parseBody(registerSchema, req.body, res);
    if (!body || !(await secretAccepted(deps, req, res, body.secret))) return;
    if (!registration.services.includes(body.service)) {
      return void res.status(403).json({
        error: `servers may not register themselves for ${body.service} here (registration.services: ${registration.services.join(', ') || 'none'})`,
        field: 'service',
      });
    }
    if (refusedOwnEndpoint(deps, body, res)) return;
    const registered = deps.registry.list().filter((entry) => entry.origin === 'registered');
    const renewal = registered.some(
      (entry) => entry.service === body.service && entry.host.toLowerCase() === body.host.toLowerCase() && entry.port === body.port,
    );
    if (!renewal && registered.length >= registration.maxEntries) {
      return void res
        .status(429)
        .set('Retry-After', String(registration.defaultTtlSeconds))
        .json({
          error: `the table holds its most registrations (registration.maxEntries: ${registration.maxEntries}); try again when some have lapsed`,
        });
    }
    const ttlSeconds = body.ttlSeconds ?? registration.defaultTtlSeconds;
    const { entry, created } = deps.registry.register({
      service: body.service,
      host: body.host,
      port: body.port,
      priority: body.priority,
      ttlSeconds,
    });
    await deps.registry.flush();
    if (created) deps.audit.record('server.registered', { address: addressOf(req), detail: describeEntry(entry) });
    res
      .status(created ? 201 : 200)
      .json({ id: entry.id, service: entry.service, ttlSeconds, expiresAt: new Date(entry.expiresAt!).toISOString(), renewed: !created });
  };
}

/** DELETE /servers/register: a server leaves the table. */
function deregister(deps: ServersRouteDeps): RequestHandler {
  const { registration } = deps;
  return async (req, res) => {
    if (registration.secret === undefined)
      return void res.status(403).json({ error: 'registration disabled: no registration.secret configured' });
    const body = parseBody(deregisterSchema, req.body, res);
    if (!body || !(await secretAccepted(deps, req, res, body.secret))) return;
    const entry = deps.registry
      .list()
      .find(
        (e) =>
          e.origin === 'registered' &&
          e.service === body.service &&
          e.host.toLowerCase() === body.host.toLowerCase() &&
          e.port === body.port,
      );
    if (!entry) return void res.status(404).json({ error: 'no such registration' });
    deps.registry.remove(entry.id);
    await deps.registry.flush();
    deps.audit.record('server.deregistered', { address: addressOf(req), detail: describeEntry(entry) });
    res.status(204).end();
  };
}

/**
 * Whether the registration secret is accepted; when not, the answer is sent:
 * 429 with Retry-After once the address has used its allowance of wrong
 * secrets (audited once per wait), else 403 (audited each time). A try is
 * counted before the secret is compared, and given back when it was right.
 */
async function secretAccepted(deps: ServersRouteDeps, req: Request, res: Response, secret: string): Promise<boolean> {
  const address = addressOf(req);
  const wait = await deps.throttle.attempt(address);
  if (wait !== null) {
    if (deps.throttle.firstRefusal(address, wait))
      deps.audit.record('registration.throttled', { address, detail: { path: req.path, method: req.method, retryAfterSeconds: wait } });
    res
      .status(429)
      .set('Retry-After', String(wait))
      .json({ error: `too many wrong registration secrets from this address; try again in ${wait} s` });
    return false;
  }
  if (!secretMatches(secret, deps.registration.secret!)) {
    deps.throttle.failed(address);
    deps.audit.record('registration.refused', { address, detail: { path: req.path, method: req.method, reason: 'wrong secret' } });
    res.status(403).json({ error: 'registration secret not accepted', field: 'secret' });
    return false;
  }
  await deps.throttle.succeeded(address);
  return true;
}

/** Refuses (400) an entry at one of the gateway's own ports on one of its own addresses; returns whether it did. */
function refusedOwnEndpoint(deps: ServersRouteDeps, server: { host: string; port: number }, res: Response): boolean {
  const reason = ownEndpointReason(server.host, server.port, deps.ownPorts());
  if (reason === null) return false;
  res.status(400).json({ error: `host: ${reason}`, field: 'host' });
  return true;
}

function addressOf(req: Request): string {
  return normalizeAddress(req.ip);
}

function adminOf(req: Request): string {
  return callerOf(req).user?.id ?? 'admin-token';
}

function describeEntry(entry: { id: string; service: string; host: string; port: number; priority: number }): Record<string, unknown> {
  return { id: entry.id, service: entry.service, host: entry.host, port: entry.port, priority: entry.priority };
}

/** GET /servers: the table with health (server passwords hidden). */
function listServers(deps: ServersRouteDeps): RequestHandler {
  return async (_req, res) => {
    const entries = deps.table.list ? await deps.table.list() : [];
    res.json({
      servers: entries.map((entry) => ({
        ...entry,
        ...(entry.expiresAt === undefined ? {} : { expiresAt: new Date(entry.expiresAt).toISOString() }),
        // Server passwords are never sent back.
        ...(entry.credentials && entry.credentials !== 'none'
          ? { credentials: { username: entry.credentials.username, password: '(hidden)' } }
          : {}),
        health: deps.health.statusOf(entry.service, entry),
      })),
    });
  };
}

/** POST /servers: an admin adds an entry. */
function addServer(deps: ServersRouteDeps): RequestHandler {
  return async (req, res) => {
    const body = parseBody(addSchema, req.body, res);
    if (!body || refusedOwnEndpoint(deps, body, res)) return;
    const { entry, created } = deps.registry.add(body);
    await deps.registry.flush();
    deps.audit.record('server.added', { actor: adminOf(req), address: addressOf(req), detail: describeEntry(entry) });
    res.status(created ? 201 : 200).json(entry);
  };
}

/** DELETE /servers/:id: an admin removes an entry added through the API. */
function removeServer(deps: ServersRouteDeps): RequestHandler {
  return async (req, res) => {
    const id = String(req.params.id);
    if (deps.registry.remove(id)) {
      await deps.registry.flush();
      deps.audit.record('server.removed', { actor: adminOf(req), address: addressOf(req), detail: { id } });
      return void res.status(204).end();
    }
    const entries = deps.table.list ? await deps.table.list() : [];
    const fixed = entries.find((entry) => entry.id === id);
    if (fixed)
      return void res
        .status(409)
        .json({ error: `entry comes from ${fixed.origin === 'file' ? 'the servers file' : 'the options'}; edit it there` });
    res.status(404).json({ error: 'no such server entry' });
  };
}
