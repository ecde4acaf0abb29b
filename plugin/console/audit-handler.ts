import type { RequestHandler } from 'express';
import type { AuditEvent } from '../../store/store';
import { auditQuerySchema } from '../routes/audit-route';
import { AUDIT_PAGE_SIZE, auditBody, type AuditFilters } from './audit-page';
import { type ConsoleDeps, contextOf, handle, sendPage } from './console-context';

/** The audit page: the query's filters (empty fields ignored), one page of matching events, newest first. */
export function auditPage(deps: ConsoleDeps): RequestHandler {
  return handle(async (req, res) => {
    const filters: AuditFilters = {};
    const query: Record<string, string> = {};
    for (const key of ['type', 'actor', 'since', 'until', 'beforeId'] as const) {
      const value = req.query[key];
      if (typeof value !== 'string' || value.trim() === '') continue;
      query[key] = value.trim();
      if (key !== 'beforeId') filters[key] = value.trim();
    }
    const parsed = auditQuerySchema.safeParse(query);
    let events: AuditEvent[] = [];
    let error: string | undefined;
    if (parsed.success) events = await deps.audit.list({ ...parsed.data, limit: AUDIT_PAGE_SIZE });
    else error = `${String(parsed.error.issues[0].path[0])}: ${parsed.error.issues[0].message}`;
    const context = await contextOf(deps, req, res);
    sendPage(res, context, 'audit', auditBody(context, filters, events, error), undefined, error ? 400 : 200);
  });
}
