import type { RequestHandler } from 'express';
import { secretMatches } from './secret-compare';

/**
 * Lets a request through only with `Authorization: Bearer <admin token>`.
 * Without a configured token every admin route answers 403, saying so.
 */
export function requireAdmin(adminToken: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (adminToken === undefined) return void res.status(403).json({ error: 'admin API disabled: no adminToken configured' });
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (!match) return void res.status(401).set('WWW-Authenticate', 'Bearer realm="roamgate"').json({ error: 'admin token required (Authorization: Bearer <token>)' });
    if (!secretMatches(match[1], adminToken)) return void res.status(403).json({ error: 'admin token not accepted' });
    next();
  };
}
