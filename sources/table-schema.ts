import { z } from 'zod';
import { isValidHost } from '../protocols/http/target';
import { DEFAULT_PRIORITY } from './server-info-source';

/** Schema of one server in a table (options, file, API). */
export const serverSchema = z.strictObject({
  host: z.string().refine(isValidHost, 'must be a hostname or an IP address'),
  port: z.int().min(1).max(65535),
  priority: z.int().min(0).max(65535).default(DEFAULT_PRIORITY),
});

/** Schema of a service name: lower-case letters, digits and dashes. */
export const serviceNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be lower-case letters, digits and dashes (at most 32)');

/** Schema of a whole server table: service -> servers. */
export const serverTableSchema = z.record(serviceNameSchema, z.array(serverSchema));

/** Formats the first zod issue as `path: message` so the user sees which field is wrong. */
export function describeZodError(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  const path = [prefix, issuePath(issue)].filter(Boolean).join('.');
  return `${path || '(root)'}: ${issue.message}`;
}

/** The dotted path of a zod issue; for an unknown key, the path of that key. */
export function issuePath(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
  return path.join('.');
}
