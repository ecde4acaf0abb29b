import { z } from 'zod';
import { isValidHost } from './http/target';

/**
 * The JSON bodies peer gateways exchange (all signed, see peer-signature.ts):
 *
 *   POST <mount> + PEER_PATHS.verify   { username, password }
 *     200 { user: { id, attributes }, lease: { token, expiresAt }, services: [...] }
 *     401 { error }  wrong user name or password     403 { error }  not allowed to roam
 *   POST <mount> + PEER_PATHS.refresh  { tokens: [...] }
 *     200 { leases: [{ active, expiresAt? }] }       (in the order of the tokens)
 *   POST <mount> + PEER_PATHS.release  { tokens: [...] }
 *     200 { released }                               (the visitors are gone: end those home leases)
 *
 * Answers are parsed strictly: a peer is trusted with its users, not with
 * the shape of our memory.
 */

/**
 * The paths a visited gateway posts to under its home's mount. They are part
 * of the wire protocol between peers (signed, and spoken by gateways already
 * deployed), so they keep their first names whatever the code calls roaming.
 */
export const PEER_PATHS = { verify: '/federation/verify', refresh: '/federation/refresh', release: '/federation/release' } as const;

/** Most services one answer may list. */
export const MAX_OFFERED_SERVICES = 64;
/** Most servers one offered service may list. */
export const MAX_OFFERED_SERVERS = 16;
/** Most tokens one refresh may name. */
export const MAX_REFRESH_TOKENS = 500;

const service = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/);
const attributeName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);

export const verifyRequestSchema = z.strictObject({
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
});

const offeredServerSchema = z.strictObject({
  host: z.string().refine(isValidHost, 'must be a hostname or an IP address'),
  port: z.int().min(1).max(65535),
  priority: z.int().min(0).max(65535),
  tls: z.strictObject({ mode: z.enum(['starttls', 'implicit']), servername: z.string().refine(isValidHost).optional() }).optional(),
});

export const verifyAnswerSchema = z.strictObject({
  user: z.strictObject({
    id: z.string().min(1).max(320),
    attributes: z
      .record(attributeName, z.string().max(256))
      .refine((attributes) => Object.keys(attributes).length <= 64, 'at most 64 attributes'),
  }),
  lease: z.strictObject({ token: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/), expiresAt: z.int().min(0) }),
  services: z
    .array(
      z.strictObject({
        service,
        own: z.boolean(),
        login: z.literal('none').optional(),
        servers: z.array(offeredServerSchema).min(1).max(MAX_OFFERED_SERVERS).optional(),
      }),
    )
    .max(MAX_OFFERED_SERVICES),
});

export const refusalSchema = z.object({ error: z.string().max(500) });

export const refreshRequestSchema = z.strictObject({ tokens: z.array(z.string().min(1).max(128)).max(MAX_REFRESH_TOKENS) });

export const releaseAnswerSchema = z.strictObject({ released: z.int().min(0).max(MAX_REFRESH_TOKENS) });

export const refreshAnswerSchema = z.strictObject({
  leases: z.array(z.strictObject({ active: z.boolean(), expiresAt: z.int().min(0).optional() })).max(MAX_REFRESH_TOKENS),
});

export type VerifyRequest = z.output<typeof verifyRequestSchema>;
export type VerifyAnswer = z.output<typeof verifyAnswerSchema>;
export type RefreshRequest = z.output<typeof refreshRequestSchema>;
export type RefreshAnswer = z.output<typeof refreshAnswerSchema>;

/** Parses a JSON body against a schema; null when it is not JSON or does not fit. */
export function parseMessage<T>(schema: z.ZodType<T>, text: string): T | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
