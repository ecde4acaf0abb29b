/**
 * The gateway's tunnel endpoint is an HTTP CONNECT that names a service, not
 * an address: `CONNECT smtp.roamgate:1 HTTP/1.1`. The `.roamgate` name cannot
 * be a real host (it is not a top-level domain), and the port is a constant.
 */
export const TUNNEL_SUFFIX = '.roamgate:1';

/** The service a tunnel request names, or null when the target is not a tunnel target. */
export function parseTunnelTarget(target: string | undefined): string | null {
  if (!target?.endsWith(TUNNEL_SUFFIX)) return null;
  const service = target.slice(0, -TUNNEL_SUFFIX.length);
  return /^[a-z0-9][a-z0-9-]{0,31}$/.test(service) ? service : null;
}

/** The CONNECT target for a service. */
export function tunnelTarget(service: string): string {
  return `${service}${TUNNEL_SUFFIX}`;
}

/** The lease token of `Proxy-Authorization: Bearer <token>`, or null. */
export function parseBearer(header: string | undefined): string | null {
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)[ ]*$/i.exec(header ?? '');
  return match && match[1].length <= 512 ? match[1] : null;
}
