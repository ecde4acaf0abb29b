import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import { issuePath } from '../sources/table-schema';

/** Sends `400 { error, field }` for the first problem zod found in a request body. */
export function sendValidationError(res: Response, error: z.ZodError): void {
  const issue = error.issues[0];
  const field = issuePath(issue) || '(body)';
  res.status(400).json({ error: `${field}: ${issue.message}`, field });
}

/** Parses a body with a schema; on failure answers 400 and returns undefined. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown, res: Response): z.output<T> | undefined {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  sendValidationError(res, parsed.error);
  return undefined;
}

/** The management API's last error handler: JSON errors, no stack traces to clients. */
export function apiErrorHandler(log: (error: unknown) => void): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') return void res.status(413).json({ error: 'request body too large' });
    if (type === 'entity.parse.failed') return void res.status(400).json({ error: 'request body is not valid JSON', field: '(body)' });
    if (type === 'encoding.unsupported' || type === 'charset.unsupported')
      return void res.status(415).json({ error: 'unsupported body encoding' });
    log(error);
    res.status(500).json({ error: 'internal error' });
  };
}
