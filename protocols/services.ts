/** The protocols roamgate speaks. A service name in the server-info table may be any string; these have adapters. */
export const KNOWN_SERVICES = ['smtp', 'pop3', 'nntp', 'http-proxy'] as const;
export type KnownService = (typeof KNOWN_SERVICES)[number];

export function isKnownService(name: string): name is KnownService {
  return (KNOWN_SERVICES as readonly string[]).includes(name);
}
