import type { Identity } from './identity';

/** The access decision for one connection. */
export interface AccessDecision {
  allow: boolean;
  reason: string;
  /** The rule that decided, for the record; absent when the default decided. */
  rule?: string;
}

/**
 * Decides whether an identity may use a service. The gateway's default is the
 * access table (options, plus rules added through the API); anyone it does not
 * name is denied.
 * @example
 * const policy: AccessPolicy = { decide: (who, service) => ({ allow: who.kind === 'user', reason: 'members only' }) };
 */
export interface AccessPolicy {
  decide(identity: Identity, service: string): AccessDecision;
}
