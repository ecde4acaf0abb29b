/** The protocols roamgate speaks. A service name in the server-info table may be any string; these have adapters. */
export const KNOWN_SERVICES = ['smtp', 'pop3', 'imap', 'nntp', 'http-proxy'] as const;
export type KnownService = (typeof KNOWN_SERVICES)[number];

export function isKnownService(name: string): name is KnownService {
  return (KNOWN_SERVICES as readonly string[]).includes(name);
}

/** A service name: what the server-info table, the access table, `adapters.tcp.<name>` and the tunnel endpoint call a service. */
export const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Whether `name` is taken by a built-in adapter, or by the key of one's
 * implicit-TLS port (`smtp-tls`): a generic TCP adapter may not be called so.
 */
export function isBuiltInAdapterName(name: string): boolean {
  return isKnownService(name) || (name.endsWith('-tls') && isKnownService(name.slice(0, -'-tls'.length)));
}
