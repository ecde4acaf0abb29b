import { z } from 'zod';
import { forbiddenAddressReason } from '../protocols/http/address-class';
import { canonicalHost, canonicalIp } from '../protocols/http/ip-address';
import { isValidHost } from '../protocols/http/target';
import { DEFAULT_PRIORITY } from './server-info-source';
import { SUBJECT_PATTERN } from './subject';

/**
 * Why `host` can never be a server, by the web proxy's address rules, or null
 * when it may be: every numeric spelling is read as its one address first
 * (`0xA9FEA9FE`, `::ffff:169.254.169.254`), then link-local, unspecified,
 * multicast and IPv4-compatible addresses are refused; a name that ends in a
 * number without being an address is refused too. Loopback and private
 * addresses are fine (internal servers are the point); the gateway's own
 * ports on them are refused where those ports are known.
 */
export function serverHostProblem(host: string): string | null {
  if (!isValidHost(host) || canonicalHost(host) === null) return 'must be a hostname or an IP address';
  const address = canonicalIp(host);
  const forbidden = address === null ? null : forbiddenAddressReason(address);
  if (forbidden === null) return null;
  return `${host}${address === host ? '' : ` (${address})`} is refused as a server: ${forbidden}`;
}

/** Schema of a server's host: a name or an IP address the address rules allow (serverHostProblem). */
const hostSchema = z.string().superRefine((host, context) => {
  const problem = serverHostProblem(host);
  if (problem !== null) context.addIssue({ code: 'custom', message: problem });
});

/** Schema of a server's address and priority (what self-registration may set). */
export const serverAddressSchema = z.strictObject({
  host: hostSchema,
  port: z.int().min(1).max(65535),
  priority: z.int().min(0).max(65535).default(DEFAULT_PRIORITY),
});

/** Schema of one server in a table (options, file, admin API). */
export const serverSchema = serverAddressSchema.extend({
  for: z.string().regex(SUBJECT_PATTERN, 'must be user:<id>, <attribute>=<value>, authenticated or anonymous').optional(),
  tls: z
    .strictObject({
      mode: z.enum(['starttls', 'implicit']),
      ca: z.string().min(1).optional(),
      servername: z.string().refine(isValidHost, 'must be a hostname').optional(),
    })
    .optional(),
  credentials: z
    .union([z.literal('none'), z.strictObject({ username: z.string().min(1).max(256), password: z.string().min(1).max(1024) })])
    .optional(),
});

/** Schema of a service name: lower-case letters, digits and dashes. */
export const serviceNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be lower-case letters, digits and dashes (at most 32)');

/** Schema of a whole server table: service -> servers. */
export const serverTableSchema = z.record(serviceNameSchema, z.array(serverSchema));

/** Formats the first zod issue as `path: message` so the user sees which field is wrong. */
export function describeZodError(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  const path = [prefix, issuePath(issue)].filter(Boolean).join('.');
  return `${path || '(root)'}: ${issue.message}`;
}

/** Every issue of a zod error, each as `path: message` (what `roamgate check` lists). */
export function describeZodIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((issue) => `${[prefix, issuePath(issue)].filter(Boolean).join('.') || '(root)'}: ${issue.message}`);
}

/** The dotted path of a zod issue; for an unknown key, the path of that key. */
export function issuePath(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
  return path.join('.');
}
