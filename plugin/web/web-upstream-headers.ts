/**
 * What `gw.web` tells an upstream about the request, and what it keeps from it: the identity headers it sets
 * (after removing every `X-Roamgate-*` the client sent, so none can be forged), and roamgate's own credentials
 * (its cookies, a lease token as bearer), which the upstream never sees. Pure: it works on anything with
 * Node's outgoing-header methods (a `ClientRequest`, or a test's map).
 */
import { ASSERTION_LIFETIME_MS, signAssertion } from './web-assertion';

/** The user id (characters other than printable ASCII, and `%`, percent-encoded as UTF-8); absent for an anonymous client. */
export const USER_HEADER = 'X-Roamgate-User';
/** The user's attributes, `k=v&k=v` (each side `encodeURIComponent`d), sorted by key; absent for an anonymous client. */
export const ATTRIBUTES_HEADER = 'X-Roamgate-Attributes';
/** The signed assertion (plugin/web-assertion.ts), when the gateway has `web.assertionSecret`. */
export const ASSERTION_HEADER = 'X-Roamgate-Assertion';
/** Every header whose name starts with this (any case) is the gateway's to set, never the client's. */
export const RESERVED_HEADER_PREFIX = 'x-roamgate-';

/** The outgoing-header methods of `http.ClientRequest` (and `OutgoingMessage`) used here. */
export interface OutgoingHeaders {
  getHeaderNames(): string[];
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string): unknown;
  removeHeader(name: string): void;
}

/** What a route tells every upstream request, built once per route. */
export interface UpstreamRoute {
  /** The assertion's audience: the service. */
  service: string;
  /** Signs an assertion when set. */
  assertionSecret?: string;
  /** The cookie names that are roamgate's own (`roamgate.lease`, `roamgate.sid`). */
  ownCookies: ReadonlySet<string>;
}

/** A user as the upstream hears of them (an anonymous client has none). */
export interface UpstreamUser {
  id: string;
  attributes: Readonly<Record<string, string>>;
}

/** What `encodeURIComponent` leaves alone. */
const URI_COMPONENT_SAFE = /^[A-Za-z0-9\-_.!~*'()]*$/;
/** Printable ASCII but `%`: what a user id may carry as it is. */
const USER_ID_SAFE = /^[\x21-\x24\x26-\x7e]*$/;

/**
 * `text` with every character that `safe` (a one-character test) rejects percent-encoded as UTF-8: for the
 * characters `encodeURIComponent` escapes the same result, but a lone surrogate becomes U+FFFD instead of a throw,
 * so no user id or attribute can make a header unsendable.
 */
function percentEncode(text: string, safe: RegExp): string {
  if (safe.test(text)) return text;
  let out = '';
  for (const char of text) {
    if (safe.test(char)) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `k=v&k=v`, keys and values encoded as by `encodeURIComponent`, sorted by key (code unit order, not locale). */
export function formatAttributes(attributes: Readonly<Record<string, string>>): string {
  return Object.keys(attributes)
    .sort()
    .map((key) => `${percentEncode(key, URI_COMPONENT_SAFE)}=${percentEncode(attributes[key], URI_COMPONENT_SAFE)}`)
    .join('&');
}

/** A user id as the user header carries it: as it is when it is printable ASCII without `%`, else percent-encoded. */
export function formatUserId(id: string): string {
  return percentEncode(id, USER_ID_SAFE);
}

/** A Cookie header without the cookies named in `names`; undefined when nothing is left. */
export function withoutCookies(header: string, names: ReadonlySet<string>): string | undefined {
  const kept = header.split(';').filter((part) => {
    const at = part.indexOf('=');
    const name = (at < 0 ? part : part.slice(0, at)).trim();
    return name !== '' && !names.has(name);
  });
  return kept.length === 0 ? undefined : kept.map((part) => part.trim()).join('; ');
}

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return match?.[1];
}

/**
 * Removes what the client may not send upstream: every X-Roamgate-* header, roamgate's own cookies, and an
 * `Authorization: Bearer` header when `bearerIsLease` (it was the lease token that identified the request).
 */
export function removeClientCredentials(headers: OutgoingHeaders, ownCookies: ReadonlySet<string>, bearerIsLease: boolean): void {
  for (const name of headers.getHeaderNames()) {
    if (
      name.length >= RESERVED_HEADER_PREFIX.length &&
      name.slice(0, RESERVED_HEADER_PREFIX.length).toLowerCase() === RESERVED_HEADER_PREFIX
    )
      headers.removeHeader(name);
  }
  const cookie = headers.getHeader('cookie');
  if (cookie !== undefined) {
    const kept = withoutCookies(Array.isArray(cookie) ? cookie.join('; ') : String(cookie), ownCookies);
    if (kept === undefined) headers.removeHeader('cookie');
    else headers.setHeader('cookie', kept);
  }
  if (bearerIsLease && bearerToken(headers.getHeader('authorization')) !== undefined) headers.removeHeader('authorization');
}

/**
 * Sets the identity headers (and the assertion, when the route signs, valid ASSERTION_LIFETIME_MS from `now`)
 * after removing what the client sent.
 */
export function setUpstreamHeaders(
  headers: OutgoingHeaders,
  route: UpstreamRoute,
  user: UpstreamUser | undefined,
  bearerIsLease: boolean,
  now: number = Date.now(),
): void {
  removeClientCredentials(headers, route.ownCookies, bearerIsLease);
  if (user) {
    headers.setHeader(USER_HEADER, formatUserId(user.id));
    headers.setHeader(ATTRIBUTES_HEADER, formatAttributes(user.attributes));
  }
  if (route.assertionSecret !== undefined) {
    const assertion = {
      ...(user ? { user: user.id } : {}),
      attributes: { ...(user?.attributes ?? {}) },
      audience: route.service,
      expiresAt: now + ASSERTION_LIFETIME_MS,
    };
    headers.setHeader(ASSERTION_HEADER, signAssertion(assertion, route.assertionSecret));
  }
}
