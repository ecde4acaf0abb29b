import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { HealthMonitor } from '../../sources/health-monitor';
import { MAX_REGISTRATION_TTL_SECONDS, type RegistrySource } from '../../sources/registry-source';
import type { ServerInfoSource } from '../../sources/server-info-source';
import { serverAddressSchema, serviceNameSchema } from '../../sources/table-schema';
import { requireAdmin } from '../request-auth';
import { parseBody } from '../api-errors';
import type { NormalizedOptions } from '../options';
import { secretMatches } from '../secret-compare';

export interface ServersRouteDeps {
  /** The options' `registration` section: the secret (none: registration disabled), the TTL a registration gets when it names none, the services a server may register itself for, the most registered entries at once. */
  registration: NormalizedOptions['registration'];
  table: ServerInfoSource;
  registry: RegistrySource;
  health: HealthMonitor;
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
    if (!body) return;
    if (!secretMatches(body.secret, registration.secret))
      return void res.status(403).json({ error: 'registration secret not accepted', field: 'secret' });
    if (!registration.services.includes(body.service)) {
      return void res.status(403).json({
        error: `servers may not register themselves for ${body.service} here (registration.services: ${registration.services.join(', ') || 'none'})`,
        field: 'service',
      });
    }
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
    if (!body) return;
    if (!secretMatches(body.secret, registration.secret))
      return void res.status(403).json({ error: 'registration secret not accepted', field: 'secret' });
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
    res.status(204).end();
  };
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
    if (!body) return;
    const { entry, created } = deps.registry.add(body);
    await deps.registry.flush();
    res.status(created ? 201 : 200).json(entry);
  };
}

/** DELETE /servers/:id: an admin removes an entry added through the API. */
function removeServer(deps: ServersRouteDeps): RequestHandler {
  return async (req, res) => {
    const id = String(req.params.id);
    if (deps.registry.remove(id)) {
      await deps.registry.flush();
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
