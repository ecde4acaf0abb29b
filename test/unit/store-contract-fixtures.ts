import { isRoamgateError, type RoamgateErrorCode } from '../../errors';
import type { LeaseRecord, RegistrationRecord, RuleRecord, Store, UserRecord } from '../../store/store';

/** What the contract's parts share: the store of the test running, and a way to say the test closed it itself. */
export interface ContractContext {
  store(): Store;
  /** A fresh store of its own, for a test that needs more than one. */
  open(): Promise<Store>;
  markClosed(): void;
}

/** Asserts that `promise` rejects with a RoamgateError with this code. */
export async function expectRoamgateError(promise: Promise<unknown>, code: RoamgateErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isRoamgateError(error)).toBe(true);
  expect(isRoamgateError(error) && error.code).toBe(code);
}

export const T = 1_700_000_000_000;

export const alice: UserRecord = {
  id: 'alice',
  passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
  attributes: { department: 'sales', realm: 'home.example' },
  disabled: false,
  createdAt: T,
  updatedAt: T,
};

export function lease(id: string, fields: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    id,
    tokenHash: `hash-of-${id}`,
    userId: 'alice',
    attributes: { department: 'sales' },
    address: '192.0.2.7',
    issuedAt: T,
    expiresAt: T + 60_000,
    ...fields,
  };
}

export function rule(id: string, fields: Partial<RuleRecord> = {}): RuleRecord {
  return { id, subject: 'department=sales', service: 'smtp', allow: true, createdAt: T, updatedAt: T, ...fields };
}

export function registration(id: string, fields: Partial<RegistrationRecord> = {}): RegistrationRecord {
  return { id, origin: 'admin', service: 'smtp', host: 'mx.example.org', port: 25, priority: 10, ...fields };
}

export const byId = <R extends { id: string }>(records: R[]): R[] => [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
