/**
 * Stable error codes. Callers branch on `code`, never on message text.
 * Each protocol maps these codes to its own wire reply in one place
 * (`protocols/<protocol>/replies.ts`).
 */
export type RoamgateErrorCode =
  | 'ROAMGATE_INVALID_OPTIONS'
  | 'ROAMGATE_ACCESS_DENIED'
  | 'ROAMGATE_LOGIN_REQUIRED'
  /** Credentials were checked and refused: wrong password, unknown realm, a home that said no. */
  | 'ROAMGATE_LOGIN_FAILED'
  | 'ROAMGATE_NO_SERVER'
  | 'ROAMGATE_UPSTREAM_REFUSED'
  | 'ROAMGATE_UPSTREAM_TIMEOUT'
  | 'ROAMGATE_DESTINATION_REFUSED'
  | 'ROAMGATE_TOO_MANY_CLIENTS'
  | 'ROAMGATE_IDLE_TIMEOUT'
  | 'ROAMGATE_SHUTTING_DOWN'
  | 'ROAMGATE_BAD_REQUEST'
  | 'ROAMGATE_SOURCE_FAILED'
  /** The local proxy's gateway refuses its logins for now, after too many failed ones. */
  | 'ROAMGATE_LOGIN_THROTTLED'
  /** The local proxy found no gateway to use: none answered discovery, or none with a key it trusts. */
  | 'ROAMGATE_NO_GATEWAY'
  /** The local proxy cannot reach its gateway (any more): its management API or tunnel endpoint does not answer. */
  | 'ROAMGATE_GATEWAY_LOST'
  /** A port the local proxy is to listen on is in use by another program. */
  | 'ROAMGATE_PORT_IN_USE';

/**
 * The one error base of roamgate.
 * @example
 * try { roamgate(opts) } catch (e) { if (isRoamgateError(e) && e.code === 'ROAMGATE_INVALID_OPTIONS') ... }
 */
export class RoamgateError extends Error {
  readonly code: RoamgateErrorCode;
  constructor(code: RoamgateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RoamgateError';
    this.code = code;
  }
}

/** Type guard for {@link RoamgateError}. */
export function isRoamgateError(value: unknown): value is RoamgateError {
  return value instanceof RoamgateError;
}
